"""The per-step function that checks, computes and writes every scheduled value.

`ParamScheduler.step()` runs once per optimizer update, so it must cost about
what the hand-written loop it replaces costs. A generic loop over (group, key,
tuple index) entries spends most of its time unpacking entries; instead, like
``dataclasses`` writes ``__init__``, we generate the straight-line code for one
plan once, at construction. Only integers and keys that passed
``naming.check_key_name`` (letters, digits, ``_ - .`` and spaces, written with
``repr``) enter the generated text.

It does three things in one pass, so that the check costs a few identity
comparisons and nothing else:

1. evaluate the schedules for update ``k`` (``_plan.evaluate``'s rule: each
   unique schedule once, times the base when relative) and check that every
   value is finite;
2. check that every group still holds what the scheduler wrote for the
   update that just ran (the object itself: a float it wrote, or the tensor
   it fills in place). Anything else means another code path changed the
   value ("drift"), and the caller takes the slow path, which reads the value
   the optimizer used;
3. write the new values: plain assignment for a number, ``fill_`` in place
   for a tensor, a new tuple for one element of a tuple.

The generated function, for unique schedules ``S``, entry ``i`` taking value
``S[sources[i]]`` (times ``B[i]`` when relative), ``P`` the values written at
the previous update and ``TS`` the tensors the tensor slots hold::

    def apply(groups, k, T, S, B, P, TS):
        u0 = S[0](k, T); ...
        values = [u0, u1, ..., u0 * B[3], ...]
        if not (isfinite(u0) and ...): return None        # caller reports which one
        g0 = groups[0]; c0 = g0['lr']; c1 = g0['betas'] ...
        if c0 is not P[0] or c1[0] is not P[1] or c2 is not TS[0] ...: return DRIFT
        g0['lr'] = values[0]                               # a number
        c = g0['betas']; g0['betas'] = (values[1],) + c[1:]   # one tuple element
        c2.fill_(values[2])                                # a tensor, in place
        return values
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

ApplyFunction = Callable[[list, int, int, Sequence, Sequence, Sequence, Sequence], "list[float] | object | None"]

# Slot kinds: what a param-group entry holds, decided when the plan is (re)installed.
VALUE, TENSOR = "value", "tensor"
DRIFT = object()  # returned when a group no longer holds what the scheduler wrote


def compile_apply(
    slots: Sequence[tuple[int, str, int | None]],
    kinds: Sequence[str],
    sources: Sequence[int],
    unique_count: int,
    relative: bool,
) -> ApplyFunction:
    """Generate ``apply(groups, k, T, S, B, P, TS)`` for one plan (see the module doc).

    ``slots[i]`` is (group index, field, tuple index or None) and ``kinds[i]``
    is ``VALUE`` or ``TENSOR`` (the tensor is ``TS[j]``, ``j`` counting tensor
    slots in order).
    """
    lines = ["def apply(groups, k, T, S, B, P, TS):"]
    lines += [f"    u{i} = S[{i}](k, T)" for i in range(unique_count)]
    if relative:
        items = [f"u{src} * B[{pos}]" for pos, src in enumerate(sources)]
        lines.append(f"    values = [{', '.join(items)}]")
        checked = [f"values[{pos}]" for pos in range(len(sources))]
    else:
        lines.append(f"    values = [{', '.join(f'u{src}' for src in sources)}]")
        checked = [f"u{i}" for i in range(unique_count)]
    lines.append(f"    if not ({' and '.join(f'isfinite({name})' for name in checked)}):")
    lines.append("        return None")
    # Read every slot once, and compare it with what was written last time.
    groups_used = sorted({group for group, _, _ in slots})
    lines += [f"    g{g} = groups[{g}]" for g in groups_used]
    drift_tests = []
    tensor_number = 0
    for pos, ((group, field, index), kind) in enumerate(zip(slots, kinds, strict=True)):
        lines.append(f"    c{pos} = g{group}[{field!r}]" + ("" if index is None else f"[{index}]"))
        if kind == TENSOR:
            drift_tests.append(f"c{pos} is not TS[{tensor_number}]")
            tensor_number += 1
        else:
            drift_tests.append(f"c{pos} is not P[{pos}]")
    lines.append(f"    if {' or '.join(drift_tests)}:")
    lines.append("        return DRIFT")
    for pos, ((group, field, index), kind) in enumerate(zip(slots, kinds, strict=True)):
        if kind == TENSOR:
            lines.append(f"    c{pos}.fill_(values[{pos}])")
        elif index is None:
            lines.append(f"    g{group}[{field!r}] = values[{pos}]")
        else:
            # Re-read: another slot may have just replaced this tuple (betas.0 and betas.1).
            head = f"c[:{index}] + " if index else ""
            lines.append(f"    c = g{group}[{field!r}]")
            lines.append(f"    if c.__class__ is tuple: g{group}[{field!r}] = {head}(values[{pos}],) + c[{index + 1}:]")
            lines.append(f"    else: g{group}[{field!r}] = [*c[:{index}], values[{pos}], *c[{index + 1}:]]")
    lines.append("    return values")
    namespace = {"isfinite": math.isfinite, "DRIFT": DRIFT}
    exec(compile("\n".join(lines), "<paramsched generated apply>", "exec"), namespace)  # noqa: S102
    return namespace["apply"]


def write_value(group: dict, field: str, index: int | None, value: float) -> None:
    """Write one value the slow way (any kind of entry): used when the plan is installed,
    on resume and after drift, never on the per-step path."""
    current = group[field] if index is None else group[field][index]
    if isinstance(current, torch.Tensor):
        with torch.no_grad():
            current.fill_(value)
        return
    if index is None:
        group[field] = value
        return
    items = list(group[field])
    items[index] = value
    group[field] = tuple(items) if isinstance(group[field], tuple) else items


def slot_kind(group: dict, field: str, index: int | None) -> str:
    """``TENSOR`` when the entry holds a tensor (written in place), else ``VALUE``."""
    current = group[field] if index is None else group[field][index]
    return TENSOR if isinstance(current, torch.Tensor) else VALUE
