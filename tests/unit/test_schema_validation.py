"""The pure core of event-type schemas: newest version, JSON pointers, compile once,
and the OpenAPI import's conversion."""

import pytest

from services.ingest.openapi_import import InvalidSpec, event_types_of, parse_spec
from services.ingest.schema_validation import (
    InvalidSchema,
    ValidatorCache,
    check_schemas,
    json_pointer,
    newest_version,
)


def test_newest_version_is_the_highest_number_not_the_last_text():
    assert newest_version({"9": "a", "10": "b", "2": "c"}) == ("10", "b")
    assert newest_version(None) is None and newest_version({}) is None


def test_json_pointer_escapes_tilde_and_slash():
    assert json_pointer(("a/b", "c~d", "0")) == "/a~1b/c~0d/0"
    assert json_pointer(()) == ""


def test_first_violation_names_the_pointer_of_the_failing_field():
    enforced = ValidatorCache().rebuild(
        [
            (
                "t",
                {
                    "1": {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": {"type": "integer"}}},
                    }
                },
            )
        ]
    )
    violation = enforced["t"].first_violation({"items": [1, "two"]})
    assert violation is not None and violation.pointer == "/items/1" and violation.path == ("items", "1")
    assert enforced["t"].first_violation({"items": [1, 2]}) is None


def test_the_message_does_not_echo_a_huge_value():
    enforced = ValidatorCache().rebuild([("t", {"1": {"properties": {"s": {"maxLength": 3}}}})])
    violation = enforced["t"].first_violation({"s": "x" * 100_000})
    assert violation is not None and violation.pointer == "/s" and len(violation.message) <= 300


def test_an_unchanged_schema_is_not_compiled_again_and_unused_ones_are_dropped():
    cache = ValidatorCache()
    schema = {"type": "object", "required": ["a"]}
    first = cache.rebuild([("t", {"1": schema})])["t"].validator
    # The same schema, keys in another order, under another event type
    again = cache.rebuild([("u", {"1": {"required": ["a"], "type": "object"}})])["u"].validator
    assert again is first and cache.compiled_count == 1
    cache.rebuild([])
    assert cache.compiled_count == 0


def test_types_without_a_usable_schema_are_not_enforced():
    enforced = ValidatorCache().rebuild([("none", None), ("broken", {"1": {"type": "nope"}})])
    assert enforced == {}


def test_check_schemas_names_the_version_that_does_not_compile():
    check_schemas({"1": {"type": "object"}, "2": True})
    with pytest.raises(InvalidSchema, match=r"^schemas\.2: "):
        check_schemas({"1": {"type": "object"}, "2": {"type": 5}})


def test_parse_spec_wants_exactly_one_form():
    with pytest.raises(InvalidSpec):
        parse_spec(None, None)
    with pytest.raises(InvalidSpec):
        parse_spec({}, "{}")
    assert parse_spec(None, "openapi: 3.1.0\nwebhooks: {}\n") == {"openapi": "3.1.0", "webhooks": {}}


def test_recursive_component_refs_stay_refs_under_defs():
    spec = {
        "webhooks": {
            "tree.changed": {
                "post": {
                    "summary": "A tree",
                    "x-svix-group-name": "trees",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Node"},
                                "examples": {"leaf": {"value": {"children": []}}},
                            }
                        }
                    },
                }
            },
            "no.post": {"get": {}},
        },
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                    },
                }
            }
        },
    }
    (tree,) = event_types_of(spec)
    assert tree.name == "tree.changed" and tree.description == "A tree" and tree.group_name == "trees"
    schema = tree.schemas["1"]
    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert schema["examples"] == [{"children": []}]
    enforced = ValidatorCache().rebuild([("t", tree.schemas)])
    assert enforced["t"].first_violation({"children": [{"children": 3}]}).pointer == "/children/0/children"


def test_a_ref_to_a_missing_component_is_refused():
    spec = {
        "webhooks": {
            "x": {
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}
                    }
                }
            }
        }
    }
    with pytest.raises(InvalidSpec, match="Gone"):
        event_types_of(spec)


def test_a_remote_ref_is_never_fetched():
    with pytest.raises(InvalidSchema, match="not fetched"):
        check_schemas({"1": {"$ref": "http://169.254.169.254/latest/meta-data"}})
    check_schemas({"1": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}})
    check_schemas({"1": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}})


@pytest.mark.parametrize(
    "spec",
    [
        {"webhooks": ["not", "an", "object"]},
        {"webhooks": {"a": {"post": {"requestBody": {"content": []}}}}},
        {
            "webhooks": {
                "a": {
                    "post": {
                        "requestBody": {
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "examples": 5},
                                    "examples": [1],
                                }
                            }
                        }
                    }
                }
            }
        },
        {"webhooks": {1: {"post": {}}, "b": {"post": {}}}},
        {"webhooks": {"a": "post"}, "components": []},
    ],
)
def test_a_document_of_the_wrong_shape_imports_what_it_can(spec):
    assert all(et.name for et in event_types_of(spec))
