"""Your own schedules: a Schedule subclass and a plain function, saved, previewed, replayed.

Shows: a frozen-dataclass ``Schedule`` subclass (an exponential lr range test,
validated in ``__post_init__``) that joins the spec registry by subclassing,
so ``to_spec()`` / ``schedule_from_spec()`` round-trip it and the run
metadata describes it; a module-level function as a schedule
(``FunctionSchedule``, stored as ``"module:function"``); composition with the
built-ins (``Clip``, ``*``); ``ps.simulate`` to preview without an optimizer;
and rebuilding the schedules from the recorded run's metadata.

Run:

    python examples/custom_schedule.py --steps 100 --out runs/custom

Writes ``<out>/values`` (CSV run) and ``<out>/preview.csv``. (Run as a script,
the function is stored as ``__main__:momentum``: importable again only from
this script. Put schedules you want to replay elsewhere in a module.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import torch

import paramsched as ps


@dataclasses.dataclass(frozen=True)
class ExpRange(ps.Schedule):
    """``low * (high / low) ** (step / (total_steps - 1))``: from ``low`` to ``high``, geometrically.

    >>> ExpRange(1e-4, 1e-2)(0, 3), ExpRange(1e-4, 1e-2)(2, 3)
    (0.0001, 0.01)
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a real number > 0, got {name}={value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a real number > 0, got {name}={value!r}")
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    def __call__(self, step: int, total_steps: int) -> float:
        if total_steps <= 1 or step >= total_steps - 1:
            return self.high
        return self.low * (self.high / self.low) ** (step / (total_steps - 1))


def momentum(step: int, total_steps: int) -> float:
    """High momentum while the lr is small, lower as it grows (module-level: picklable, nameable)."""
    return 0.95 - 0.1 * step / max(1, total_steps - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="optimizer updates")
    parser.add_argument("--out", type=Path, default=Path("runs/custom"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    schedules = {
        "lr": ps.Clip(ExpRange(1e-5, 1.0) * 0.5, 1e-5, 0.1),  # composition returns new schedules
        "momentum": ps.FunctionSchedule(momentum),
    }
    for schedule in schedules.values():
        assert ps.schedule_from_spec(schedule.to_spec()) == schedule
    print(json.dumps({k: s.to_spec() for k, s in schedules.items()}, indent=1))

    preview = ps.simulate(schedules, args.steps)  # DataFrame: step x hp/<key>/<group>
    preview.to_csv(args.out / "preview.csv")

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    recorder = ps.recording.CsvRecorder(args.out / "values", overwrite=True)
    with ps.ParamScheduler(opt, schedules, args.steps, recorders=[recorder]) as sched:
        for _ in range(args.steps):
            x = torch.randn(16, 8)
            loss = torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    run = ps.replay.load(args.out / "values")
    assert run.frame.equals(preview), "the recorded run differs from the preview"
    rebuilt = {key: ps.schedule_from_spec(spec) for key, spec in run.metadata["schedules"].items()}
    assert rebuilt == schedules  # the run metadata is enough to rebuild the custom schedules
    print(f"recorded {len(run.frame)} steps == simulate() preview; lr {run.frame['hp/lr/g0'].iloc[0]:.1e} -> "
          f"{run.frame['hp/lr/g0'].iloc[-1]:.1e}; schedules rebuilt from {args.out / 'values' / 'run.json'}")


if __name__ == "__main__":
    main()
