"""`WandbSource`: W&B runs back into trajectories (``paramsched.replay.load``).

Accepted objects:

- a W&B offline run directory (``wandb/offline-run-<time>-<id>``, or
  ``wandb/latest-run``) or its ``run-<id>.wandb`` file, read without a
  server by :mod:`paramsched_wandb.reader`;
- ``"wandb://entity/project/run_id"``, read through ``wandb.Api()`` (it
  needs a reachable server and an API key from ``wandb login`` or
  ``WANDB_API_KEY``; ``?base_url=http://host:port`` and ``?timeout=<s>``
  can be appended);
- a ``wandb.apis.public.Run`` you already hold.

Where the values come from, first found first:

1. the run's files ``paramsched/values.csv`` (+ ``run.json``,
   ``events.jsonl``, ``metrics.csv``) that :class:`~paramsched_wandb.WandbRecorder`
   writes: every value, exact, whatever the chart policy (online: downloaded
   with the public API);
2. the history: rows with ``hp/<key>/<group>`` series, at the step of the
   row's ``hp/step`` (paramsched's chart rows) or ``trainer/global_step``
   (what paramsched's Lightning callback writes through Lightning's
   ``WandbLogger``);
3. with ``keymap=`` (a run paramsched did not record: ``"hf"``,
   ``"lightning"``, ``"auto"``, a dict), the history through
   :func:`paramsched.replay._columns.table_columns`, which owns the key map's
   names and step convention (Hugging Face logs update k at
   ``train/global_step`` k + 1).

A run recorded with ``step_mode="own"`` next to a user run keeps its values
in a companion run; loading the user's run follows
``config["paramsched_hp_run"]`` to it (an offline companion is looked up
beside the user's run directory). Events come from ``events.jsonl``, else
``config["paramsched_events"]``; metrics from ``metrics.csv`` and the
history's other numeric columns (``loss``, ...) of the run asked for.

An offline run still being written (read right after ``wandb.finish()``,
which returns before wandb-core writes the last records) is waited for, at
most ``wait`` seconds, until its exit record is there; what is read without
one says in ``traj.notes`` what is known (still being written, or not
changing: idle or stopped without finishing).

>>> import paramsched as ps                               # doctest: +SKIP
>>> traj = ps.replay.load("wandb/latest-run")             # doctest: +SKIP
>>> traj = ps.replay.load("wandb://me/demo/3k2j9x1a")      # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import socket
import tempfile
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramsched.checks import check_real, describe
from paramsched.events import check_event, supersede
from paramsched.naming import PREFIX, STEP_SERIES
from paramsched.runformat import EVENTS_FILE, METADATA_FILE, METRICS_FILE, VALUES_FILE

from .reader import find_run_file, read_offline_run, wait_settled
from .recorder import CONFIG_KEY, EVENTS_KEY, HP_RUN_KEY, METRIC_PREFIX
from .runfiles import FOLDER, PACKED_FILE, read_packed

if TYPE_CHECKING:
    import pandas as pd

    from paramsched.replay.trajectory import Trajectory

__all__ = ["WandbSource", "parse_wandb_uri"]

SCHEME = "wandb://"
DEFAULT_TIMEOUT = 30
#: Seconds an offline run without its exit record is waited for (while it keeps changing).
DEFAULT_WAIT = 10.0
# The step of a paramsched series in a history row: paramsched's own rows, then what
# paramsched's Lightning callback writes through Lightning's WandbLogger.
HP_STEP_COLUMNS = (STEP_SERIES, "trainer/global_step")
# Step columns of W&B runs written by other tools, tried after the keymap's own.
WANDB_STEP_COLUMNS = ("trainer/global_step", "train/global_step", "_step")
# History keys that are never metrics.
_NOT_METRICS = frozenset({"trainer/global_step", "train/global_step", "global_step", STEP_SERIES})


def parse_wandb_uri(uri: str) -> tuple[str, str, str, dict[str, str]]:
    """Split ``"wandb://entity/project/run_id?base_url=...&timeout=..."``.

    >>> parse_wandb_uri("wandb://me/demo/3k2j9x1a?timeout=5")
    ('me', 'demo', '3k2j9x1a', {'timeout': '5'})
    """
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a string 'wandb://entity/project/run_id', got uri={describe(uri)}")
    if not uri.startswith(SCHEME):
        raise ValueError(f"uri must start with 'wandb://' (wandb://entity/project/run_id), got uri={uri!r}")
    rest, _, query = uri[len(SCHEME):].partition("?")
    parts = rest.strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(
            f"uri must look like 'wandb://entity/project/run_id' (three non-empty parts), got uri={uri!r}"
        )
    options = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(options) - {"base_url", "timeout"})
    if unknown:
        raise ValueError(f"uri options may be base_url and timeout, got {', '.join(unknown)} in uri={uri!r}")
    return parts[0], parts[1], parts[2], options


class WandbSource:
    """Replay source ``wandb``: offline run directories / files and ``wandb://`` runs."""

    name = "wandb"
    accepts = "a W&B offline run directory or run-<id>.wandb file, 'wandb://entity/project/run_id'"

    def claims(self, obj: Any) -> bool:
        """True for ``wandb://`` strings, offline run files/directories and public-API runs."""
        if isinstance(obj, str) and obj.startswith(SCHEME):
            return True
        if isinstance(obj, (str, os.PathLike)):
            path = Path(obj)
            if path.is_file():
                return path.suffix == ".wandb"
            return path.is_dir() and any(path.glob("*.wandb"))
        return _is_api_run(obj)

    def load(
        self,
        obj: Any,
        *,
        keymap: Any = None,
        step_column: str | None = None,
        timeout: float | None = None,
        wait: float = DEFAULT_WAIT,
    ) -> Trajectory:
        """Read ``obj`` into a :class:`~paramsched.replay.Trajectory`.

        ``keymap`` reads a run that paramsched did not record (``"hf"`` for
        Hugging Face Trainer's ``train/learning_rate``, ``"auto"``, ...); its
        step is the keymap's step column, else ``trainer/global_step``,
        ``train/global_step`` or W&B's ``_step``, or ``step_column`` when
        given. ``timeout`` (seconds) bounds each ``wandb.Api`` request;
        ``wait`` (seconds) bounds the wait for an offline run still being written.
        """
        if step_column is not None and keymap is None:
            raise ValueError(
                f"step_column applies to runs read through keymap=; a paramsched run's step is "
                f"'{STEP_SERIES}', got step_column={step_column!r}"
            )
        wait = check_real("wait", wait)
        if not wait >= 0:
            raise ValueError(f"wait must be a number of seconds >= 0, got wait={wait!r}")
        if isinstance(obj, str) and obj.startswith(SCHEME):
            return self._load_uri(obj, keymap=keymap, step_column=step_column, timeout=timeout)
        if _is_api_run(obj):
            return _from_api_run(obj, api=None, keymap=keymap, step_column=step_column, label=f"wandb run {obj.path}")
        if isinstance(obj, (str, os.PathLike)):
            return _from_offline(Path(obj), keymap=keymap, step_column=step_column, wait=wait)
        raise TypeError(
            f"the wandb source reads an offline run path, a 'wandb://entity/project/run_id' string "
            f"or a wandb.apis.public.Run, got {describe(obj)}"
        )

    # -- online -------------------------------------------------------------------------

    def _load_uri(self, uri: str, *, keymap: Any, step_column: str | None, timeout: float | None) -> Trajectory:
        entity, project, run_id, options = parse_wandb_uri(uri)
        if "timeout" in options:
            try:
                timeout = float(options["timeout"])
            except ValueError:
                raise ValueError(f"timeout in uri must be a number of seconds, got timeout={options['timeout']!r}") from None
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, got timeout={timeout!r}")
        import wandb

        overrides = {"base_url": options["base_url"]} if options.get("base_url") else None
        where = options.get("base_url") or "the configured W&B server"
        seconds = float(timeout or DEFAULT_TIMEOUT)
        _check_reachable(options.get("base_url") or _configured_base_url(), uri, seconds)
        try:
            api = wandb.Api(timeout=int(seconds) or 1, overrides=overrides)
            run = api.run(f"{entity}/{project}/{run_id}")
            return _from_api_run(run, api=api, keymap=keymap, step_column=step_column, label=uri)
        except wandb.errors.Error as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "no details"
            raise ConnectionError(
                f"wandb source: cannot load {uri!r} from {where} ({type(exc).__name__}: {first_line}); {_NEEDS}"
            ) from exc


