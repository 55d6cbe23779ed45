"""The cluster tests use the dispatcher tests' real receiver."""

from tests.dispatcher.conftest import receiver  # noqa: F401  (a fixture)
