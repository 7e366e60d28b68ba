"""`paramsched spool send` for a W&B spool: what the recorder could not deliver reaches the run,
and the run then replays every step once, exactly (real wandb SDK, offline)."""

from __future__ import annotations

import warnings

import pytest

from paramsched.cli import main
from paramsched.events import make_event
from paramsched.recording import read_spool
from paramsched_wandb import WandbRecorder, WandbSource

N = 30


def _spooled_after_the_run_went_away(h, spool_dir, *, before: int, after: int) -> tuple[WandbRecorder, dict]:
    """Own mode: ``before`` steps reach the run, then the run is finished under the recorder and
    ``after`` more steps (and an event) go to the spool."""
    rec = WandbRecorder(project="ps-test", name="spool-me", spool_dir=spool_dir, retry_interval=0.05)
    rec.start(h.metadata(N))
    expected = {}
    for k in range(before):
        expected[k] = h.values_at(k)
        rec.record(k, expected[k])
    rec.flush()
    assert rec.run is not None and rec.spool_path is None
    rec.close_timeout = 0.3
    rec.run.finish()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "could not reach its backend", "kept in the spool"
        for k in range(before, before + after):
            expected[k] = h.values_at(k)
            rec.record(k, expected[k])
        rec.record_event(make_event(before + 1, "intervention", series="hp/lr/g0", before=0.1, after=0.05,
                                    reason="loss spike"))
        rec.close()
    assert [k for k, _ in read_spool(rec.spool_path)[1]] == list(range(before, before + after))
    return rec, expected


