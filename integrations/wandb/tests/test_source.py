"""WandbSource: offline runs through paramsched.replay.load, wandb:// URIs, foreign runs, errors."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import paramsched.replay as replay
from paramsched_wandb import WandbRecorder, WandbSource, parse_wandb_uri
from paramsched_wandb.reader import find_run_file

N = 25


@pytest.fixture(scope="module")
def runs(module_env, h):
    """Three finished offline runs: paramsched's, a Hugging-Face-style one, one with a stray hp/ key."""
    import wandb

    rec = WandbRecorder(project="ps-source", name="recorded")
    rec.start(h.metadata(N))
    expected = {k: h.values_at(k) for k in range(N)}
    for k in range(N):
        rec.record(k, expected[k])
    rec.close()
    recorded = h.run_dir_of(rec.run)

    hf = wandb.init(project="ps-source", name="hf-style")
    hf_lr = {}
    for k in range(N):  # as the Trainer logs: update k's lr at global_step k + 1
        hf_lr[k] = 5e-5 * (1 - k / N)
        hf.log({"train/loss": 1.0 / (k + 1), "train/learning_rate": hf_lr[k], "train/global_step": k + 1})
        if k % 10 == 9:
            hf.log({"eval/loss": 0.5, "train/global_step": k + 1})  # a row without the learning rate
    hf.finish()

    stray = wandb.init(project="ps-source", name="stray")
    stray.log({"hp/lr/g0": 0.1})
    stray.finish()

    dirs = {"recorded": recorded, "hf": h.run_dir_of(hf), "stray": h.run_dir_of(stray)}
    for d in dirs.values():
        h.read_run(d)  # wait for the exit records
    return dirs, expected, hf_lr


def test_replay_load_reads_an_offline_run_exactly(runs, h):
    dirs, expected, _ = runs
    for obj in (dirs["recorded"], str(dirs["recorded"]), find_run_file(dirs["recorded"])):
        traj = replay.load(obj)
        assert traj.source == str(find_run_file(dirs["recorded"]))
        assert traj.series == h.SERIES
        assert traj.metadata == h.metadata(N)
        assert traj.frame.index.tolist() == list(range(N))
        for k in range(N):
            assert h.same_floats({s: float(traj.frame.at[k, s]) for s in h.SERIES}, expected[k])
    schedules = traj.schedules()
    assert schedules[("lr", "g0")](7, N) == expected[7]["hp/lr/g0"]


@pytest.mark.parametrize("keymap", ["hf", "auto"])
def test_a_hf_run_is_read_with_the_step_convention_of_the_transformers_that_logged_it(wandb_env, keymap):
    """The Trainer's W&B callback puts the model config (``transformers_version``) in the run
    config: a run logged by transformers 4.48.1 holds update s's lr at global_step s."""
    import wandb

    lrs = {s: 1e-3 * (1 - s / 10) for s in range(1, 9)}
    run = wandb.init(project="ps-source", name="hf-old", config={"transformers_version": "4.48.1"})
    for step, lr in lrs.items():
        run.log({"train/learning_rate": lr, "train/global_step": step})
    run.finish()
    traj = replay.load(Path(run.dir).parent, keymap=keymap)
    assert traj.frame["hp/lr/g0"].to_dict() == lrs
    assert any("written by transformers 4.48.1: before 4.51" in note for note in traj.notes), traj.notes


def test_a_run_paramsched_did_not_record_reads_through_a_keymap(runs):
    dirs, _, hf_lr = runs
    traj = replay.load(dirs["hf"], keymap="hf")
    assert traj.series == ["hp/lr/g0"]
    assert traj.frame["hp/lr/g0"].to_dict() == hf_lr
    assert traj.metrics["loss"].to_dict() == {k: 1.0 / (k + 1) for k in range(N)}  # train/loss, same steps
    assert traj.metrics["eval_loss"].dropna().to_dict() == {9: 0.5, 19: 0.5}
    with pytest.raises(ValueError, match=r"no paramsched series \('hp/<key>/<group>' with 'hp/step'\) in the run history; for a run paramsched did not record pass keymap="):
        replay.load(dirs["hf"])
    with pytest.raises(ValueError, match=r"step_column='nope' is not in the run history; columns: \["):
        WandbSource().load(dirs["hf"], keymap="hf", step_column="nope")
    with pytest.raises(ValueError, match=r"step_column applies to runs read through keymap=; a paramsched run's step is 'hp/step', got step_column='_step'"):
        WandbSource().load(dirs["recorded"], step_column="_step")


