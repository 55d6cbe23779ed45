"""The benchmark pauses the local broker's epmd monitor while it measures and starts it
again after (bench/epmd_monitor.py): against a stand-in ``rabbitmqctl`` that records what
it was asked, for the cases a real broker cannot be made to show, then against the real one."""

import os
import subprocess
import sys

import pytest

from bench.epmd_monitor import epmd_monitor_paused

FAKE_CTL = """\
#!{python}
import os, sys
expression = sys.argv[-1]
with open(os.environ["FAKE_CTL_LOG"], "a") as log:
    log.write(expression.split("(")[0] + "\\n")
print("warning: the VM is running with native name encoding of latin1")  # noise comes first
if expression.startswith("whereis"):
    print("<12308.555.0>" if os.environ.get("FAKE_MONITOR") != "stopped" else "undefined")
elif expression.startswith("supervisor:terminate_child"):
    print("ok")
elif os.environ.get("FAKE_RESTART") == "fail":
    print("Error: unable to perform an operation on node 'rabbit@localhost'", file=sys.stderr)
    sys.exit(69)
else:
    print("{{ok,<12308.24401.0>}}")
"""


@pytest.fixture
def ctl_log(tmp_path, monkeypatch):
    script = tmp_path / "rabbitmqctl"
    script.write_text(FAKE_CTL.format(python=sys.executable))
    script.chmod(0o755)
    log = tmp_path / "asked.txt"
    log.touch()
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CTL_LOG", str(log))
    return log


def asked(log) -> list[str]:
    return log.read_text().split()


def test_a_running_monitor_is_stopped_for_the_block_and_started_after(ctl_log):
    with epmd_monitor_paused() as note:
        assert asked(ctl_log) == ["whereis", "supervisor:terminate_child"]
        assert note == "RabbitMQ's epmd monitor paused for the run (bench/epmd_monitor.py)"
    assert asked(ctl_log) == ["whereis", "supervisor:terminate_child", "supervisor:restart_child"]


def test_a_monitor_found_stopped_is_left_to_whoever_stopped_it(ctl_log, monkeypatch):
    monkeypatch.setenv("FAKE_MONITOR", "stopped")
    with epmd_monitor_paused() as note:
        assert note == "RabbitMQ's epmd monitor not paused (not running)"
    assert asked(ctl_log) == ["whereis"]


def test_a_nested_run_leaves_the_pause_to_the_outer_one(ctl_log):
    with epmd_monitor_paused(), epmd_monitor_paused() as inner:
        assert inner == "RabbitMQ's epmd monitor paused by the enclosing run"
    assert asked(ctl_log) == ["whereis", "supervisor:terminate_child", "supervisor:restart_child"]


def test_a_failed_restart_is_reported_and_the_benchmarks_own_error_kept(ctl_log, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_RESTART", "fail")
    with pytest.raises(RuntimeError, match="a benchmark phase failed"), epmd_monitor_paused():
        raise RuntimeError("a benchmark phase failed")
    warning = capsys.readouterr().err
    assert "was not started again (Error: unable to perform an operation" in warning
    assert "rabbitmqctl eval 'supervisor:restart_child(rabbit_sup, rabbit_epmd_monitor_sup).'" in warning


def test_without_rabbitmqctl_nothing_is_paused(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with epmd_monitor_paused() as note:
        assert note.startswith("RabbitMQ's epmd monitor not paused (FileNotFoundError")


def broker_monitor() -> str:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "eval", "whereis(rabbit_epmd_monitor)."],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_real_brokers_monitor_is_stopped_inside_and_running_again_after_a_failure():
    assert broker_monitor().startswith("<")
    with pytest.raises(RuntimeError), epmd_monitor_paused() as note:
        assert "paused for the run" in note
        assert broker_monitor() == "undefined"
        raise RuntimeError("a benchmark phase failed")
    assert broker_monitor().startswith("<")
