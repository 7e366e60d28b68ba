"""`WandbRecorder`: every applied value to Weights & Biases, never moving the user's step.

W&B keeps one history row per step and drops (with only a warning) any row
logged at a step lower than its current one. Whoever passes ``step=`` to
``wandb.log`` owns the run's step, and any other writer that commits rows
moves it. Measured with wandb 0.31 (offline mode, 200-2000 steps), a
background thread logging into the user's run, while the user logs with
``step=i``:

- ``log(row)`` (commit): the user's later ``log(..., step=i)`` calls fall
  below the moved step and are dropped ("Steps must be monotonically
  increasing, so this data will be ignored", 183 times in 200 steps);
- ``log(row, commit=False)``: the user's step never moves, but the values
  merge into whatever row is open, so two scheduler steps that fall into
  one user row overwrite each other (16 of 2000 rows lost to thread timing
  alone, 160 of 200 when the user logs every 5 steps).

So there is no way to add rows of our own to a run whose step the user owns
without either breaking the user or losing values. Two explicit modes:

``step_mode="own"`` (default, lossless, off the training thread)
    The values go to a run whose step paramsched owns: each scheduler step
    is one committed row ``{"hp/step": k, "hp/<key>/<group>": value, ...}``
    (never ``step=``), with ``define_metric("hp/*", step_metric="hp/step")``
    so charts use the optimizer step as x-axis. Without an active user run,
    that is the run this recorder creates (``project``, ``entity``,
    ``name``, ``dir``, ``mode``, ``init_kwargs``). With an active user run
    (``wandb.run``, or ``run=``), it is a companion run created next to it
    (same project, entity, mode and directory; group = the user's group or
    run id; name ``<user run name>-paramsched``; ``job_type="paramsched"``),
    and the user's run gets ``config["paramsched_hp_run"] = <companion id>``
    so :class:`~paramsched_wandb.WandbSource` finds the values from either
    run (the metadata goes to both configs). The user's run's step is never
    touched. Logging happens on a worker thread (see
    :class:`~paramsched.recording.BackgroundRecorder`): a failing backend
    warns once, spools and retries.

``step_mode="merge"`` (same run, on the training thread)
    ``run.log({"hp/step": k, ...}, commit=False)`` into the user's run, on
    the training thread: the values join the user's open row and go out
    with the user's next commit, so the user's step is never moved. The
    values of step ``k`` are merged at the next ``record()`` (the last ones
    at ``close()``): in the usual loop (``sched.step()`` then
    ``wandb.log(..., step=k)``) they then land in the user's row ``k``
    (merged at once, steps 0 and 1 would share the user's first row). W&B
    keeps one value per key per row, so this mode is lossless only when the
    user opens a new row (``log(..., step=s)`` with a new ``s``, or a plain
    ``log``) at least once per scheduler step; when two scheduler steps
    fall into one row the recorder warns (once) and counts them in
    ``overwritten_steps``. The replay reads each row's ``hp/step``, so a
    row the user labels differently is still read at the right step. It
    costs one ``run.log`` call (about 0.1-0.2 ms) on the training thread
    per step, and needs an active run.

Metadata goes to ``run.config["paramsched"]`` (the paramsched run document;
never environment variables or credentials). With ``world_size > 1`` and
every rank recording, the run name carries ``-rank<r>``.

>>> import paramsched as ps                                  # doctest: +SKIP
>>> sched = ps.ParamScheduler(opt, {"lr": ps.Cosine(1e-3, 0.0)}, total_steps=1000,
...                           recorders=[WandbRecorder(project="demo")])  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from typing import Any

from paramsched.checks import check_choice, describe
from paramsched.naming import STEP_SERIES
from paramsched.recording.background import BackgroundRecorder
from paramsched.recording.base import RunMetadata
from paramsched.recording.errors import RecorderError
from paramsched.runformat import utc_now

__all__ = ["WandbRecorder", "STEP_MODES", "CONFIG_KEY", "HP_RUN_KEY", "PARENT_RUN_KEY"]

STEP_MODES = ("own", "merge")
MODES = ("online", "offline", "disabled")
CONFIG_KEY = "paramsched"
HP_RUN_KEY = "paramsched_hp_run"
PARENT_RUN_KEY = "paramsched_parent_run"
_RUN_OPTIONS = ("project", "entity", "name", "dir", "mode", "init_kwargs")
# wandb.init arguments this recorder sets itself.
_RESERVED_INIT = ("project", "entity", "name", "dir", "mode", "config", "reinit")


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
        on_error, spool_dir, max_batch, retry_interval, close_timeout: see
            :class:`~paramsched.recording.BackgroundRecorder`.

    >>> WandbRecorder(project="demo", mode="offline")
    WandbRecorder(step_mode='own', project='demo', state='new')
    """

    name = "wandb"

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
        on_error: str = "warn",
        spool_dir: str | os.PathLike[str] | None = None,
        max_batch: int = 1000,
        retry_interval: float = 2.0,
        close_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            on_error=on_error,
            spool_dir=spool_dir,
            max_batch=max_batch,
            retry_interval=retry_interval,
            close_timeout=close_timeout,
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
        self.project = project
        self.entity = entity
        self.run_name = name
        self.dir = os.fspath(dir) if dir is not None else None
        self.mode = mode
        self.init_kwargs = init_kwargs
        self._user_run = run
        self.run: Any = None  # the run the values go to (set by start())
        self.parent_run: Any = None  # the user's run, when "own" created a companion
        self.overwritten_steps = 0  # "merge": scheduler steps W&B overwrote in a shared row
        self._owns_run = False
        self._last_local_step: int | None = None
        self._last_step: int | None = None
        self._held: tuple[int, dict[str, float]] | None = None  # "merge": merged at the next record()
        self._merge_warned = False

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, metadata: RunMetadata) -> None:
        """Attach to / create the run, store the metadata in its config, start the worker."""
        if self.step_mode == "merge" and self._find_user_run() is None:
            raise ValueError(
                "step_mode='merge' needs an active W&B run to merge into: call wandb.init() "
                "before the first scheduler step or pass run=..., got no active run (wandb.run is None)"
            )
        super().start(metadata)

    def record(self, step: int, values: Mapping[str, float]) -> None:
        """``"own"``: enqueue (the worker logs). ``"merge"``: merge the previous step's values now."""
        if self.step_mode == "own" or self.run is None or self._state != "running":
            super().record(step, values)
            return
        held, self._held = self._held, (step, dict(values))
        if held is not None:
            self._merge(*held)

    def close(self) -> None:
        """Merge the last held values (``"merge"``), then flush and finish the run."""
        held, self._held = self._held, None
        try:
            if held is not None and self._state == "running":
                self._merge(*held)
        finally:
            super().close()

    def _open(self, metadata: RunMetadata) -> None:
        import wandb

        user_run = self._find_user_run()
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
        if self.step_mode == "merge":  # rows only reach the queue before the run is open
            raise RuntimeError("step_mode='merge' logs on the training thread; the run was not open")
        log = self.run.log
        for step, values in rows:
            log({STEP_SERIES: step, **values})  # a committed row of our own; never step=

    def _close_backend(self) -> None:
        if self._owns_run and self.run is not None:
            run_file = _setting(self.run, "sync_file")
            self.run.finish()
            # finish() returns a few ms before wandb's core writes the exit record; wait for
            # it so that replay.load() right after close() reads every row.
            if run_file and os.path.exists(run_file):
                from .reader import wait_finished

                wait_finished(run_file, timeout=min(self.close_timeout, 10.0))

    # -- merge mode ---------------------------------------------------------------------

    def _merge(self, step: int, values: Mapping[str, float]) -> None:
        run = self.run
        # wandb's own count of the user's rows (private; no public equivalent that costs < 0.5 ms)
        local_step = getattr(run, "_local_step", None)
        if local_step is not None and local_step == self._last_local_step:
            self._overwritten(step)
        try:
            run.log({STEP_SERIES: step, **values}, commit=False)
        except Exception as exc:
            # W&B can only take these values into the user's open row, now: keep them in the
            # spool file (BackgroundRecorder's; close() reports them) instead of retrying.
            self._spool_items([(step, dict(values), time.time_ns() // 1_000_000)])
            where = self._where(create=True)
            message = f"run.log failed at scheduler step {step} ({type(exc).__name__}: {exc}); the values are kept in {where}"
            if self.on_error == "raise":
                raise RecorderError(self.name, message, spool_path=self._spool_str()) from exc
            if not self._merge_warned:
                self._merge_warned = True
                warnings.warn(f"paramsched: wandb recorder: {message}; training goes on", RuntimeWarning, stacklevel=3)
            return
        self._last_local_step = local_step
        self._last_step = step

    def _overwritten(self, step: int) -> None:
        self.overwritten_steps += 1
        if self.overwritten_steps == 1:
            warnings.warn(
                f"paramsched: wandb recorder (step_mode='merge'): the W&B run's step did not advance "
                f"between scheduler steps {self._last_step} and {step}, so W&B keeps only the later "
                "values in that row; commit a W&B row at least once per scheduler step, or use "
                "step_mode='own' to keep every value (the count is in recorder.overwritten_steps)",
                RuntimeWarning,
                stacklevel=4,
            )

    # -- helpers ------------------------------------------------------------------------

    def _find_user_run(self) -> Any:
        if self._user_run is not None:
            return self._user_run
        import wandb

        return wandb.run

    def __repr__(self) -> str:
        project = f", project={self.project!r}" if self.project else ""
        return f"{type(self).__name__}(step_mode={self.step_mode!r}{project}, state={self._state!r})"


def _records_every_rank(metadata: Mapping[str, Any]) -> bool:
    """True when several ranks record (the run name must then tell them apart)."""
    world_size = metadata.get("world_size") or 1
    if world_size <= 1:
        return False
    return metadata.get("record_ranks") == "all" or (metadata.get("rank") or 0) != 0


def _define_metrics(run: Any) -> None:
    run.define_metric(STEP_SERIES)
    run.define_metric("hp/*", step_metric=STEP_SERIES)


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