def test_lightning_names_and_a_dict_keymap(module_env, h):
    """keymap='lightning' / 'auto' read LearningRateMonitor's names at trainer/global_step; a
    dict keymap names the columns itself (and step_column= the step)."""
    import wandb

    run = wandb.init(project="ps-source", name="lightning-style")
    lr = {k: 0.1 / (k + 1) for k in range(12)}
    for k in range(12):
        run.log({"lr-AdamW/pg1": lr[k], "lr-AdamW/pg2": 2 * lr[k], "trainer/global_step": k})
        run.log({"train_loss": 1.0 + k, "trainer/global_step": k})
        run.log({"my/lr": lr[k], "it": 100 + k})
    run.finish()
    run_dir = h.run_dir_of(run)
    for keymap in ("lightning", "auto"):
        traj = WandbSource().load(run_dir, keymap=keymap)
        assert traj.frame.to_dict("list") == {"hp/lr/g0": list(lr.values()), "hp/lr/g1": [2 * v for v in lr.values()]}
        assert traj.frame.index.tolist() == list(range(12))
        assert traj.metrics["train_loss"].dropna().to_dict() == {k: 1.0 + k for k in range(12)}
    traj = replay.load(run_dir, keymap={"my/lr": "hp/lr/g0"}, step_column="it")
    assert traj.frame["hp/lr/g0"].to_dict() == {100 + k: v for k, v in lr.items()}
    with pytest.raises(ValueError, match=r"step_column='nope' is not in the run history"):
        replay.load(run_dir, keymap={"my/lr": "hp/lr/g0"}, step_column="nope")


def test_a_row_with_hp_values_but_no_hp_step_is_an_error(runs):
    dirs, _, _ = runs
    with pytest.raises(ValueError, match=r"the row at W&B _step=0 holds 'hp/lr/g0' but no 'hp/step'; was it logged by paramsched\?"):
        WandbSource().load(dirs["stray"])


def test_a_truncated_run_loads_its_complete_rows_with_a_note(runs, h, tmp_path):
    dirs, expected, _ = runs
    data = find_run_file(dirs["recorded"]).read_bytes()
    cut = tmp_path / "offline-run-x-cut" / "run-cut.wandb"  # no values file beside it: the history is read
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) - 300])
    os.utime(cut, (time.time() - 60, time.time() - 60))  # written a minute ago, not since
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match=r"has no exit record and is not changing: the run is open but idle, or its process ended without finishing it; the complete records were read \(its last record is cut short\)"):
        traj = replay.load(cut.parent)
    assert time.monotonic() - start < 1.0  # a file nobody writes is not waited for
    assert 0 < len(traj.frame) < N
    assert traj.frame.to_dict("index") == {k: expected[k] for k in traj.frame.index}
    assert any("no exit record and is not changing" in note for note in traj.notes)


