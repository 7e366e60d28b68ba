"""The per-step function that computes and writes every scheduled value.

`ParamScheduler.step()` runs once per optimizer update, so it must cost about
what the hand-written loop it replaces costs. A generic loop over (group, key,
tuple index) entries spends most of its time unpacking entries; instead, like
``dataclasses`` writes ``__init__``, we generate the straight-line code for one
plan once, at construction. Only integers and keys that passed
``naming.check_key_name`` (letters, digits, ``_ - .`` and spaces, written with
``repr``) enter the generated text.

The generated function, for a plan whose unique schedules are ``S`` and whose
entries take value ``i`` from ``S[sources[i]]`` (times ``B[i]`` when relative)::

    def apply(groups, k, T, S, B):
        u0 = S[0](k, T); ...
        if not (isfinite(u0) and ...): return None       # caller reports which one
        values = [u0, u1, ..., u0 * B[3], ...]
        g = groups[0]; c = g['lr']                        # then, per entry: write
        if c.__class__ is float or not isinstance(c, Tensor): g['lr'] = values[0]
        else: c.fill_(values[0])                          # tensors in place
        ...
        return values
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

ApplyFunction = Callable[[list, int, int, Sequence, Sequence], "list[float] | None"]


def compile_apply(
    slots: Sequence[tuple[int, str, int | None]], sources: Sequence[int], unique_count: int, relative: bool
) -> ApplyFunction:
    """Generate ``apply(groups, k, T, schedules, bases)`` for one plan (see the module doc)."""
    lines = ["def apply(groups, k, T, S, B):"]
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
    current_group = None
    for pos, (group_index, field, index) in enumerate(slots):
        key = repr(field)
        if group_index != current_group:
            lines.append(f"    g = groups[{group_index}]")
            current_group = group_index
        lines.append(f"    c = g[{key}]")
        if index is None:
            lines.append(f"    if c.__class__ is float or not isinstance(c, Tensor): g[{key}] = values[{pos}]")
            lines.append(f"    else: c.fill_(values[{pos}])")
        else:
            lines.append(f"    e = c[{index}]")
            lines.append(f"    if e.__class__ is not float and isinstance(e, Tensor): e.fill_(values[{pos}])")
            head = f"c[:{index}] + " if index else ""
            lines.append(f"    elif c.__class__ is tuple: g[{key}] = {head}(values[{pos}],) + c[{index + 1}:]")
            lines.append(f"    else: g[{key}] = [*c[:{index}], values[{pos}], *c[{index + 1}:]]")
    lines.append("    return values")
    namespace = {"isfinite": math.isfinite, "Tensor": torch.Tensor}
    exec(compile("\n".join(lines), "<paramsched generated apply>", "exec"), namespace)  # noqa: S102
    return namespace["apply"]
