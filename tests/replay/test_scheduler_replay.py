"""End to end with the real scheduler and CSV recorder: record, read back, replay, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import paramsched as ps
from paramsched.recording.csv import CsvRecorder
from paramsched.replay import load, rebuild

TOTAL = 60


def make_optimizer(seed: int = 0) -> torch.optim.Optimizer:
    torch.manual_seed(seed)
    body, head = torch.nn.Linear(3, 3), torch.nn.Linear(3, 1)
    return torch.optim.AdamW(
        [{"params": body.parameters()}, {"params": head.parameters(), "name": "head", "lr": 2e-3}],
        lr=1e-3,
        weight_decay=0.05,
    )


def schedules() -> dict:
    return {
        "lr": ps.WarmupStableDecay(3e-3, warmup=0.1, decay=0.3),
        "weight_decay": ps.Cosine(0.1, 0.0),
        "betas.0": ps.Linear(0.85, 0.95),
    }


OVERRIDES = {"head": {"lr": ps.Cosine(1e-3, 1e-5)}}


def applied(opt: torch.optim.Optimizer) -> dict[str, float]:
    out = {}
    for label, group in zip(("g0", "head"), opt.param_groups, strict=True):
        out[f"hp/lr/{label}"] = group["lr"]
        out[f"hp/weight_decay/{label}"] = group["weight_decay"]
        out[f"hp/betas.0/{label}"] = group["betas"][0]
    return out


def run(sched: ps.ParamScheduler, opt: torch.optim.Optimizer, start: int, stop: int) -> dict[int, dict[str, float]]:
    """Updates start..stop-1; returns the values each update ran with."""
    seen = {}
    for k in range(start, stop):
        seen[k] = applied(opt)
        opt.step()
        sched.step()
    return seen


def test_recorded_run_reads_back_equal_to_what_the_optimizer_saw(tmp_path):
    opt = make_optimizer()
    with ps.ParamScheduler(opt, schedules(), TOTAL, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / 'a'}"]) as sched:
        seen = run(sched, opt, 0, TOTAL)
    traj = load(tmp_path / "a")
    assert traj.frame.index.tolist() == list(range(TOTAL))
    assert set(traj.series) == set(seen[0])
    for k in range(TOTAL):
        assert {s: traj.frame.at[k, s] for s in traj.series} == seen[k]
    assert traj.metadata["total_steps"] == TOTAL and traj.total_steps == TOTAL
    rebuilt = rebuild(traj)
    assert rebuilt.ok, rebuilt.report()
    assert rebuilt.schedules["lr"] == schedules()["lr"]
    assert rebuilt.overrides == {"head": {"lr": OVERRIDES["head"]["lr"]}}


def test_replay_on_a_fresh_optimizer_gives_equal_values(tmp_path):
    opt = make_optimizer()
    with ps.ParamScheduler(opt, schedules(), TOTAL, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / 'a'}"]) as sched:
        original = run(sched, opt, 0, TOTAL)
    traj = load(tmp_path / "a")
    opt2 = make_optimizer(seed=1)
    replay = ps.ParamScheduler(opt2, traj.schedules(), total_steps=TOTAL)
    assert run(replay, opt2, 0, TOTAL) == original
    # values_at() (no optimizer update) agrees
    assert all(replay.values_at(k) == original[k] for k in range(TOTAL))


def test_exact_resumption_from_a_checkpoint_with_replayed_schedules(tmp_path):
    """Run A to the end, checkpoint at step 25; a new scheduler built from A's log plus the
    checkpoint continues with values == A's at every step."""
    opt = make_optimizer()
    sched = ps.ParamScheduler(opt, schedules(), TOTAL, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / 'a'}"])
    original = run(sched, opt, 0, 25)
    checkpoint = sched.state_dict()
    original.update(run(sched, opt, 25, TOTAL))
    sched.close()

    traj = load(tmp_path / "a")
    opt2 = make_optimizer(seed=2)
    resumed = ps.ParamScheduler(opt2, traj.schedules(), total_steps=TOTAL)
    # The checkpoint was made with A's schedules (WarmupStableDecay, ...), this scheduler
    # replays them from the log: same values, different specs, so strict=False.
    with pytest.warns(ps.ScheduleWarning, match="different schedules"):
        resumed.load_state_dict(checkpoint, strict=False)
    after = run(resumed, opt2, 25, TOTAL)
    assert after == {k: original[k] for k in range(25, TOTAL)}