def test_a_run_still_being_written_is_waited_for(runs, tmp_path):
    """Read right after wandb.finish(): wandb-core is still writing the last records."""
    dirs, _, hf_lr = runs
    data = find_run_file(dirs["hf"]).read_bytes()
    part = tmp_path / "offline-run-x-live" / "run-live.wandb"
    part.parent.mkdir()
    part.write_bytes(data[: len(data) // 2])

    def finish_writing() -> None:
        time.sleep(0.3)
        with open(part, "ab") as handle:  # wandb-core appends; rewriting the file could be read torn (0 bytes)
            handle.write(data[len(data) // 2 :])

    writer = threading.Thread(target=finish_writing)
    writer.start()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole run is read: nothing to warn about
        traj = replay.load(part.parent, keymap="hf")
    writer.join()
    assert traj.frame["hp/lr/g0"].to_dict() == hf_lr
    part.write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match=r"is still being written \(it kept changing for the 0.3 s waited\)"):
        keep_writing = threading.Thread(target=_append_slowly, args=(part, data, 0.6))
        keep_writing.start()
        WandbSource().load(part.parent, keymap="hf", wait=0.3)
        keep_writing.join()


def test_read_right_after_finish_gets_every_row(wandb_env, h):
    """Issue 12.8: wandb.finish() returns before wandb-core writes the last records; loading at
    once got 37 of 40 rows in 2 of 7 tries, with a warning. Now: every row, no warning."""
    import wandb

    for attempt in range(4):
        run = wandb.init(project="ps-source", name=f"finish-{attempt}")
        for k in range(40):
            run.log({"train/learning_rate": 1e-3 * (k + 1), "train/global_step": k + 1})
        run_dir = h.run_dir_of(run)
        run.finish()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            traj = replay.load(run_dir, keymap="hf")
        assert traj.frame["hp/lr/g0"].tolist() == [1e-3 * (k + 1) for k in range(40)], attempt


def _append_slowly(path, data, seconds):
    """Grow ``path`` towards ``data`` a little at a time for ``seconds``, appending as wandb-core does."""
    start = time.monotonic()
    size = path.stat().st_size
    with open(path, "ab") as handle:
        while time.monotonic() - start < seconds and size < len(data) - 200:
            handle.write(data[size : size + 50])
            handle.flush()
            size += 50
            time.sleep(0.02)


def test_a_missing_offline_companion_is_named(runs, h, tmp_path):
    import wandb

    user = wandb.init(project="ps-source", name="orphan", dir=tmp_path)
    user.config.update({"paramsched_hp_run": "zzz999"})
    user.finish()
    assert h.read_run(h.run_dir_of(user)).config["paramsched_hp_run"] == "zzz999"
    with pytest.raises(FileNotFoundError, match=r"recorded in the companion run 'zzz999' \(config\['paramsched_hp_run'\]\), but no run directory ending in '-zzz999'"):
        WandbSource().load(h.run_dir_of(user))


def test_claims(runs, tmp_path):
    dirs, _, _ = runs
    source = WandbSource()
    assert source.claims("wandb://e/p/r")
    assert source.claims(dirs["recorded"]) and source.claims(str(find_run_file(dirs["recorded"])))
    (tmp_path / "values.csv").write_text("step,hp/lr/g0\n0,0.1\n")
    assert not source.claims(tmp_path)
    assert not source.claims(tmp_path / "values.csv")
    assert not source.claims(tmp_path / "missing")
    assert not source.claims(42)
    with pytest.raises(TypeError, match=r"the wandb source reads an offline run path, a 'wandb://entity/project/run_id' string or a wandb.apis.public.Run, got 42"):
        source.load(42)


# -- wandb:// ----------------------------------------------------------------------------


def test_parse_wandb_uri():
    assert parse_wandb_uri("wandb://me/demo/3k2j9x1a") == ("me", "demo", "3k2j9x1a", {})
    assert parse_wandb_uri("wandb://me/demo/abc/?base_url=http://127.0.0.1:8080&timeout=2") == (
        "me",
        "demo",
        "abc",
        {"base_url": "http://127.0.0.1:8080", "timeout": "2"},
    )


@pytest.mark.parametrize(
    ("uri", "error", "match"),
    [
        (7, TypeError, r"uri must be a string 'wandb://entity/project/run_id', got uri=7"),
        ("mlflow://abc", ValueError, r"uri must start with 'wandb://' \(wandb://entity/project/run_id\), got uri='mlflow://abc'"),
        ("wandb://demo/abc", ValueError, r"uri must look like 'wandb://entity/project/run_id' \(three non-empty parts\), got uri='wandb://demo/abc'"),
        ("wandb://e//abc", ValueError, r"three non-empty parts"),
        ("wandb://e/p/r?token=x", ValueError, r"uri options may be base_url and timeout, got token in uri="),
    ],
)
def test_bad_uris(uri, error, match):
    with pytest.raises(error, match=match):
        parse_wandb_uri(uri)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_reachable_server_is_a_connection_error(wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)  # a placeholder: nothing answers on the port
    port = _closed_port()
    uri = f"wandb://ent/proj/run1?base_url=http://127.0.0.1:{port}&timeout=1"
    with pytest.raises(ConnectionError, match=rf"wandb source: cannot load '{re.escape(uri)}': nothing answers at 127.0.0.1:{port} \(the server of http://127.0.0.1:{port}: ConnectionRefusedError: .*reachable W&B server and an API key"):
        replay.load(uri)
    # Nothing was handed to wandb-core: a request it is still retrying when the Python
    # side gives up made about 1 in 10 following wandb.teardown() calls wait 10 minutes.
    assert _wandb_core_children() == []


def _wandb_core_children() -> list[str]:
    import psutil

    names = []
    for child in psutil.Process().children(recursive=True):
        try:
            names.append(child.name())
        except psutil.NoSuchProcess:
            pass
    return [name for name in names if "wandb-core" in name]


def test_the_check_for_wandb_core_sees_it(wandb_env, monkeypatch, not_a_wandb_server):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    with pytest.raises(ConnectionError):
        replay.load(f"wandb://e/p/r?base_url={not_a_wandb_server}&timeout=5")
    assert _wandb_core_children() == ["wandb-core"]


def test_the_server_from_wandb_base_url_is_the_one_checked(wandb_env, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectionError, match=rf"cannot load 'wandb://ent/proj/run1': nothing answers at 127.0.0.1:{port} "):
        replay.load("wandb://ent/proj/run1", timeout=1)


def test_behind_a_proxy_the_proxy_decides_what_is_reachable(monkeypatch):
    from paramsched_wandb.source import _check_reachable

    closed = f"http://10.0.0.1:{_closed_port()}"  # not loopback: proxy_bypass must not skip it
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _check_reachable(closed, "wandb://e/p/r", timeout=0.2) is None
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv("WANDB__PROXIES", '{"http": "http://127.0.0.1:3128"}')
    assert _check_reachable(closed, "wandb://e/p/r", timeout=0.2) is None


@pytest.fixture
def not_a_wandb_server() -> Iterator[str]:
    """A loopback HTTP server that answers every request with 401 and a short body."""

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"no such key here"
            self.send_response(401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_server_that_refuses_the_key_is_a_connection_error(wandb_env, monkeypatch, not_a_wandb_server):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    uri = f"wandb://ent/proj/run1?base_url={not_a_wandb_server}&timeout=5"
    with pytest.raises(ConnectionError, match=rf"cannot load '{re.escape(uri)}' from {not_a_wandb_server} \(AuthenticationError: .*no such key here\); it needs a reachable W&B server"):
        replay.load(uri)


def test_no_api_key_is_a_connection_error_that_says_so(wandb_env, monkeypatch, not_a_wandb_server):
    monkeypatch.setenv("WANDB_BASE_URL", not_a_wandb_server)
    with pytest.raises(ConnectionError, match=r"cannot load 'wandb://ent/proj/run1' from the configured W&B server \(UsageError: No API key configured"):
        WandbSource().load("wandb://ent/proj/run1", timeout=1)


def test_bad_timeout(wandb_env):
    with pytest.raises(ValueError, match=r"timeout in uri must be a number of seconds, got timeout='soon'"):
        WandbSource().load("wandb://e/p/r?timeout=soon")
    with pytest.raises(ValueError, match=r"timeout must be a number of seconds > 0, got timeout=0"):
        WandbSource().load("wandb://e/p/r", timeout=0)


def test_registered_as_the_wandb_source():
    assert replay.SOURCES.get("wandb") is WandbSource
