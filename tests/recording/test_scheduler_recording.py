"""End to end: ParamScheduler -> recorders -> replay.load reads back exactly what was applied."""

from __future__ import annotations

import torch

import paramsched as ps
from paramsched.recording import CsvRecorder


def _train(recorders, steps=40):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(
        [{"params": [model.weight], "name": "body"}, {"params": [model.bias], "name": "head"}], lr=1e-3
    )
    applied = []
    with ps.ParamScheduler(
        opt,
        {"lr": ps.Cosine(1e-3, 0.0), "betas.0": ps.Linear(0.85, 0.95), "weight_decay": ps.Constant(0.1 / 3)},
        total_steps=steps,
        recorders=recorders,
    ) as sched:
        for _ in range(steps):
            applied.append(dict(sched.current()))
            opt.step()
            sched.step()
    return applied


def test_csv_and_a_network_recorder_receive_exactly_the_applied_values(tmp_path, sink, rh):
    tcp = rh.TcpRecorder(sink.port, spool_dir=tmp_path / "spool")
    applied = _train([f"csv:{tmp_path / 'run'}", tcp])
    traj = ps.replay.load(tmp_path / "run")
    assert traj.frame.index.tolist() == list(range(40))
    for (key, group), _ in applied[0].items():
        column = traj.frame[f"hp/{key}/{group}"].tolist()
        assert column == [step_values[(key, group)] for step_values in applied]  # exact
    assert [step for step, _ in sink.received()] == list(range(40))
    assert [dict(values) for _, values in sink.received()] == [
        dict(zip(traj.series, row, strict=True)) for row in traj.frame.itertuples(index=False)
    ]
    assert traj.metadata["series"] == traj.series


def test_recorder_instances_are_used_as_given(tmp_path):
    csv = CsvRecorder(tmp_path / "run", flush_every=1)
    _train([csv], steps=5)
    assert csv.values_path.read_text().count("\n") == 6