def test_spool_send_completes_the_run_the_spool_belongs_to(wandb_env, h, tmp_path, capsys):
    rec, expected = _spooled_after_the_run_went_away(h, tmp_path / "spool", before=12, after=18)
    run_id = rec.run.id

    assert main(["spool", "list", "--dir", str(tmp_path / "spool")]) == 0
    listed = capsys.readouterr().out
    assert f"wandb -> the W&B run {run_id} (project 'ps-test', offline" in listed, listed
    assert "18 rows, 1 events" in listed and "waiting: paramsched spool send" in listed

    assert main(["spool", "send", str(rec.spool_path)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"sent {rec.spool_path}: 18 rows, 1 events, 0 metrics rows to "), said
    delivered = said.rstrip().rsplit(" to ", 1)[1]
    assert f"-{run_id}" in delivered  # an offline directory of the same W&B run

    traj = WandbSource().load(delivered)
    assert traj.frame.index.tolist() == list(range(30))  # every step once
    assert all(h.same_floats({s: float(traj.frame.at[k, s]) for s in h.SERIES}, expected[k]) for k in range(30))
    assert [(e["kind"], e["step"], e["reason"]) for e in traj.events] == [("intervention", 13, "loss spike")]
    assert traj.metadata["series"] == h.SERIES and "resumes" not in traj.metadata  # a delivery is no resume

    assert main(["spool", "send", str(rec.spool_path)]) == 0
    assert "nothing sent" in capsys.readouterr().out  # once only


def test_a_spool_of_a_run_that_never_opened_is_sent_to_a_new_run_given_with_to(wandb_env, h, tmp_path, capsys):
    # online mode and no API key: wandb.init fails, every row goes to the spool
    rec = WandbRecorder(project="ps-test", mode="online", spool_dir=tmp_path / "spool", retry_interval=0.1,
                        close_timeout=0.3)
    rec.start(h.metadata(N))
    expected = {k: h.values_at(k) for k in range(N)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(N):
            rec.record(k, expected[k])
        rec.close()
    assert rec.run is None and len(read_spool(rec.spool_path)[1]) == N

    assert main(["spool", "list", "--dir", str(tmp_path / "spool")]) == 0
    assert "wandb -> a new W&B run (project 'ps-test', online; it was never opened)" in capsys.readouterr().out

    # its own destination is still unreachable: the command says so and keeps the spool
    assert main(["spool", "send", str(rec.spool_path), "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert f"could not send {rec.spool_path}" in err and "No API key configured" in err, err
    assert "the spool is unchanged" in err

    target = f"wandb://ps-resent?mode=offline&dir={wandb_env}&name=from-spool"
    assert main(["spool", "send", str(rec.spool_path), "--to", target]) == 0
    delivered = capsys.readouterr().out.rstrip().rsplit(" to ", 1)[1]
    traj = WandbSource().load(delivered)
    assert traj.frame.index.tolist() == list(range(N))
    assert all(h.same_floats({s: float(traj.frame.at[k, s]) for s in h.SERIES}, expected[k]) for k in range(N))
    assert traj.metadata == h.metadata(N)


def test_a_merge_mode_spool_goes_back_to_the_users_run(wandb_env, h, tmp_path, capsys):
    import wandb

    user = wandb.init(project="ps-test", name="merge-gone")
    rec = WandbRecorder(step_mode="merge", spool_dir=tmp_path / "spool", retry_interval=0.05, close_timeout=0.3)
    rec.start(h.metadata(N))
    expected = {k: h.values_at(k) for k in range(4)}
    for k in range(2):
        rec.record(k, expected[k])
    rec.flush()  # steps 0 and 1 are in the user's run files
    user.finish()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(2, 4):
            rec.record(k, expected[k])
        rec.close()
    assert [k for k, _ in read_spool(rec.spool_path)[1]] == [2, 3]

    assert main(["spool", "send", str(rec.spool_path)]) == 0
    delivered = capsys.readouterr().out.rstrip().rsplit(" to ", 1)[1]
    assert f"-{user.id}" in delivered  # a directory of the user's run (wandb adds -1 to a name taken this second)
    traj = WandbSource().load(delivered)
    assert traj.frame.to_dict("index") == expected


@pytest.mark.parametrize(
    ("to", "match"),
    [
        ("wandb://", r"--to for W&B must be wandb://\[ENTITY/\]PROJECT\[/RUN_ID\]\[\?mode=offline&dir=PATH&name=NAME\], got to='wandb://'"),
        ("wandb://a/b/c/d", r"got to='wandb://a/b/c/d'"),
        ("wandb://p?mode=sideways", r"mode must be one of 'online', 'offline', 'disabled', got mode='sideways'"),
        ("wandb://p?colour=red", r"--to for W&B takes the options mode, dir, name; got 'colour'"),
    ],
)
def test_bad_destinations_name_what_was_expected(to, match):
    with pytest.raises(ValueError, match=match):
        WandbRecorder.from_spool_target({}, to, spool_dir=".", close_timeout=1.0)


def test_the_earlier_directory_of_a_run_is_the_newest_one_before_it(tmp_path):
    """wandb names a run's directories ``offline-run-<time>-<id>`` and adds ``-<n>`` to a name
    already taken that second: "earlier" follows the time, then n (10 after 2), and only this id."""
    from paramsched_wandb.recorder import _newest_other_folder

    names = ["offline-run-20261207_140700-ab", "offline-run-20261207_140708-ab", "offline-run-20261207_140708-ab-2",
             "offline-run-20261207_140708-ab-10", "offline-run-20261207_140708-abc", "run-20261207_140709-xab"]
    for name in names:
        (tmp_path / name / "files" / "paramsched").mkdir(parents=True)
        (tmp_path / name / "files" / "paramsched" / "run.json").write_text("{}")

    def earlier(name: str, run_id: str = "ab") -> str | None:
        found = _newest_other_folder(tmp_path / name / "files" / "paramsched", run_id)
        return found.parent.parent.name if found is not None else None

    assert earlier("offline-run-20261207_140708-ab-10") == "offline-run-20261207_140708-ab-2"
    assert earlier("offline-run-20261207_140708-ab-2") == "offline-run-20261207_140708-ab"
    assert earlier("offline-run-20261207_140708-ab") == "offline-run-20261207_140700-ab"
    assert earlier("offline-run-20261207_140700-ab") is None
    assert earlier("offline-run-20261207_140709-ab") == "offline-run-20261207_140708-ab-10"
    assert earlier("offline-run-20261207_140709-abc", "abc") == "offline-run-20261207_140708-abc"