def test_crash_and_resume_with_rebuilt_schedules(tmp_path):
    """A run dies after step 38 (checkpoint at 30); rebuild() rebuilds its schedules from the log's
    metadata, the checkpoint loads strictly, recording resumes into the same directory, and the
    final log equals an uninterrupted run's at every step."""
    opt_ref = make_optimizer()
    with ps.ParamScheduler(opt_ref, schedules(), TOTAL, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / 'ref'}"]) as ref:
        reference = run(ref, opt_ref, 0, TOTAL)

    folder = tmp_path / "crashed"
    opt = make_optimizer()
    sched = ps.ParamScheduler(opt, schedules(), TOTAL, overrides=OVERRIDES, recorders=[CsvRecorder(folder, flush_every=1)])
    run(sched, opt, 0, 30)
    checkpoint = sched.state_dict()
    run(sched, opt, 30, 39)
    sched.recorder.close()  # the process dies here: rows up to step 38 are on disk
    crashed = load(folder)
    assert crashed.frame.index.tolist() == list(range(39))

    rebuilt = rebuild(crashed)
    assert rebuilt.ok, rebuilt.report()
    opt2 = make_optimizer()
    resumed = ps.ParamScheduler(opt2, **rebuilt.scheduler_kwargs(), recorders=[f"csv:{folder}"])
    resumed.load_state_dict(checkpoint)  # strict: the rebuilt schedules have the same fingerprint
    after = run(resumed, opt2, 30, TOTAL)
    resumed.close()
    assert after == {k: reference[k] for k in range(30, TOTAL)}

    final = load(folder)
    assert final.equals(load(tmp_path / "ref"))
    assert final.metadata["resumes"][0]["at_step"] == 30
    # The crashed run's steps 30..38 were replaced, not appended: every step is there once.
    assert final.metadata["resumes"][0]["replaced_rows"] == 9
    assert not any("more than once" in note for note in final.notes)
    assert final.diff(load(tmp_path / "ref"))["status"].eq("equal").all()


def test_relative_run_rebuilds_with_base_values(tmp_path):
    opt = make_optimizer()
    with ps.ParamScheduler(opt, {"lr": ps.Cosine(1.0, 0.1)}, 20, relative=True, recorders=[f"csv:{tmp_path / 'r'}"]) as sched:
        seen = run(sched, opt, 0, 20)
    traj = load(tmp_path / "r")
    assert traj.frame.at[0, "hp/lr/head"] == 2e-3 and seen[0]["hp/lr/head"] == 2e-3
    rebuilt = rebuild(traj)
    assert rebuilt.ok and rebuilt.relative and rebuilt.bases["head"]["lr"] == 2e-3


def test_csv_recorder_write_then_read(tmp_path, floats):
    values = floats(3 * 200, seed=5).reshape(200, 3)
    names = ["hp/lr/g0", "hp/lr/head", "hp/betas.0/g0"]
    metadata = {"format": "paramsched.run/1", "series": names, "total_steps": 200, "resumed_from_step": None}
    with CsvRecorder(tmp_path / "w", flush_every=7) as rec:
        rec.start(metadata)
        for k, row in enumerate(values.tolist()):
            rec.record(k, dict(zip(names, row, strict=True)))
    traj = load(tmp_path / "w")
    assert traj.series == names
    assert np.array_equal(traj.frame.to_numpy().view(np.uint64), values.view(np.uint64))
    assert traj.metadata == metadata
    # a resumed recorder appends from step 150 with other values: the later rows win
    resumed_meta = dict(metadata, resumed_from_step=150)
    with CsvRecorder(tmp_path / "w") as rec:
        rec.start(resumed_meta)
        for k in range(150, 200):
            rec.record(k, dict.fromkeys(names, float(k)))
    again = load(tmp_path / "w")
    assert again.frame.index.tolist() == list(range(200))
    assert again.frame.loc[149].tolist() == values[149].tolist()
    assert again.frame.loc[150:].to_numpy().tolist() == [[float(k)] * 3 for k in range(150, 200)]
    assert again.metadata["resumes"][0]["at_step"] == 150


def test_rebuild_reports_mismatches_and_errors(tmp_path):
    opt = make_optimizer()
    with ps.ParamScheduler(opt, schedules(), TOTAL, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / 'a'}"]) as sched:
        run(sched, opt, 0, TOTAL)
    path = tmp_path / "a" / "values.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("hp/lr/head")
    row = lines[41].split(",")  # step 40
    recorded = float(row[col])
    row[col] = repr(recorded * 2)
    lines[41] = ",".join(row)
    path.write_text("\n".join(lines) + "\n")
    traj = load(tmp_path / "a")
    rebuilt = rebuild(traj)
    assert not rebuilt.ok and len(rebuilt.mismatches) == 1
    m = rebuilt.mismatches[0]
    assert (m.series, m.step, m.expected, m.recorded) == ("hp/lr/head", 40, recorded, recorded * 2)
    assert rebuilt.report() == f"hp/lr/head: at step 40 the schedule gives {recorded!r} but the log has {recorded * 2!r}"
    unchecked = rebuild(traj, check=False)
    assert not unchecked.checked and not unchecked.ok and unchecked.mismatches == ()

    with pytest.raises(ValueError, match=r"no run metadata to rebuild the schedules from \(metadata=None\)"):
        rebuild(traj.with_groups({"head": "top"}))
    meta = dict(traj.metadata, schedules={"lr": {"type": "NoSuchSchedule"}})
    from paramsched.replay import Trajectory

    with pytest.raises(ValueError, match=r"metadata schedules\['lr'\] cannot be rebuilt: spec type must be one of"):
        rebuild(Trajectory(traj.frame, meta, "x"))
    extra = traj.frame.assign(**{"hp/momentum/g0": 0.9})
    report = rebuild(Trajectory(extra, traj.metadata, "x"))
    assert [str(m) for m in report.mismatches] == [
        "hp/lr/head: at step 40 the schedule gives " + repr(recorded) + " but the log has " + repr(recorded * 2),
        "hp/momentum/g0: the metadata has no schedule for key 'momentum' (group 'g0')",
    ]
    with pytest.raises(TypeError, match=r"traj must be a Trajectory"):
        rebuild(pd.DataFrame())


