import asyncpg

from services.dispatcher.refusals import database_away, refusal_reason


def test_a_database_that_is_away_is_waited_out():
    for exc in (
        OSError("connection refused"),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.SerializationError("could not serialize access"),
    ):
        assert database_away(exc), exc


def test_a_refusal_of_the_data_is_not():
    for exc in (
        asyncpg.CharacterNotInRepertoireError('invalid byte sequence for encoding "UTF8": 0x00'),
        asyncpg.DataError("invalid input for query argument $6: ['x'] (surrogates not allowed)"),
        asyncpg.CheckViolationError('new row violates check constraint "no"'),
        asyncpg.RaiseError("refused by a trigger"),
        asyncpg.ProgramLimitExceededError("index row size exceeds maximum"),
        TypeError("a bug building the batch"),
    ):
        assert not database_away(exc), exc


def test_the_reason_names_the_refusal_not_the_values():
    exc = asyncpg.DataError(
        "invalid input for query argument $5: ['http://a/?token=s3cret', 'x\ud800'] "
        "('utf-8' codec can't encode character '\\ud800' in position 1: surrogates not allowed)"
    )
    reason = refusal_reason(exc)
    assert "s3cret" not in reason
    assert reason.startswith("DataError: invalid input for query argument $5 ('utf-8' codec")


def test_the_reason_is_storable_and_short():
    reason = refusal_reason(asyncpg.RaiseError("no \x00 here " + "x" * 1000))
    assert "\x00" not in reason and len(reason) <= 300
    assert refusal_reason(RuntimeError()) == "RuntimeError"
