"""`WandbRecorder`: every applied value to Weights & Biases, never moving the user's step.

**What is kept and what is charted.** Every recorded value, event and
metric is kept exactly in the run's files: ``paramsched/values.f64`` (packed
float64 records, appended as the run goes: about a microsecond a row, where
CSV text costs twenty), finalised at ``close()`` as ``values.csv`` beside
``run.json``, ``events.jsonl`` and ``metrics.csv`` (paramsched's CSV run
format), uploaded by W&B; see :mod:`paramsched_wandb.runfiles`. That is what
replay reads. The run's
history gets a thinned stream for the charts (:mod:`paramsched_wandb.chart`):
the first and last steps, every phase boundary and event, every step where a
value moved by more than ``chart_change`` of its scale, and at least every
``chart_every`` steps (100 by default; ``chart_every=1`` charts every step).
The policy is stored in ``config["paramsched_chart"]`` (with the names of
the values files). A W&B history row
costs the training process about 0.3-1 ms of CPU under the GIL (plus as much
in wandb-core), which is why every step is not charted by default.

**Your W&B step is never moved.** W&B keeps one history row per step and
drops (with only a warning) any row logged at a step lower than its current
one. Whoever passes ``step=`` to ``wandb.log`` owns the run's step, and any
other writer that commits rows moves it. Measured with wandb 0.31 (offline
mode, 200-2000 steps), a background thread logging into the user's run,
while the user logs with ``step=i``:

- ``log(row)`` (commit): the user's later ``log(..., step=i)`` calls fall
  below the moved step and are dropped ("Steps must be monotonically
  increasing, so this data will be ignored", 183 times in 200 steps);
- ``log(row, commit=False)``: the user's step never moves, but the values
  merge into whatever row is open, so two scheduler steps that fall into
  one user row overwrite each other (16 of 2000 rows lost to thread timing
  alone, 160 of 200 when the user logs every 5 steps).

So the chart rows go where paramsched owns the step, or into the user's
rows on the training thread. Two modes:

``step_mode="own"`` (default, off the training thread)
    Chart rows ``{"hp/step": k, "hp/<key>/<group>": value, ...}`` are
    committed (never ``step=``) to a run whose step paramsched owns, with
    ``define_metric("hp/*", step_metric="hp/step")`` so charts use the
    optimizer step as x-axis. Without an active user run, that is the run
    this recorder creates (``project``, ``entity``, ``name``, ``dir``,
    ``mode``, ``init_kwargs``). With an active user run (``wandb.run``, or
    ``run=``), it is a companion run created next to it (same project,
    entity, mode and directory; group = the user's group or run id; name
    ``<user run name>-paramsched``; ``job_type="paramsched"``), and the
    user's run gets ``config["paramsched_hp_run"] = <companion id>`` so
    :class:`~paramsched_wandb.WandbSource` finds the values from either run
    (the metadata goes to both configs). The run is opened, written and
    finished on a worker thread (see
    :class:`~paramsched.recording.BackgroundRecorder`): the training thread
    only enqueues; a failing backend warns once, spools and retries.

``step_mode="merge"`` (the user's own run)
    Chart rows go into the user's run with ``run.log(..., commit=False)``
    on the training thread: they join the user's open row and go out with
    the user's next commit, so the user's step is never moved. The values of
    step ``k`` are merged at the next ``record()`` (the last ones at
    ``close()``): in the usual loop (``sched.step()`` then
    ``wandb.log(..., step=k)``) they land in the user's row ``k``. W&B keeps
    one value per key per row, so when two charted steps fall into one user
    row the chart keeps the later (the recorder warns once and counts them
    in ``overwritten_steps``); the values file keeps both. The values file is
    written by the worker thread. Needs an active run.

A run whose metadata has a ``"parent"`` (a branch: :attr:`Trajectory.lineage
<paramsched.replay.Trajectory.lineage>`) goes in the parent's W&B group: the
group the parent's lineage names, else the group read from the parent's
offline run, else the parent's run id. The lineage itself is in
``config["paramsched"]["parent"]``.

Events (:mod:`paramsched.events`) go to ``events.jsonl``, to
``config["paramsched_events"]`` (the latest 200), to
``summary["paramsched/event_count"]``, and, at ``close()``, to a
``wandb.Table`` logged as ``paramsched/events``. Metrics passed to
``record_metrics`` go to ``metrics.csv`` and, in ``"own"`` mode, to the
chart as ``metric/<name>`` at least every ``chart_every`` steps (the source
reads them back as ``traj.metrics[<name>]``).

Metadata goes to ``run.config["paramsched"]`` (the paramsched run document;
never environment variables or credentials). With ``world_size > 1`` and
every rank recording, the run name carries ``-rank<r>``.

>>> import paramsched as ps                                  # doctest: +SKIP
>>> sched = ps.ParamScheduler(opt, {"lr": ps.Cosine(1e-3, 0.0)}, total_steps=1000,
...                           recorders=[WandbRecorder(project="demo")])  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from paramsched.checks import check_choice, describe
from paramsched.naming import STEP_SERIES
from paramsched.recording.background import BackgroundRecorder
from paramsched.recording.base import RunMetadata
from paramsched.runformat import METADATA_FILE, VALUES_FILE, utc_now

from .chart import DEFAULT_CHANGE, DEFAULT_EVERY, ChartPolicy, Thinner, phase_steps, series_scales
from .runfiles import FOLDER, PACKED_FILE, RunFiles

__all__ = [
    "CHART_KEY",
    "CONFIG_KEY",
    "EVENTS_KEY",
    "EVENTS_TABLE",
    "HP_RUN_KEY",
    "METRIC_PREFIX",
    "PARENT_RUN_KEY",
    "STEP_MODES",
    "WandbRecorder",
]

STEP_MODES = ("own", "merge")
MODES = ("online", "offline", "disabled")
CONFIG_KEY = "paramsched"
HP_RUN_KEY = "paramsched_hp_run"
PARENT_RUN_KEY = "paramsched_parent_run"
CHART_KEY = "paramsched_chart"
EVENTS_KEY = "paramsched_events"
EVENTS_TABLE = "paramsched/events"
EVENT_COUNT = "paramsched/event_count"
#: Training metrics (``record_metrics``) are charted as ``metric/<name>``.
METRIC_PREFIX = "metric/"
#: The most events kept in ``config["paramsched_events"]`` (all of them are in events.jsonl).
CONFIG_EVENTS = 200
_RUN_OPTIONS = ("project", "entity", "name", "dir", "mode", "init_kwargs")
# wandb.init arguments this recorder sets itself.
_RESERVED_INIT = ("project", "entity", "name", "dir", "mode", "config", "reinit")
_NAN = float("nan")


class WandbRecorder(BackgroundRecorder):
    """Record every applied value to a W&B run (see the module docstring for the two step modes).

    Args:
        project, entity, name, dir, mode: ``wandb.init`` options for the run
            this recorder creates (``step_mode="own"``). With an active user
            run they default to that run's project, entity, directory and
            mode; ``name`` defaults to ``<user run name>-paramsched``.
            ``mode`` is ``"online"``, ``"offline"`` or ``"disabled"``.
        step_mode: ``"own"`` (default) or ``"merge"``.
        run: the user's run to attach to; default ``wandb.run`` at ``start()``.
        init_kwargs: further ``wandb.init`` arguments (``group``, ``tags``,
            ``id``, ``resume``, ``settings``...), ``step_mode="own"`` only.
        chart_every: chart at least every ``chart_every`` steps (1: every
            step); every value is kept in ``paramsched/values.csv`` anyway.
        chart_change: also chart a step where a value moved by more than this
            fraction of its scale since the last charted step.
        on_error, spool_dir, max_batch, retry_interval, close_timeout, max_queue:
            see :class:`~paramsched.recording.BackgroundRecorder`.

    Attributes:
        run: the run the values go to (``None`` until it is open: in
            ``"own"`` mode it is opened on the worker thread, so call
            :meth:`flush` first when you need it right after ``start()``).
        files: the :class:`~paramsched_wandb.runfiles.RunFiles` of that run.

    >>> WandbRecorder(project="demo", mode="offline")
    WandbRecorder(step_mode='own', project='demo', chart_every=100, state='new')
    """

    name = "wandb"
    stores_events = True
    stores_metrics = True
    #: Seconds the worker gathers chart rows before it logs them (back-to-back
    #: ``run.log`` calls cost about a quarter of isolated ones).
    chart_interval: float = 2.0
    #: Chart rows that make the worker log at once, whatever the interval.
    chart_burst: int = 256
    #: The idle worker looks at the queue twice a second (``flush()`` and ``close()`` wake it at
    #: once; ``max_batch`` queued values too): fewer, larger batches cost the training process
    #: less per row (each batch pays a fixed few tens of microseconds of numpy and a write).
    wake_interval: float = 0.5

    def __init__(
        self,
        project: str | None = None,
        *,
        entity: str | None = None,
        name: str | None = None,
        dir: str | os.PathLike[str] | None = None,
        mode: str | None = None,
        step_mode: str = "own",
        run: Any = None,
        init_kwargs: Mapping[str, Any] | None = None,
        chart_every: int = DEFAULT_EVERY,
        chart_change: float = DEFAULT_CHANGE,
        on_error: str = "warn",
        spool_dir: str | os.PathLike[str] | None = None,
        max_batch: int = 10_000,
        retry_interval: float = 2.0,
        close_timeout: float = 30.0,
        max_queue: int = 10_000,
    ) -> None:
        super().__init__(
            on_error=on_error,
            spool_dir=spool_dir,
            max_batch=max_batch,
            retry_interval=retry_interval,
            close_timeout=close_timeout,
            max_queue=max_queue,
        )
        for option, value in (("project", project), ("entity", entity), ("name", name)):
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{option} must be a non-empty string or None, got {option}={describe(value)}")
        if dir is not None and not isinstance(dir, (str, os.PathLike)):
            raise TypeError(f"dir must be a path (str or os.PathLike) or None, got dir={describe(dir)}")
        if mode is not None:
            check_choice("mode", mode, MODES)
        self.step_mode = check_choice("step_mode", step_mode, STEP_MODES)
        if run is not None and not (callable(getattr(run, "log", None)) and hasattr(run, "config")):
            raise TypeError(f"run must be a wandb Run (from wandb.init()) or None, got run={describe(run)}")
        if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
            raise TypeError(f"init_kwargs must be a dict or None, got init_kwargs={describe(init_kwargs)}")
        init_kwargs = dict(init_kwargs or {})
        for key in init_kwargs:
            if key in _RESERVED_INIT:
                raise ValueError(
                    f"init_kwargs must not contain {key!r}: the recorder sets it "
                    f"(use the {key}= argument instead), got init_kwargs={describe(init_kwargs)}"
                    if key in _RUN_OPTIONS
                    else f"init_kwargs must not contain {key!r}: the recorder sets it, "
                    f"got init_kwargs={describe(init_kwargs)}"
                )
        if step_mode == "merge":
            given = [
                option
                for option, value in zip(_RUN_OPTIONS, (project, entity, name, dir, mode, init_kwargs), strict=True)
                if value
            ]
            if given:
                raise ValueError(
                    f"step_mode='merge' logs into your own active run, so {', '.join(given)} "
                    "would be ignored; drop them or use step_mode='own', "
                    f"got {', '.join(f'{g}=...' for g in given)}"
                )
        self.chart = ChartPolicy(chart_every, chart_change)
        self.project = project
        self.entity = entity
        self.run_name = name
        self.dir = os.fspath(dir) if dir is not None else None
        self.mode = mode
        self.init_kwargs = init_kwargs
        # "own" opens and finishes its run on the worker: start() never waits for wandb.init.
        self.lifecycle_on_worker = self.step_mode == "own"
        self._user_run = run
        self.run: Any = None  # the run the values go to (set by _open)
        self.parent_run: Any = None  # the user's run, when "own" created a companion
        self.files: RunFiles | None = None
        self.overwritten_steps = 0  # "merge": charted steps W&B overwrote in a shared row
        self._owns_run = False
        self._run_open = False
        self._meta: RunMetadata = {}
        self._found_run: Any = None  # the user's run, looked up on the caller's thread
        self._series: tuple[str, ...] = ()
        self._thinner: Thinner | None = None
        self._charts: list[dict[str, Any]] = []  # "own": chart rows not logged yet
        self._chart_lock = threading.Lock()
        self._charts_sent_at = 0.0
        self._metrics_charted_at: int | None = None
        self._defined: set[str] = set()
        self._saved: set[str] = set()
        self._events: list[dict[str, Any]] = []
        self._partial: tuple[int, dict[str, float]] | None = None
        self._last_local_step: int | None = None
        self._last_step: int | None = None
        self._held: tuple[int, list[float], bool] | None = None  # "merge": (step, values, charted)
        self._merge_warned = False

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, metadata: RunMetadata) -> None:
        """Store the metadata, start the worker; the run is opened there (``"own"``) or now (``"merge"``)."""
        if self.step_mode == "merge" and self._find_user_run() is None:
            raise ValueError(
                "step_mode='merge' needs an active W&B run to merge into: call wandb.init() "
                "before the first scheduler step or pass run=..., got no active run (wandb.run is None)"
            )
        super().start(metadata)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """Enqueue the row (the worker writes the values file and, ``"own"``, the chart);
        ``"merge"`` also merges the previous step's chart row into the user's run now."""
        super().record(step, values)
        if self.step_mode == "merge" and self._state == "running" and self._thinner is not None:
            self._merge_step(step, values)

    def record_event(self, event: Mapping[str, Any]) -> None:
        """Enqueue an event; its step (and the step before) is charted."""
        if self.step_mode == "merge" and self._thinner is not None and isinstance(event, Mapping):
            self._force_chart([event])
        super().record_event(event)

    def flush(self) -> None:
        """Wait until every recorded value is in the values file, then log the pending chart rows."""
        super().flush()
        if self.step_mode == "own" and self.run is not None:
            self._send_charts([], force=True)

    def checkpoint(self, step: int) -> None:
        """:meth:`flush`, then fsync the values file (a checkpoint at ``step`` must survive a crash)."""
        self.flush()
        files = self.files
        if files is not None:
            try:
                files.sync()
            except OSError:
                pass  # the rows were written; a file system without fsync is not a failure here

    def close(self) -> None:
        """Merge the last chart row (``"merge"``), then drain the queue, write the events table
        and finish the run (``"own"``)."""
        held, self._held = self._held, None
        try:
            if held is not None and self._state == "running" and self.run is not None:
                step, values, charted = held
                if charted or self._thinner is not None and self._thinner.finish():
                    self._merge(step, values)
        finally:
            super().close()

    def destination(self) -> str | None:
        """``wandb://entity/project/run_id`` (online), or the offline run directory."""
        run = self.run
        if run is None:
            return None
        if _inherited_mode(run) == "offline" and getattr(run, "dir", None):
            return os.fspath(Path(run.dir).parent)
        entity, project = getattr(run, "entity", None), getattr(run, "project", None)
        return f"wandb://{entity}/{project}/{run.id}" if entity and project else None

    # -- BackgroundRecorder hooks ---------------------------------------------------------

    def _prepare(self, metadata: RunMetadata) -> None:
        self._found_run = self._find_user_run()
        self._meta = metadata
        self._series = tuple(metadata.get("series") or ())
        self._thinner = Thinner(
            self.chart,
            len(self._series),
            boundaries=phase_steps(metadata),
            scales=series_scales(metadata, self._series),
        )
        if self.step_mode == "merge":
            self.run = self._found_run

    def _open(self, metadata: RunMetadata) -> None:
        if not self._run_open:  # a retried open does not create a second run
            self._open_run(metadata)
            self._run_open = True
        run = self.run
        if self.files is None:
            folder = Path(run.dir) / FOLDER
            delivery = self._resend_start  # a spool sent later continues what the run's files hold
            if delivery is not None:
                earlier = _newest_other_folder(folder, run.id)
            else:
                earlier = _earlier_folder(folder, run.id, metadata)
            self.files = RunFiles(folder, metadata, earlier=earlier, continue_at=delivery)
            self._save_file(self.files.folder / PACKED_FILE)
            self._save_file(self.files.folder / METADATA_FILE)
        run.config.update(
            {CHART_KEY: {**self.chart.to_json(), "values_file": f"{FOLDER}/{PACKED_FILE}",
                         "csv_file": f"{FOLDER}/{VALUES_FILE}"}},
            allow_val_change=True,
        )
        self._note_target()

    def _open_run(self, metadata: RunMetadata) -> None:
        import wandb

        user_run = self._found_run
        if self.step_mode == "merge":
            self.run = user_run
            _store_metadata(user_run, metadata)
            _define_metrics(user_run)
            return
        name = self.run_name
        options: dict[str, Any] = dict(self.init_kwargs)
        project, entity, directory, mode = self.project, self.entity, self.dir, self.mode
        config: dict[str, Any] = {}
        if user_run is not None:
            project = project or user_run.project or None
            entity = entity or user_run.entity or None
            directory = directory or _setting(user_run, "root_dir")
            mode = mode or _inherited_mode(user_run)
            name = name or f"{user_run.name or user_run.id}-paramsched"
            options.setdefault("group", user_run.group or user_run.id)
            options.setdefault("job_type", "paramsched")
            config[PARENT_RUN_KEY] = user_run.id
        group = lineage_group(metadata.get("parent"))
        if group is not None:
            options.setdefault("group", group)
        if _records_every_rank(metadata):
            name = f"{name or 'paramsched'}-rank{metadata.get('rank', 0)}"
        run = wandb.init(
            project=project,
            entity=entity,
            name=name,
            dir=directory,
            mode=mode,
            config=config or None,
            reinit="create_new",  # never finish, replace or become the user's wandb.run
            **options,
        )
        self.run = run
        self._owns_run = True
        _store_metadata(run, metadata)  # after init: a resumed run (id=, resume=) keeps its original
        _define_metrics(run)
        if user_run is not None:
            self.parent_run = user_run
            _store_metadata(user_run, metadata)
            user_run.config.update({HP_RUN_KEY: run.id}, allow_val_change=True)

    def _send(self, rows: list[tuple[int, dict[str, float]]]) -> None:
        self._check_alive()
        files = self.files
        assert files is not None
        data = files.pack(self._whole_rows(rows))
        if self.step_mode == "own":
            thinner = self._thinner
            assert thinner is not None
            series = self._series
            steps, values = files.unpack(data)
            charts = [
                {STEP_SERIES: chart_step, **dict(zip(series, chart_values))}
                for chart_step, chart_values in thinner.offer_many(steps, values)
            ]
            self._send_charts(charts, force=False)  # before the file: a failure here leaves nothing written
        files.write_packed(data)

    def _send_metrics(self, rows: list[tuple[int, dict[str, float]]], times_ms: list[int]) -> None:
        self._check_alive()
        if self.step_mode == "own":
            every = self.chart.every
            charts = []
            for step, metrics in rows:
                last = self._metrics_charted_at
                if last is None or step - last >= every or step < last:
                    self._metrics_charted_at = step
                    charts.append({STEP_SERIES: step, **{METRIC_PREFIX + name: v for name, v in metrics.items()}})
            self._send_charts(charts, force=False)
        assert self.files is not None
        self._save_file(self.files.write_metrics(rows))

    def _send_events(self, events: list[dict[str, Any]]) -> None:
        self._check_alive()
        if self.step_mode == "own":
            self._force_chart(events)
        assert self.files is not None
        self._save_file(self.files.write_events(events))
        self._events.extend(events)
        self.run.config.update({EVENTS_KEY: self._events[-CONFIG_EVENTS:]}, allow_val_change=True)
        self.run.summary[EVENT_COUNT] = len(self._events)

    def _close_backend(self) -> None:
        run = self.run
        if run is None:
            return
        try:
            if self.step_mode == "own" and self._thinner is not None and not getattr(run, "_is_finished", False):
                series = self._series
                last = [{STEP_SERIES: step, **dict(zip(series, values))} for step, values in self._thinner.finish()]
                self._send_charts(last, force=True)
            if self._events and not getattr(run, "_is_finished", False):
                run.log({EVENTS_TABLE: _events_table(self._events)}, commit=self.step_mode == "own")
        finally:
            if self.files is not None:
                self.files.close()
        if self.files is not None:
            # the finalised copy: every row of values.f64 as CSV text (the worker's one
            # expensive formatting pass, at the end instead of on every step)
            try:
                path = self.files.finalise()
            except (OSError, ValueError) as exc:
                warnings.warn(
                    f"paramsched: wandb recorder: could not write {FOLDER}/{VALUES_FILE} at close "
                    f"({type(exc).__name__}: {exc}); every value is in {FOLDER}/{PACKED_FILE}, which replay reads",
                    RuntimeWarning,
                    stacklevel=2,
                )
            else:
                if not getattr(run, "_is_finished", False):
                    self._save_file(path, policy="now")
        if self._owns_run:
            run_file = _setting(run, "sync_file")
            run.finish()
            # finish() returns a few ms before wandb's core writes the exit record; wait for
            # it so that replay.load() right after close() reads every record.
            if run_file and os.path.exists(run_file):
                from .reader import wait_finished

                wait_finished(run_file, timeout=min(self.close_timeout, 10.0))

    # -- own mode: the chart ----------------------------------------------------------------

    def _send_charts(self, rows: list[dict[str, Any]], *, force: bool) -> None:
        """Gather chart ``rows``; log them back to back when ``chart_interval`` passed (or ``force``)."""
        with self._chart_lock:
            self._charts.extend(rows)
            if not self._charts:
                return
            now = time.monotonic()
            if not force and now - self._charts_sent_at < self.chart_interval and len(self._charts) < self.chart_burst:
                return
            rows, self._charts = self._charts, []
            self._charts_sent_at = now
            log = self.run.log
            for row in rows:
                log(row)  # a committed row of our own; never step=

    def _whole_rows(self, rows: list[tuple[int, dict[str, float]]]) -> list[tuple[int, dict[str, float]]]:
        """Rows put back together when the queue split a row wider than ``max_batch``."""
        width = len(self._series)
        if self._partial is None and all(len(values) == width for _, values in rows):
            return rows
        out = []
        for step, values in rows:
            if self._partial is not None and self._partial[0] == step:
                self._partial[1].update(values)
            else:
                if self._partial is not None:
                    out.append(self._partial)
                self._partial = (step, dict(values))
            if len(self._partial[1]) >= width:
                out.append(self._partial)
                self._partial = None
        return out

    def _force_chart(self, events: list[Mapping[str, Any]]) -> None:
        assert self._thinner is not None
        steps: set[int] = set()
        specs = []
        for event in events:
            step = event.get("step")
            if isinstance(step, int):
                steps.add(step)
            if isinstance(event.get("spec"), Mapping):
                specs.append(event["spec"])
        if specs:
            steps.update(phase_steps(self._meta, specs))
        self._thinner.force(steps)

    def _check_alive(self) -> None:
        """Raise wandb's UsageError when the run was finished under the recorder (values then spool)."""
        run = self.run
        if run is None:
            raise RuntimeError("the W&B run is not open")
        if getattr(run, "_is_finished", False):
            from wandb.errors import UsageError

            raise UsageError(f"Run ({run.id}) is finished; paramsched cannot write into it")

    def _save_file(self, path: Path, policy: str = "live") -> None:
        """Have W&B upload ``path`` (``"live"``: as it changes; once per file: a glob is
        expanded at save time)."""
        key = os.fspath(path)
        if key in self._saved or self.run is None:
            return
        self._saved.add(key)
        self.run.save(key, base_path=self.run.dir, policy=policy)

    # -- merge mode ---------------------------------------------------------------------

    def _merge_step(self, step: int, values: Mapping[str, float]) -> None:
        """Training thread: chart the held row if this step asks for it, then hold this one."""
        assert self._thinner is not None
        row = [values.get(s, _NAN) for s in self._series]
        charted = self._thinner.offer(step, row)
        held, self._held = self._held, (step, row, any(s == step for s, _ in charted))
        if held is not None and (held[2] or any(s == held[0] for s, _ in charted)):
            self._merge(held[0], held[1])

    def _merge(self, step: int, values: list[float]) -> None:
        run = self.run
        # wandb's own count of the user's rows (private; no public equivalent that costs < 0.5 ms)
        local_step = getattr(run, "_local_step", None)
        if local_step is not None and local_step == self._last_local_step:
            self._overwritten(step)
        try:
            run.log({STEP_SERIES: step, **dict(zip(self._series, values))}, commit=False)
        except Exception as exc:
            # Only the chart misses this point: the worker keeps the values in the file, or
            # spools them when the run is gone.
            if not self._merge_warned:
                self._merge_warned = True
                warnings.warn(
                    f"paramsched: wandb recorder: run.log failed at scheduler step {step} "
                    f"({type(exc).__name__}: {exc}); the chart misses that step, the values are kept "
                    f"in {FOLDER}/values.csv (or the spool while the run is gone); training goes on",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return
        self._last_local_step = local_step
        self._last_step = step

    def _overwritten(self, step: int) -> None:
        self.overwritten_steps += 1
        if self.overwritten_steps == 1:
            warnings.warn(
                f"paramsched: wandb recorder (step_mode='merge'): the W&B run's step did not advance "
                f"between charted scheduler steps {self._last_step} and {step}, so the chart keeps "
                f"only the later values of that row (every value is in {FOLDER}/values.csv); commit "
                "a W&B row at least once per scheduler step, or use step_mode='own' (the count is "
                "in recorder.overwritten_steps)",
                RuntimeWarning,
                stacklevel=5,
            )

    # -- spool ------------------------------------------------------------------------------

    def _spool_target(self) -> dict[str, Any]:
        run = self.run
        if run is None:  # never opened: the run this recorder would have created
            return {"step_mode": self.step_mode, "run_id": self.init_kwargs.get("id"), "project": self.project,
                    "entity": self.entity, "name": self.run_name, "dir": self.dir, "mode": self.mode,
                    "group": self.init_kwargs.get("group"), "job_type": self.init_kwargs.get("job_type")}
        return {
            "step_mode": self.step_mode,
            "run_id": run.id,
            "project": getattr(run, "project", None) or self.project,
            "entity": getattr(run, "entity", None) or self.entity,
            "name": getattr(run, "name", None) or self.run_name,
            "dir": _setting(run, "root_dir") or self.dir,
            "mode": _inherited_mode(run) or "online",
            "group": getattr(run, "group", None) or None,
            "job_type": getattr(run, "job_type", None) or None,
        }

    @classmethod
    def spool_destination(cls, target: Mapping[str, Any]) -> str | None:
        project = f"project {target['project']!r}" if target.get("project") else "the default project"
        mode = target.get("mode") or "the default mode"
        where = f", under {target['dir']}" if target.get("dir") and mode == "offline" else ""
        if target.get("run_id"):
            return f"the W&B run {target['run_id']} ({project}, {mode}{where})"
        return f"a new W&B run ({project}, {mode}{where}; it was never opened)"

    @classmethod
    def from_spool_target(
        cls, target: Mapping[str, Any], to: str | None, *, spool_dir: str | os.PathLike[str], close_timeout: float
    ) -> WandbRecorder:
        """The recorder ``paramsched spool send`` uses: into the run the spool names (resumed
        with ``resume="allow"``, or created when it was never opened), or into ``to``:
        ``wandb://[ENTITY/]PROJECT[/RUN_ID][?mode=offline&dir=PATH&name=NAME]`` (``-`` for the
        default entity). The values files continue what the run's local directory holds."""
        options = _parse_destination(to) if to is not None else {
            key: target.get(key) for key in ("run_id", "project", "entity", "name", "dir", "mode")
        }
        init_kwargs: dict[str, Any] = {}
        if options.get("run_id"):
            init_kwargs = {"id": options["run_id"], "resume": "allow"}
        if to is None:
            init_kwargs.update({key: target[key] for key in ("group", "job_type") if target.get(key)})
        return cls(
            project=options.get("project") or None,
            entity=options.get("entity") or None,
            name=options.get("name") or None,
            dir=options.get("dir") or None,
            mode=options.get("mode") or None,
            init_kwargs=init_kwargs,
            on_error="raise",
            spool_dir=spool_dir,
            close_timeout=close_timeout,
            chart_every=1,
        )

    # -- helpers ------------------------------------------------------------------------

    def _find_user_run(self) -> Any:
        if self._user_run is not None:
            return self._user_run
        # No wandb imported, no active run: start() does not pay wandb's import (about 1 s) then.
        wandb = sys.modules.get("wandb")
        return getattr(wandb, "run", None)

    def __repr__(self) -> str:
        project = f", project={self.project!r}" if self.project else ""
        return (
            f"{type(self).__name__}(step_mode={self.step_mode!r}{project}, "
            f"chart_every={self.chart.every}, state={self._state!r})"
        )


def lineage_group(parent: Any) -> str | None:
    """The W&B group of a branch whose lineage is ``parent`` (``metadata["parent"]``), or None.

    The group the lineage names (``"wandb_group"`` or ``"group"``), else the
    group of the parent's offline run when ``"source"`` is one, else the
    parent's run id (so that the children of one parent share a group).

    >>> lineage_group({"source": "runs/stable", "run_id": "stable", "branch_step": 400})
    'stable'
    """
    if not isinstance(parent, Mapping):
        return None
    for key in ("wandb_group", "group"):
        if isinstance(parent.get(key), str) and parent[key]:
            return parent[key]
    source = parent.get("source")
    if isinstance(source, (str, os.PathLike)) and not os.fspath(source).startswith("wandb://"):
        from .reader import read_run_record

        try:
            record = read_run_record(source)
        except (OSError, ValueError):
            record = None
        if record is not None and (record.group or record.run_id):
            return record.group or record.run_id
    run_id = parent.get("run_id")
    if isinstance(run_id, str) and run_id:
        return run_id
    if isinstance(source, str) and source.startswith("wandb://"):
        tail = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return tail or None
    return None


def _earlier_folder(folder: Path, run_id: str, metadata: Mapping[str, Any]) -> Path | None:
    """For a resumed run writing a new directory: the ``paramsched/`` folder of the newest
    other local directory of the same W&B run (``<wandb dir>/*-<run id>``), or None."""
    if metadata.get("resumed_from_step") is None:
        return None
    return _newest_other_folder(folder, run_id)


def _newest_other_folder(folder: Path, run_id: str) -> Path | None:
    """The ``paramsched/`` folder of the newest local directory of the W&B run ``run_id``
    older than the one of ``folder``, or None."""
    if not run_id:
        return None
    here = folder.parent.parent  # <run dir>/files/paramsched -> <run dir>
    mine = _run_dir_order(here.name, run_id)
    if mine is None:
        return None
    candidates = sorted(
        (order, p) for p in here.parent.glob(f"*-{run_id}*")
        if (order := _run_dir_order(p.name, run_id)) is not None and order < mine
        and (p / "files" / FOLDER / METADATA_FILE).is_file()
    )
    return candidates[-1][1] / "files" / FOLDER if candidates else None


def _run_dir_order(name: str, run_id: str) -> tuple[str, int] | None:
    """When a local directory of the W&B run ``run_id`` was made: ``(timestamp, n)`` of
    ``[offline-]run-<timestamp>-<run id>[-<n>]`` (wandb adds ``-n`` to a name taken in the
    same second), or None for another run's directory.

    >>> _run_dir_order("offline-run-20261207_140708-ab12-1", "ab12")
    ('20261207_140708', 1)
    """
    match = re.fullmatch(rf"(?:offline-)?run-(\d{{8}}_\d{{6}})-{re.escape(run_id)}(?:-(\d+))?", name)
    return (match.group(1), int(match.group(2) or 0)) if match else None


_DESTINATION_FORM = "wandb://[ENTITY/]PROJECT[/RUN_ID][?mode=offline&dir=PATH&name=NAME]"
_DESTINATION_OPTIONS = ("mode", "dir", "name")


def _parse_destination(to: str) -> dict[str, str | None]:
    """``spool send --to`` for W&B: project, entity, run id and the run options.

    >>> _parse_destination("wandb://me/demo/3k2j9x1a")
    {'entity': 'me', 'project': 'demo', 'run_id': '3k2j9x1a'}
    >>> _parse_destination("wandb://demo?mode=offline&dir=/tmp/w")
    {'entity': None, 'project': 'demo', 'run_id': None, 'mode': 'offline', 'dir': '/tmp/w'}
    """
    from urllib.parse import parse_qsl

    text = to if isinstance(to, str) else ""
    path, _, query = text.removeprefix("wandb://").partition("?")
    parts = path.split("/")
    if not text.startswith("wandb://") or not path or len(parts) > 3 or not all(parts):
        raise ValueError(f"--to for W&B must be {_DESTINATION_FORM}, got to={to!r}")
    if len(parts) == 1:
        parts = ["-", parts[0]]
    entity, project, *rest = parts
    options: dict[str, str | None] = {
        "entity": None if entity == "-" else entity, "project": project, "run_id": rest[0] if rest else None,
    }
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _DESTINATION_OPTIONS:
            raise ValueError(f"--to for W&B takes the options {', '.join(_DESTINATION_OPTIONS)}; got {key!r} in to={to!r}")
        options[key] = value
    if options.get("mode") is not None:
        check_choice("mode", options["mode"], MODES)
    return options


def _events_table(events: list[Mapping[str, Any]]) -> Any:
    import json

    import wandb

    columns = ["step", "kind", "series", "before", "after", "spec", "reason", "time"]
    data = []
    for event in events:
        spec = event.get("spec")
        data.append([
            event.get("step"),
            event.get("kind"),
            event.get("series") or "",
            _cell(event.get("before")),
            _cell(event.get("after")),
            json.dumps(spec, sort_keys=True) if spec is not None else "",
            event.get("reason") or "",
            event.get("time") or "",
        ])
    return wandb.Table(columns=columns, data=data)


def _cell(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _records_every_rank(metadata: Mapping[str, Any]) -> bool:
    """True when several ranks record (the run name must then tell them apart)."""
    world_size = metadata.get("world_size") or 1
    if world_size <= 1:
        return False
    return metadata.get("record_ranks") == "all" or (metadata.get("rank") or 0) != 0


def _define_metrics(run: Any) -> None:
    run.define_metric(STEP_SERIES)
    run.define_metric("hp/*", step_metric=STEP_SERIES)
    run.define_metric(METRIC_PREFIX + "*", step_metric=STEP_SERIES)


def _store_metadata(run: Any, metadata: RunMetadata) -> None:
    """Put the metadata in ``config["paramsched"]``.

    A resumed scheduler (``resumed_from_step`` set) writing into a run that
    already holds a document keeps the original and appends
    ``{"at_step": k, "created_at": ...}`` to its ``"resumes"`` (as the CSV
    run's ``run.json`` does); a new scheduler replaces it.
    """
    existing = run.config.get(CONFIG_KEY) if hasattr(run.config, "get") else None
    document: dict[str, Any] = dict(metadata)
    if (
        metadata.get("resumed_from_step") is not None
        and isinstance(existing, Mapping)
        and existing.get("format") == metadata.get("format")
    ):
        document = dict(existing)
        resumes = list(document.get("resumes") or [])
        resumes.append({"at_step": metadata.get("resumed_from_step"), "created_at": utc_now()})
        document["resumes"] = resumes
    run.config.update({CONFIG_KEY: document}, allow_val_change=True)


def _setting(run: Any, key: str) -> Any:
    settings = getattr(run, "settings", None)
    return getattr(settings, key, None) if settings is not None else None


def _inherited_mode(run: Any) -> str | None:
    mode = _setting(run, "mode")
    if mode in ("offline", "dryrun"):
        return "offline"
    if mode == "disabled":
        return "disabled"
    return None