@pytest.mark.parametrize("interpolation", ["nearest", "linear"])
def test_ablation_replays_lr_on_a_run_twice_as_long_with_a_fresh_weight_decay(tmp_path, interpolation):
    opt = make_optimizer()
    with ps.ParamScheduler(opt, schedules(), TOTAL, overrides=OVERRIDES, recorders=[f"csv:{tmp_path / 'a'}"]) as sched:
        original = run(sched, opt, 0, TOTAL)
    longer = 2 * TOTAL
    lr = load(tmp_path / "a").rescaled(longer, interpolation).schedules(keys="lr")
    opt2 = make_optimizer()
    fresh_wd = ps.Linear(0.2, 0.0)
    ablation = ps.ParamScheduler(opt2, {**lr, "weight_decay": fresh_wd}, total_steps=longer)
    seen = run(ablation, opt2, 0, longer)
    for frac in (0, 0.25, 0.5):  # new step j reads old step j * TOTAL / longer exactly
        j = int(frac * longer)
        for label in ("g0", "head"):
            assert seen[j][f"hp/lr/{label}"] == original[int(frac * TOTAL)][f"hp/lr/{label}"]
            assert seen[j][f"hp/weight_decay/{label}"] == fresh_wd(j, longer)
    last = seen[longer - 1]  # fraction 1: old position TOTAL - 0.5 -> the final recorded value
    assert last["hp/lr/g0"] == original[TOTAL - 1]["hp/lr/g0"]
    assert last["hp/betas.0/g0"] == 0.9  # not scheduled in the ablation: AdamW's default stays


def test_a_log_with_a_gap_fails_at_scheduler_construction_naming_the_step():
    traj = load(pd.DataFrame({"step": [0, 1, 3], "hp/lr/g0": [0.1, 0.2, 0.4], "hp/lr/head": [1.0, 1.0, 1.0]}))
    with pytest.raises(ValueError, match=r"^DataFrame: series 'hp/lr/g0': step 2 is missing from the log"):
        ps.ParamScheduler(make_optimizer(), traj.schedules(), total_steps=4)
    with pytest.raises(ValueError, match=r"the log ends at step 3, got step=4 \(after_end='error'"):
        ps.ParamScheduler(make_optimizer(), traj.schedules(gaps="previous"), total_steps=5)
    sched = ps.ParamScheduler(make_optimizer(), traj.schedules(gaps="previous"), total_steps=4)
    assert sched.values_at(2) == {"hp/lr/g0": 0.2, "hp/lr/head": 1.0}


def test_a_long_replayed_series_is_a_digest_in_run_metadata_and_fingerprints():
    import torch

    import paramsched as ps
    from paramsched.replay import ReplaySchedule

    values = [1e-3 * (1 - k / 1000) for k in range(1000)]
    opt = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.1)
    sched = ps.ParamScheduler(opt, {"lr": ReplaySchedule(values)}, 1000)
    spec = sched.run_metadata()["schedules"]["lr"]
    assert "values" not in spec
    assert spec["compact"] is True and spec["length"] == 1000 and len(spec["sha256"]) == 64
    with pytest.raises(ValueError, match=r"ReplaySchedule spec is a compact digest .*paramsched.replay.load"):
        ps.schedule_from_spec(spec)
    changed = ps.ParamScheduler(opt, {"lr": ReplaySchedule([*values[:-1], 0.5e-6])}, 1000)
    assert changed.state_dict()["fingerprint"] != sched.state_dict()["fingerprint"]
    # short series keep their values: the spec still rebuilds them
    short = ReplaySchedule(values[:10])
    assert ps.schedule_from_spec(short.to_spec(compact=True)) == short


def test_from_spec_is_a_deprecated_name_of_rebuild(tmp_path):
    from paramsched.replay import from_spec

    traj = ps.replay.load(pd.DataFrame({"step": [0, 1], "hp/lr/g0": [1.0, 0.5]}))
    traj = ps.replay.Trajectory(traj.frame, {
        "format": "paramsched.run/1", "total_steps": 2, "relative": False,
        "schedules": {"lr": ps.Linear(1.0, 0.0).to_spec()}, "overrides": {},
        "groups": [{"index": 0, "label": "g0", "base": {"lr": 1.0}}], "series": ["hp/lr/g0"],
    }, "two steps")
    with pytest.warns(DeprecationWarning, match=r"from_spec\(traj\) is now paramsched.replay.rebuild\(traj\)"):
        old = from_spec(traj)
    assert old == rebuild(traj) and old.ok
