"""The benchmark's stand-in for autovacuum keeps the daemon's pace (bench/autovacuum.py)."""

from bench.autovacuum import is_due_again

NAPTIME = 60.0


def test_a_table_never_processed_is_processed_at_once():
    assert is_due_again(False, None, now=5.0, naptime=NAPTIME)


def test_a_grown_table_waits_a_naptime_after_its_last_processing():
    assert not is_due_again(False, 100.0, now=159.9, naptime=NAPTIME)
    assert is_due_again(False, 100.0, now=160.0, naptime=NAPTIME)


def test_a_young_table_is_processed_whenever_due():
    assert is_due_again(True, 100.0, now=101.0, naptime=NAPTIME)