_NEEDS = (
    "it needs a reachable W&B server and an API key (wandb login or WANDB_API_KEY). "
    "An offline run needs no server: pass its wandb/offline-run-* directory instead"
)


def _configured_base_url() -> str | None:
    """The server ``wandb.Api()`` would ask: ``WANDB_BASE_URL``, else wandb's settings file.

    ``None`` when this wandb keeps its settings elsewhere (then nothing is checked up front).
    """
    try:
        from wandb import env
        from wandb.sdk import wandb_setup

        return env.get_base_url(wandb_setup.singleton().settings.base_url)
    except Exception:  # noqa: BLE001 - an internal of wandb moved: skip the early check
        return None


def _check_reachable(base_url: str | None, uri: str, timeout: float) -> None:
    """Raise ``ConnectionError`` when nothing accepts a connection at ``base_url``.

    Why check before ``wandb.Api()``: it hands each request to its ``wandb-core``
    process, which retries a refused connection while the Python side gives up
    after ``timeout``. In wandb 0.31 that cancelled request races with a
    following ``wandb.teardown()``: about one teardown in ten then waits out
    wandb-core's 10-minute idle timeout (4 in 40 here; none in 16 when the
    interpreter's exit hook tears down instead). A server that cannot be reached
    never gets that far. Behind a proxy the proxy decides what is reachable, so
    nothing is checked.
    """
    parts = urllib.parse.urlsplit(base_url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or _proxied(parts.scheme, parts.hostname):
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return  # a malformed port: let wandb report it
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(
            f"wandb source: cannot load {uri!r}: nothing answers at {parts.hostname}:{port} "
            f"(the server of {base_url}: {type(exc).__name__}: {exc}); {_NEEDS}"
        ) from exc


def _proxied(scheme: str, host: str) -> bool:
    if os.environ.get("WANDB__PROXIES") or os.environ.get("WANDB_HTTP_PROXY") or os.environ.get("WANDB_HTTPS_PROXY"):
        return True
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


# -- offline -------------------------------------------------------------------------------


def _from_offline(path: Path, *, keymap: Any, step_column: str | None, wait: float) -> Trajectory:
    file = find_run_file(path)
    run, notes = _read_settled(file, wait)
    label = os.fspath(file)
    asked = run
    hp_run = run.config.get(HP_RUN_KEY)
    if isinstance(hp_run, str) and hp_run and hp_run != run.run_id and keymap is None:
        companion = _find_offline_companion(file, hp_run)
        if companion is None:
            raise FileNotFoundError(
                f"{label}: the values of this run were recorded in the companion run {hp_run!r} "
                f"(config[{HP_RUN_KEY!r}]), but no run directory ending in '-{hp_run}' is "
                f"beside it in {os.fspath(file.parent.parent)!r}; pass that run's directory"
            )
        run, more = _read_settled(companion, wait)
        notes += more
        label = os.fspath(companion)
        file = companion
    folder = _values_folder(file)
    exact = None
    if folder is not None and keymap is None:
        exact = _read_folder(folder, run.config)
        # A resumed directory written by this version holds the whole run (the recorder copies
        # the steps before the resume from the earlier directory); one written before holds
        # only its own steps, and its run.json is the resumed scheduler's document.
        partial = exact.metadata is not None and exact.metadata.get("resumed_from_step") is not None
        earlier = _earlier_segments(file, run.run_id) if partial else []
        if earlier:
            # A resumed offline run (wandb.init(id=..., resume=...)) is one more directory with
            # the same run id: read them all, in order, as W&B does once they are synced.
            exact = _join_segments([*earlier, exact])
    return _assemble(
        config=run.config,
        history=run.history,
        asked_history=asked.history,
        exact=exact,
        label=label,
        keymap=keymap,
        step_column=step_column,
        notes=notes,
    )


def _values_folder(file: Path) -> Path | None:
    folder = file.parent / "files" / FOLDER
    return folder if (folder / PACKED_FILE).is_file() or (folder / VALUES_FILE).is_file() else None


def _read_folder(folder: Path, config: Mapping[str, Any]) -> Trajectory:
    """The values folder of a run (``values.f64``, else ``values.csv``), with the metadata of
    its config (else its run.json), its events and metrics."""
    from paramsched.replay.sources.csv import CsvSource
    from paramsched.replay.trajectory import Trajectory

    document = config.get(CONFIG_KEY)
    if not (folder / PACKED_FILE).is_file():
        exact = CsvSource().load(folder)
        metadata = dict(document) if isinstance(document, Mapping) else exact.metadata
        return Trajectory(exact.frame, metadata, exact.source, notes=exact.notes, events=exact.events, metrics=exact.metrics)
    from paramsched.runformat import read_metadata

    # run.json first: a resumed run's folder holds the original document with its resumes
    metadata = read_metadata(folder / METADATA_FILE)
    if metadata is None and isinstance(document, Mapping):
        metadata = dict(document)
    return _read_packed_folder(folder, metadata)


def _read_packed_folder(folder: Path, metadata: dict[str, Any] | None) -> Trajectory:
    import pandas as pd

    from paramsched.replay._columns import table_columns
    from paramsched.replay.trajectory import Trajectory
    from paramsched.runformat import read_events, read_metrics

    path = folder / PACKED_FILE
    label = os.fspath(path)
    steps, values, series, cut = read_packed(path)
    notes = []
    if cut:
        notes.append(
            f"{label} ends inside a record ({cut} byte(s) after the last whole one: its writer stopped "
            f"mid-write); the {len(steps)} whole record(s) before it were read"
        )
    table = pd.DataFrame({"step": steps, **{name: values[:, i] for i, name in enumerate(series)}})
    frame, more = table_columns(table, source=label, step_column="step", metadata=metadata)
    events, event_notes = read_events(folder / EVENTS_FILE, label)
    metrics = read_metrics(folder / METRICS_FILE, label)
    return Trajectory(frame, metadata, label, notes=[*notes, *event_notes, *more], events=events, metrics=metrics)


def _earlier_segments(file: Path, run_id: str) -> list[Trajectory]:
    """The values of the other offline directories of run ``run_id`` that sort before
    ``file``'s (their names start with the time they were made), oldest first."""
    if not run_id:
        return []
    here = file.parent
    out = []
    for other in sorted(p for p in here.parent.glob(f"*-{run_id}") if p.is_dir() and p.name < here.name):
        try:
            other_file = find_run_file(other)
        except (FileNotFoundError, ValueError):
            continue
        folder = _values_folder(other_file)
        if folder is not None:
            out.append(_read_folder(folder, read_offline_run(other_file, warn=False).config))
    return out


def _join_segments(segments: list[Trajectory]) -> Trajectory:
    """The segments of one run (a run and its resumes), in order, as one trajectory.

    A later segment's value of a step replaces an earlier one's (as a resumed
    CSV run's rows do); events are read in order and superseded; the metadata
    is the first segment's, with a ``"resumes"`` entry per later segment.
    """
    from paramsched.replay._columns import gap_notes
    from paramsched.replay.trajectory import Trajectory

    first = segments[0]
    metadata = dict(first.metadata) if first.metadata is not None else None
    if metadata is not None:
        resumes = list(metadata.get("resumes") or [])
        for later in segments[1:]:
            doc = later.metadata or {}
            if doc.get("resumed_from_step") is not None:
                resumes.append({"at_step": doc["resumed_from_step"], "created_at": doc.get("created_at")})
        metadata["resumes"] = resumes
    frame, metrics = first.frame, first.metrics
    for later in segments[1:]:
        if sorted(later.frame.columns) != sorted(frame.columns):
            raise ValueError(
                f"{later.source}: its series {list(later.frame.columns)} differ from those of an earlier "
                f"directory of the same W&B run ({first.source}: {list(frame.columns)})"
            )
        frame = later.frame.combine_first(frame)[list(frame.columns)]
        if later.metrics is not None:
            metrics = later.metrics if metrics is None else later.metrics.combine_first(metrics)
    frame.index.name = "step"
    if metrics is not None:
        metrics.index.name = "step"
    events = supersede(e for segment in segments for e in segment.events)
    notes = [
        f"read {len(segments)} offline directories of this W&B run (a run resumed with the same id), in order",
        *gap_notes(frame, metadata=metadata),
    ]
    return Trajectory(frame, metadata, segments[-1].source, notes=notes, events=events, metrics=metrics)


def _read_settled(file: Path, wait: float) -> tuple[Any, list[str]]:
    """Read an offline run once its exit record is there (waiting at most ``wait`` s), with notes."""
    state = wait_settled(file, wait)
    run = read_offline_run(file, warn=False)
    if run.finished:
        return run, []
    shown = os.fspath(file)
    if state == "writing" and wait == 0:
        what = ("has no exit record yet and was changing when it was read (wait=0: not waited for); "
                "it may still be being written; the records complete so far were read")
    elif state == "writing":
        what = (f"is still being written (it kept changing for the {wait:g} s waited); "
                "the records complete so far were read")
    else:
        what = ("has no exit record and is not changing: the run is open but idle, or its process "
                "ended without finishing it; the complete records were read")
    if run.truncated:
        what += " (its last record is cut short)"
    warnings.warn(f"W&B offline run {shown!r} {what}", RuntimeWarning, stacklevel=4)
    return run, [f"the W&B run file {what}"]


def _find_offline_companion(file: Path, run_id: str) -> Path | None:
    root = file.parent.parent
    matches = sorted(p for p in root.glob(f"*-{run_id}") if p.is_dir() and any(p.glob("*.wandb")))
    return find_run_file(matches[-1]) if matches else None


# -- public API ----------------------------------------------------------------------------


def _is_api_run(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Run" and cls.__module__.startswith("wandb.apis.public")


def _from_api_run(run: Any, *, api: Any, keymap: Any, step_column: str | None, label: str) -> Trajectory:
    asked_rows = list(run.scan_history(page_size=1000))
    config = dict(run.config or {})
    hp_run = config.get(HP_RUN_KEY)
    values_run = run
    if isinstance(hp_run, str) and hp_run and hp_run != run.id and keymap is None:
        if api is None:
            import wandb

            api = wandb.Api()
        entity, project = run.entity, run.project
        values_run = api.run(f"{entity}/{project}/{hp_run}")
        label = f"{label} -> wandb://{entity}/{project}/{hp_run}"
        config = dict(values_run.config or {})
    with tempfile.TemporaryDirectory(prefix="paramsched-wandb-") as scratch:
        folder = _download_run_files(values_run, Path(scratch)) if keymap is None else None
        exact = _read_folder(folder, config) if folder is not None else None
        if values_run is run:
            history = asked_rows
        else:
            history = [] if exact is not None else list(values_run.scan_history(page_size=1000))
        return _assemble(
            config=config,
            history=history,
            asked_history=asked_rows,
            exact=exact,
            label=label,
            keymap=keymap,
            step_column=step_column,
            notes=[],
        )


def _download_run_files(run: Any, root: Path) -> Path | None:
    """Download ``paramsched/*`` of a run into ``root``; the folder, or None when the run has no values file."""
    names = [f"{FOLDER}/{name}" for name in (PACKED_FILE, VALUES_FILE, METADATA_FILE, EVENTS_FILE, METRICS_FILE)]
    found = {f.name: f for f in run.files(names=names)}
    if f"{FOLDER}/{VALUES_FILE}" not in found and f"{FOLDER}/{PACKED_FILE}" not in found:
        return None
    for item in found.values():
        item.download(root=os.fspath(root), replace=True)
    return root / FOLDER


# -- rows -> trajectory --------------------------------------------------------------------


def _assemble(
    *,
    config: Mapping[str, Any],
    history: list[Mapping[str, Any]],
    asked_history: list[Mapping[str, Any]],
    exact: Trajectory | None,
    label: str,
    keymap: Any,
    step_column: str | None,
    notes: list[str],
) -> Trajectory:
    from paramsched.replay.trajectory import Trajectory

    metadata = config.get(CONFIG_KEY)
    metadata = dict(metadata) if isinstance(metadata, Mapping) else None
    if keymap is not None:
        from paramsched.replay.keymaps import informed_keymap

        # A Trainer run puts its model config in the run config: the version decides HF's step convention.
        keymap = informed_keymap(keymap, transformers_version=config.get("transformers_version"))
        traj = _foreign(history, metadata, label, keymap=keymap, step_column=step_column)
        return Trajectory(
            traj.frame, traj.metadata, label, notes=[*notes, *traj.notes], events=_config_events(config, label),
            metrics=traj.metrics,
        )
    if exact is not None:
        metadata = exact.metadata
        events = list(exact.events) or _config_events(config, label)
        metrics = _join_metrics(exact.metrics, _history_metrics(asked_history))
        notes = [*notes, *exact.notes, *_charted_beyond(history, exact.frame)]
        frame = _in_order(exact.frame, metadata)
        return Trajectory(frame, metadata, label, notes=notes, events=events, metrics=metrics)
    traj = _from_history(history, metadata, label)
    metrics = _join_metrics(traj.metrics, _history_metrics(asked_history))
    return Trajectory(
        _in_order(traj.frame, metadata), metadata, label, notes=[*notes, *traj.notes],
        events=_config_events(config, label), metrics=metrics,
    )


def _from_history(rows: list[Mapping[str, Any]], metadata: Mapping[str, Any] | None, label: str) -> Trajectory:
    """paramsched series from history rows, at each row's ``hp/step`` (or ``trainer/global_step``)."""
    import pandas as pd

    from paramsched.replay.trajectory import Trajectory

    series = [r for r in rows if any(k.startswith(PREFIX) and k != STEP_SERIES for k in r)]
    if not series:
        raise ValueError(
            f"{label}: no paramsched series ('hp/<key>/<group>' with '{STEP_SERIES}') in the run "
            "history; for a run paramsched did not record pass keymap='hf', keymap='lightning', "
            "keymap='auto' or a dict"
        )
    for row in series:
        if not any(row.get(c) is not None for c in HP_STEP_COLUMNS):
            name = next(k for k in row if k.startswith(PREFIX) and k != STEP_SERIES)
            raise ValueError(
                f"{label}: the row at W&B _step={row.get('_step')!r} holds {name!r} but no "
                f"{STEP_SERIES!r}; was it logged by paramsched? (pass keymap= for other logs)"
            )
    column = next(c for c in HP_STEP_COLUMNS if any(r.get(c) is not None for r in series))
    kept = [_scalars(r) for r in rows if r.get(column) is not None]
    table = pd.DataFrame(kept)
    if column != STEP_SERIES and STEP_SERIES in table.columns:
        table = table.drop(columns=[STEP_SERIES])
    return Trajectory.from_wide(table, metadata, label, step_column=column)


def _foreign(
    rows: list[Mapping[str, Any]], metadata: Any, label: str, *, keymap: Any, step_column: str | None
) -> Trajectory:
    """A run paramsched did not record, read through ``keymap`` (rows without the step are skipped)."""
    import pandas as pd

    from paramsched.replay._columns import table_columns
    from paramsched.replay.keymaps import choose_keymap
    from paramsched.replay.trajectory import Trajectory

    columns = list(dict.fromkeys(key for row in rows for key in row))
    chosen = step_column
    if chosen is None:
        km, _ = choose_keymap(keymap, columns, source=label)
        own = next((c for c in km.step_columns if c in columns), None)
        chosen = own or next((c for c in WANDB_STEP_COLUMNS if c in columns), None)
        if chosen is None:
            candidates = [*km.step_columns, *WANDB_STEP_COLUMNS]
            raise ValueError(f"{label}: no step column; expected one of {candidates}, got columns {columns}")
    elif chosen not in columns:
        raise ValueError(f"{label}: step_column={chosen!r} is not in the run history; columns: {columns}")
    kept = [_scalars(row) for row in rows if row.get(chosen) is not None]
    table = pd.DataFrame(kept)
    frame, notes, metrics = table_columns(
        table, source=label, keymap=keymap, step_column=chosen, with_metrics=True, metadata=metadata
    )
    return Trajectory(frame, metadata, label, notes=notes, metrics=metrics)


def _scalars(row: Mapping[str, Any]) -> dict[str, Any]:
    """A history row without its media, tables and other non-scalar values."""
    return {k: v for k, v in row.items() if v is None or isinstance(v, (int, float, str))}


def _history_metrics(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame | None:
    """The numeric non-``hp/`` columns of history rows (``loss``, ...), by step.

    A row's step is its ``hp/step`` (paramsched's rows), else
    ``trainer/global_step`` (Lightning), else W&B's ``_step``. A non-finite
    value counts as not logged. paramsched's chart of ``record_metrics``
    (``metric/<name>``) is read as ``<name>``.
    """
    import numpy as np
    import pandas as pd

    steps: list[int] = []
    names: list[str] = []
    values: list[float] = []
    for row in rows:
        step = row.get(STEP_SERIES)
        if step is None:
            step = row.get("trainer/global_step", row.get("_step"))
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            continue
        for name, value in row.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or name.startswith(("_", PREFIX, "paramsched/"))
                or name in _NOT_METRICS
                or not math.isfinite(value)
            ):
                continue
            steps.append(step)
            names.append(name[len(METRIC_PREFIX):] if name.startswith(METRIC_PREFIX) else name)
            values.append(float(value))
    if not values:
        return None
    long = pd.DataFrame({"step": steps, "name": names, "value": values})
    wide = long.drop_duplicates(["step", "name"], keep="last").pivot(index="step", columns="name", values="value")
    wide = wide.sort_index().astype(np.float64)
    wide.index = wide.index.astype(np.int64)
    wide.index.name = "step"
    wide.columns = [str(c) for c in wide.columns]
    wide.columns.name = None
    return wide


def _join_metrics(exact: pd.DataFrame | None, logged: pd.DataFrame | None) -> pd.DataFrame | None:
    """``exact`` (the values file's metrics) where it has a value, else the history's."""
    if exact is None or logged is None:
        return exact if logged is None else logged
    joined = exact.combine_first(logged)
    joined.index.name = "step"
    return joined[[*exact.columns, *[c for c in logged.columns if c not in exact.columns]]]


def _config_events(config: Mapping[str, Any], label: str) -> list[dict[str, Any]]:
    """Events from ``config["paramsched_events"]`` (superseded ones dropped)."""
    raw = config.get(EVENTS_KEY)
    if not isinstance(raw, list):
        return []
    return supersede(check_event(e, f"{label}: config[{EVENTS_KEY!r}][{i}]") for i, e in enumerate(raw))


def _charted_beyond(history: list[Mapping[str, Any]], frame: pd.DataFrame) -> list[str]:
    """A note when the chart reaches further than the values file (its last rows were lost)."""
    steps = [r[STEP_SERIES] for r in history if isinstance(r.get(STEP_SERIES), int)]
    if not steps or not len(frame):
        return []
    last_file, last_chart = int(frame.index[-1]), max(steps)
    if last_chart <= last_file:
        return []
    return [
        f"the chart in the run history reaches step {last_chart} but {FOLDER}/{VALUES_FILE} stops at "
        f"step {last_file} (its writer was stopped before its last write)"
    ]


def _in_order(frame: pd.DataFrame, metadata: Mapping[str, Any] | None) -> pd.DataFrame:
    """The frame's series in the recorded order (W&B does not keep the order of a row's keys)."""
    order = metadata.get("series") if metadata is not None else None
    if isinstance(order, list) and sorted(order) == sorted(frame.columns) and order != list(frame.columns):
        return frame[order]
    return frame
