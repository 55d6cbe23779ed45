"""The bench reads a receiver's arrival log while the receiver appends to it
(bench/receiver.py ``written_lines``)."""

from bench.delivery import _read_arrivals
from bench.receiver import written_lines


def test_a_line_still_being_written_waits_for_the_next_read(tmp_path):
    log = tmp_path / "arrivals.txt"
    log.write_text("msg_1/hook/0 1796423100.250000\nmsg_2/hook/0 17964")
    assert written_lines(log) == ["msg_1/hook/0 1796423100.250000"]
    assert _read_arrivals(log) == {"msg_1/hook/0": 1796423100.25}

    with log.open("a") as out:
        out.write("23100.500000\n")
    assert _read_arrivals(log) == {"msg_1/hook/0": 1796423100.25, "msg_2/hook/0": 1796423100.5}


def test_no_log_yet_and_an_empty_one_have_no_lines(tmp_path):
    log = tmp_path / "stamps.txt"
    assert written_lines(log) == []
    log.write_text("")
    assert written_lines(log) == []
    log.write_text("1796423100.1")  # nginx's first stamp, its newline not yet written
    assert written_lines(log) == []
