"""GPU checks for the tensor path of ParamScheduler (run on a CUDA machine; CPU works too).

What it checks, per optimizer configuration, with values held as 0-d tensors
(``tensors=True``) on the parameters' device:
  1. the run works and applies exactly the scheduled values (read back == float);
  2. the weights match a run with plain float values (max abs difference);
  3. a torch.compile'd ``optimizer.step`` does not recompile over the run;
  4. a CUDA graph of a capturable Adam step, replayed while the scheduler writes
     the lr tensor in place, gives the same weights as eager steps;
and prints the cost of ``sched.step()`` as a ratio of one training step.

    PYTHONPATH=src python benchmarks/gpu_check.py [--device cuda] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import traceback

import torch

import paramsched as ps

STEPS = 30
SCHEDULES = {
    "lr": ps.WarmupStableDecay(1e-2, warmup=5, decay=10),
    "betas.0": ps.Linear(0.85, 0.95),
    "weight_decay": ps.Cosine(0.1, 0.0),
}


def _model(device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1)).to(device)


def _batch(step: int, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(step)
    return torch.randn(128, 64, generator=gen).to(device)


def _train(
    device: str, opt_kwargs: dict, tensors: bool | list, compiled: bool = False, keys: tuple = tuple(SCHEDULES)
) -> dict:
    model = _model(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, **opt_kwargs)
    sched = ps.ParamScheduler(opt, {key: SCHEDULES[key] for key in keys}, STEPS, tensors=tensors)
    step_fn = opt.step
    if compiled:
        torch._dynamo.reset()
        torch._dynamo.config.error_on_recompile = True
        step_fn = torch.compile(opt.step)
    exact = True
    for k in range(STEPS):
        x = _batch(k, device)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        step_fn()
        group = opt.param_groups[0]
        applied = {"lr": float(group["lr"]), "betas.0": float(group["betas"][0]),
                   "weight_decay": float(group["weight_decay"])}
        planned = {key: SCHEDULES[key](k, STEPS) for key in keys}
        applied = {key: applied[key] for key in keys}
        exact &= applied == planned
        sched.step()
    if compiled:
        torch._dynamo.config.error_on_recompile = False
    weights = torch.cat([p.detach().flatten().double().cpu() for p in model.parameters()])
    return {"exact": exact, "weights": weights}


def check_optimizers(device: str) -> list[dict]:
    configs = {
        "AdamW default": {},
        "AdamW foreach": {"foreach": True},
        "AdamW fused": {"fused": True},
        "AdamW capturable": {"capturable": True},
        "AdamW foreach+capturable": {"foreach": True, "capturable": True},
    }
    rows = []
    for name, kwargs in configs.items():
        row: dict = {"optimizer": name}
        try:
            base = _train(device, kwargs, tensors=False)
            row["floats_exact"] = base["exact"]
            tens = _train(device, kwargs, tensors=True)
            row["tensors_exact"] = tens["exact"]
            row["tensors_vs_floats_max_abs_diff"] = float((tens["weights"] - base["weights"]).abs().max())
        except Exception as exc:  # report and go on: this is a survey
            row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        rows.append(row)
    return rows


def check_compile(device: str) -> dict:
    """A compiled optimizer step over the run, with error_on_recompile set."""
    results = {}
    kwargs = {"capturable": True} if device == "cuda" else {"foreach": False}
    cases = {
        "lr+betas.0 scheduled, as tensors": (("lr", "betas.0"), True),
        "lr+betas.0+weight_decay scheduled, all tensors": (tuple(SCHEDULES), True),
    }
    for name, (keys, tensors) in cases.items():
        try:
            result = _train(device, kwargs, tensors=tensors, compiled=True, keys=keys)
            results[name] = {"no_recompile": True, "exact": result["exact"]}
        except Exception as exc:
            results[name] = {"no_recompile": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
    return results


def check_cuda_graphs(device: str) -> dict:
    cases = {}
    for keys in (("lr",), ("lr", "betas.0"), tuple(SCHEDULES)):
        for foreach in (False, True):
            cases[f"{'+'.join(keys)} foreach={foreach}"] = check_cuda_graph(device, keys=keys, foreach=foreach)
    return cases


def check_cuda_graph(device: str, warmup: int = 3, keys: tuple = tuple(SCHEDULES), foreach: bool = False) -> dict:
    """Replay a captured training step while the scheduler writes its tensors in place."""
    if device != "cuda":
        return {"skipped": "needs CUDA"}
    try:
        opt_kwargs = {"capturable": True, "foreach": foreach}
        eager = _train(device, opt_kwargs, tensors=True, keys=keys)["weights"]
        model = _model(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, **opt_kwargs)
        sched = ps.ParamScheduler(opt, {key: SCHEDULES[key] for key in keys}, STEPS, tensors=True)
        static_x = torch.empty(128, 64, device=device)

        def train_step() -> None:
            loss = model(static_x).pow(2).mean()
            loss.backward()
            opt.step()

        # the first updates run eagerly on a side stream (torch's capture recipe)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for k in range(warmup):
                static_x.copy_(_batch(k, device))
                opt.zero_grad(set_to_none=False)
                train_step()
                sched.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=False)
        with torch.cuda.graph(graph):
            train_step()  # captured, not run
        for k in range(warmup, STEPS):
            static_x.copy_(_batch(k, device))
            # zero_grad is not in the graph: backward in the graph accumulates into .grad
            for p in model.parameters():
                p.grad.zero_()
            graph.replay()
            sched.step()  # fills the captured lr / betas / weight_decay tensors in place
        torch.cuda.synchronize()
        weights = torch.cat([p.detach().flatten().double().cpu() for p in model.parameters()])
        diff = float((weights - eager).abs().max())
        return {"graph_vs_eager_max_abs_diff": diff, "steps_replayed": STEPS - warmup}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300], "trace": traceback.format_exc()[:1500]}


def _time_steps(model, opt, sched, x, device: str, repeats: int = 200) -> tuple[float, float]:
    """Median seconds of one training step and of one ``sched.step()``."""

    def train_step() -> None:
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(20):
        train_step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    train_times, sched_times = [], []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        train_step()
        sync()
        t1 = time.perf_counter()
        sched.step()
        sync()
        t2 = time.perf_counter()
        train_times.append(t1 - t0)
        sched_times.append(t2 - t1)
    return statistics.median(train_times), statistics.median(sched_times)


def check_overhead(device: str) -> dict:
    """Cost of sched.step() (3 keys, floats or tensors) as a share of a small training step."""
    results = {}
    for tensors in (False, True):
        model = _model(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, capturable=(device == "cuda" and tensors))
        sched = ps.ParamScheduler(opt, SCHEDULES, 10**9, tensors=tensors)
        train, step = _time_steps(model, opt, sched, _batch(0, device), device)
        results["tensors" if tensors else "floats"] = {
            "train_step_us": round(train * 1e6, 1),
            "sched_step_us": round(step * 1e6, 1),
            "sched_over_train": round(step / train, 4),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    report = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "torch": torch.__version__,
        "optimizers": check_optimizers(args.device),
        "compile": check_compile(args.device),
        "cuda_graph": check_cuda_graphs(args.device),
        "overhead": check_overhead(args.device),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
