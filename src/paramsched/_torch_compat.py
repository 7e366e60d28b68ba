"""The torch plumbing the runtime needs: optimizer wrappers, tensor values, distributed ranks.

`ParamScheduler` reads as the loop it is; what it needs to know about torch
(where the step hooks go, which tensor values torch's optimizers refuse, how
to give every group its own tensor, which rank this process is, whether an
``optimizer.step()`` is torch.distributed.checkpoint's and not training's)
lives here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from paramsched.checks import describe
from paramsched.targets import read_target

if TYPE_CHECKING:
    from paramsched._plan import PlanEntry

__all__ = [
    "as_float",
    "check_tensor_support",
    "distributed_rank",
    "inside_dcp_optimizer_init",
    "own_scheduled_tensors",
    "tensor_keys",
    "unwrap_optimizer",
]


def unwrap_optimizer(optimizer: Any) -> Any:
    """The torch optimizer inside a wrapper (Accelerate's ``AcceleratedOptimizer``, ...).

    Such wrappers subclass ``torch.optim.Optimizer`` without running its
    ``__init__``, so step hooks must go on the optimizer they forward to.
    """
    for _ in range(4):
        inner = getattr(optimizer, "optimizer", None)
        if hasattr(optimizer, "_optimizer_step_post_hooks") or not isinstance(inner, torch.optim.Optimizer):
            break
        optimizer = inner
    return optimizer


def as_float(value: Any) -> float:
    if isinstance(value, torch.Tensor):
        return float(value.item())
    return float(value)


_DCP_STATE_DICT_MODULE = "torch.distributed.checkpoint.state_dict"


def inside_dcp_optimizer_init(max_depth: int = 8) -> bool:
    """Whether this ``optimizer.step()`` is torch.distributed.checkpoint's, not training's.

    ``get_state_dict``, ``get_optimizer_state_dict`` and ``set_state_dict`` give an
    optimizer without state one ``step()`` with zero gradients and ``lr=0`` (in
    ``_init_optim_state``) so that its state exists to be saved or loaded into.
    Counted as an update, it would advance an attached scheduler by one step and
    record a step that never trained. Called from a step hook, so the caller of
    ``step()`` is a few frames up.
    """
    frame = sys._getframe(1)
    for _ in range(max_depth):
        if frame is None:
            return False
        if frame.f_code.co_name == "_init_optim_state" and frame.f_globals.get("__name__") == _DCP_STATE_DICT_MODULE:
            return True
        frame = frame.f_back
    return False


def distributed_rank() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def tensor_keys(tensors: Any, plan: Sequence[PlanEntry]) -> frozenset[str]:
    """The scheduled keys to hold as tensors: all for ``True``, none for ``False``, or a list."""
    scheduled = {entry.key for entry in plan}
    if tensors is True:
        return frozenset(scheduled)
    if tensors is False:
        return frozenset()
    if isinstance(tensors, str) or not isinstance(tensors, Iterable):
        raise TypeError(
            f"tensors must be True, False or a list of scheduled keys, got tensors={describe(tensors)}"
        )
    keys = list(tensors)
    unknown = [key for key in keys if key not in scheduled]
    if unknown:
        raise ValueError(
            f"tensors names keys that are not scheduled: {unknown}; scheduled keys: {sorted(scheduled)}"
        )
    return frozenset(keys)


def check_tensor_support(
    groups: Sequence[Mapping[str, Any]], plan: Sequence[PlanEntry], tensor_keys: frozenset[str]
) -> None:
    """Reject tensor values that torch's optimizers would refuse at their first step.

    Found on an H100 with torch 2.11 (benchmarks/gpu_check.py): ``foreach=True``
    without ``capturable=True`` refuses a tensor lr, and ``fused=True`` on CUDA
    needs float32 tensors, where paramsched keeps float64 to stay exact.
    """
    for entry in plan:
        group = groups[entry.group_index]
        if entry.key not in tensor_keys and not isinstance(read_target(entry.target, group), torch.Tensor):
            continue
        where = f"param group {entry.group_index} ({entry.label!r})"
        if group.get("foreach") is True and not group.get("capturable"):
            raise ValueError(
                f"{entry.key} is a tensor in {where}, which has foreach=True and capturable=False: "
                "torch's optimizers refuse that; pass capturable=True or foreach=False to the optimizer"
            )
        params = group.get("params") or []
        if group.get("fused") and any(p.device.type == "cuda" for p in params):
            raise ValueError(
                f"{entry.key} is a tensor in {where}, which has fused=True on cuda: torch's fused "
                "kernels need float32 tensors, and paramsched keeps float64 values to stay exact; "
                "use capturable=True instead of fused=True, or tensors=False"
            )


def own_scheduled_tensors(
    optimizer: Any, plan: Sequence[PlanEntry], *, as_tensors: frozenset[str]
) -> None:
    """Give every group its own tensor for each scheduled value.

    torch stores a tensor default (e.g. ``lr=torch.tensor(1e-3)``) as the same
    object in every group that does not set its own: updating it in place for
    one group would change the others, so shared tensors are cloned per group.
    Float values of the keys in ``as_tensors`` become 0-d float64 tensors.
    """
    counts: dict[int, int] = {}

    def count(value: Any) -> None:
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, torch.Tensor):
                counts[id(item)] = counts.get(id(item), 0) + 1

    for value in getattr(optimizer, "defaults", {}).values():
        count(value)
    for group in optimizer.param_groups:
        for key, value in group.items():
            if key != "params":
                count(value)

    for entry in plan:
        group = optimizer.param_groups[entry.group_index]
        value = read_target(entry.target, group)
        if isinstance(value, torch.Tensor):
            if counts.get(id(value), 0) <= 1:
                continue
            replacement = value.detach().clone()
        elif entry.key in as_tensors:
            params = group.get("params") or []
            device = params[0].device if params else None
            replacement = torch.tensor(float(value), dtype=torch.float64, device=device)
        else:
            continue
        field, index = entry.target.field, entry.target.index
        if index is None:
            group[field] = replacement
        else:
            items = list(group[field])
            items[index] = replacement
            group[field] = type(group[field])(items) if isinstance(group[field], list) else tuple(items)


def broadcast_from_rank0(obj: Any) -> Any:
    """``obj`` as rank 0 has it, on every rank (a collective: every rank must call it);
    ``obj`` itself outside torch.distributed."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return obj
    box = [obj if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
