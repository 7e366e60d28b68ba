"""A log never runs code: reading a hostile run.json imports and calls nothing it names (issue 11.1).

The reproduction: a run.json naming ``os:chmod`` as a FunctionSchedule. Rebuilt,
it would be called as ``chmod(step, total_steps)``: at step 0, ``chmod(0, 0o777)``
on file descriptor 0, the command's stdin, here a file made mode 600.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

import paramsched as ps

EVIL_META = {
    "format": "paramsched.run/1",
    "total_steps": 511,
    "schedules": {"lr": {"type": "FunctionSchedule", "fn": "os:chmod"}},
    "groups": [],
    "series": ["hp/lr/g0"],
}


@pytest.fixture
def evil(tmp_path):
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "values.csv").write_text("step,hp/lr/g0\n0,0.001\n")
    (folder / "run.json").write_text(json.dumps(EVIL_META))
    victim = tmp_path / "victim"
    victim.write_text("")
    victim.chmod(0o600)
    return folder, victim


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize(
    "command",
    [
        ["compare", "{evil}", "-o", "{tmp}/e.html"],
        ["diff", "{evil}", "{evil}"],
        ["export", "{evil}", "-o", "{tmp}/copy"],
    ],
)
def test_the_cli_reads_a_hostile_log_without_running_it(evil, tmp_path, command):
    folder, victim = evil
    args = [part.format(evil=folder, tmp=tmp_path) for part in command]
    with open(victim) as stdin:
        out = subprocess.run([sys.executable, "-m", "paramsched", *args], stdin=stdin,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _mode(victim) == 0o600
    assert "Traceback" not in out.stderr
    if command[0] == "compare":
        assert "unavailable (function schedule 'os:chmod'; pass trust_functions=True to rebuild)" in out.stderr


def test_the_python_api_reads_a_hostile_log_without_running_it(evil, tmp_path, monkeypatch):
    folder, victim = evil
    fd = os.open(victim, os.O_RDONLY)
    saved = os.dup(0)
    os.dup2(fd, 0)  # what os.chmod(0, ...) would change
    try:
        traj = ps.replay.load(folder)
        rebuilt = ps.replay.rebuild(traj)
        assert rebuilt.unavailable == {"hp/lr/g0": "function schedule 'os:chmod'; pass trust_functions=True to rebuild"}
        assert not rebuilt.ok and "hp/lr/g0: unavailable (function schedule 'os:chmod'" in rebuilt.report()
        with pytest.raises(ValueError, match="cannot schedule like the original run"):
            rebuilt.scheduler_kwargs()
        ps.dashboard.compare([folder], tmp_path / "page.html")
        ps.replay.diff(traj, traj)
        traj.to_csv(tmp_path / "copy")
        assert _mode(victim) == 0o600
        # an allow-list that does not name it changes nothing; trusting it is the caller's explicit choice
        assert ps.replay.rebuild(traj, trust_functions=["math:sqrt"]).unavailable
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(fd)


def test_a_spec_the_user_wrote_still_rebuilds_functions():
    schedule = ps.schedule_from_spec({"type": "FunctionSchedule", "fn": "operator:truediv"})
    assert schedule(1, 4) == 0.25
