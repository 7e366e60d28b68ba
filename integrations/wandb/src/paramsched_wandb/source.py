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

A run recorded with ``step_mode="own"`` next to a user run keeps its values
in a companion run; loading the user's run follows
``config["paramsched_hp_run"]`` to it (an offline companion is looked up
beside the user's run directory). The rows are those with ``hp/step``; the
step of a row is its ``hp/step`` (not W&B's ``_step``), and a step logged
twice (a resumed run) keeps its last value.

>>> import paramsched as ps                               # doctest: +SKIP
>>> traj = ps.replay.load("wandb/latest-run")             # doctest: +SKIP
>>> traj = ps.replay.load("wandb://me/demo/3k2j9x1a")      # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paramsched.checks import describe
from paramsched.naming import PREFIX, STEP_SERIES, parse_series_name

from .reader import find_run_file, read_offline_run
from .recorder import CONFIG_KEY, HP_RUN_KEY

if TYPE_CHECKING:
    from paramsched.replay.trajectory import Trajectory

__all__ = ["WandbSource", "parse_wandb_uri"]

SCHEME = "wandb://"
DEFAULT_TIMEOUT = 30


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
        self, obj: Any, *, keymap: Any = None, step_column: str | None = None, timeout: float | None = None
    ) -> Trajectory:
        """Read ``obj`` into a :class:`~paramsched.replay.Trajectory`.

        ``keymap`` reads a run that paramsched did not record (for example
        ``"hf"`` for Hugging Face Trainer's ``train/learning_rate``); its
        step is the keymap's step column, else ``trainer/global_step``
        (Lightning's WandbLogger), ``train/global_step`` or W&B's ``_step``,
        or ``step_column`` when given. ``timeout`` (seconds) bounds each
        ``wandb.Api`` request.
        """
        if step_column is not None and keymap is None:
            raise ValueError(
                f"step_column applies to runs read through keymap=; a paramsched run's step is "
                f"'{STEP_SERIES}', got step_column={step_column!r}"
            )
        if isinstance(obj, str) and obj.startswith(SCHEME):
            return self._load_uri(obj, keymap=keymap, step_column=step_column, timeout=timeout)
        if _is_api_run(obj):
            return _from_api_run(obj, api=None, keymap=keymap, step_column=step_column, label=f"wandb run {obj.path}")
        if isinstance(obj, (str, os.PathLike)):
            return _from_offline(Path(obj), keymap=keymap, step_column=step_column)
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


def _from_offline(path: Path, *, keymap: Any, step_column: str | None) -> Trajectory:
    from paramsched.replay.trajectory import Trajectory

    file = find_run_file(path)
    run = read_offline_run(file)
    label = os.fspath(file)
    hp_run = run.config.get(HP_RUN_KEY)
    if isinstance(hp_run, str) and hp_run and hp_run != run.run_id and keymap is None:
        companion = _find_offline_companion(file, hp_run)
        if companion is None:
            raise FileNotFoundError(
                f"{label}: the values of this run were recorded in the companion run {hp_run!r} "
                f"(config[{HP_RUN_KEY!r}]), but no run directory ending in '-{hp_run}' is "
                f"beside it in {os.fspath(file.parent.parent)!r}; pass that run's directory"
            )
        run = read_offline_run(companion)
        label = os.fspath(companion)
    traj = _trajectory(run.history, run.config.get(CONFIG_KEY), label, keymap=keymap, step_column=step_column)
    notes = []
    if run.truncated:
        notes.append("the file ends inside a record (a run killed while writing); the complete rows were kept")
    elif not run.finished:
        notes.append("the run has no exit record yet (still running, or killed between records)")
    if notes:
        traj = Trajectory(traj.frame, traj.metadata, label, notes=(*traj.notes, *notes))
    return traj


def _find_offline_companion(file: Path, run_id: str) -> Path | None:
    root = file.parent.parent
    matches = sorted(p for p in root.glob(f"*-{run_id}") if p.is_dir() and any(p.glob("*.wandb")))
    return find_run_file(matches[-1]) if matches else None


# -- public API ----------------------------------------------------------------------------


def _is_api_run(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "Run" and cls.__module__.startswith("wandb.apis.public")


def _from_api_run(run: Any, *, api: Any, keymap: Any, step_column: str | None, label: str) -> Trajectory:
    config = dict(run.config or {})
    hp_run = config.get(HP_RUN_KEY)
    if isinstance(hp_run, str) and hp_run and hp_run != run.id and keymap is None:
        if api is None:
            import wandb

            api = wandb.Api()
        entity, project = run.entity, run.project
        run = api.run(f"{entity}/{project}/{hp_run}")
        label = f"{label} -> wandb://{entity}/{project}/{hp_run}"
        config = dict(run.config or {})
    rows = run.scan_history(page_size=1000)
    return _trajectory(rows, config.get(CONFIG_KEY), label, keymap=keymap, step_column=step_column)


# -- rows -> trajectory --------------------------------------------------------------------


def _trajectory(
    rows: Iterable[Mapping[str, Any]], metadata: Any, label: str, *, keymap: Any, step_column: str | None = None
) -> Trajectory:
    import pandas as pd

    from paramsched.replay.trajectory import Trajectory

    metadata = metadata if isinstance(metadata, Mapping) else None
    if keymap is not None:
        return _foreign(list(rows), metadata, label, keymap=keymap, step_column=step_column)
    steps: list[Any] = []
    keys: list[str] = []
    groups: list[str] = []
    values: list[Any] = []
    names: dict[str, tuple[str, str]] = {}
    for row in rows:
        step = row.get(STEP_SERIES)
        for name, value in row.items():
            if not name.startswith(PREFIX) or name == STEP_SERIES:
                continue
            if step is None:
                raise ValueError(
                    f"{label}: the row at W&B _step={row.get('_step')!r} holds {name!r} but no "
                    f"{STEP_SERIES!r}; was it logged by paramsched? (pass keymap= for other logs)"
                )
            parsed = names.get(name)
            if parsed is None:
                parsed = names[name] = parse_series_name(name)
            steps.append(step)
            keys.append(parsed[0])
            groups.append(parsed[1])
            values.append(value)
    if not values:
        raise ValueError(
            f"{label}: no paramsched series ('hp/<key>/<group>' with '{STEP_SERIES}') in the run "
            "history; for a run paramsched did not record pass keymap='hf', keymap='lightning' or a dict"
        )
    frame = pd.DataFrame(
        {"step": steps, "key": keys, "group": groups, "value": pd.Series(values, dtype=object)}
    )
    traj = Trajectory.from_long(frame, metadata=metadata, source=label)
    # W&B does not keep the order of the keys in a row: restore the recorded column order.
    order = metadata.get("series") if metadata is not None else None
    if isinstance(order, list) and sorted(order) == sorted(traj.series) and order != traj.series:
        traj = Trajectory(traj.frame[order], metadata, label, notes=traj.notes)
    return traj


# Step columns of W&B runs written by other tools, tried after the keymap's own.
WANDB_STEP_COLUMNS = ("trainer/global_step", "train/global_step", "_step")


def _foreign(
    rows: list[Mapping[str, Any]], metadata: Any, label: str, *, keymap: Any, step_column: str | None
) -> Trajectory:
    """A run paramsched did not record, read through ``keymap`` (rows without the step are skipped)."""
    import pandas as pd

    from paramsched.replay.keymaps import resolve_keymap
    from paramsched.replay.trajectory import Trajectory

    columns = list(dict.fromkeys(key for row in rows for key in row))
    if step_column is None:
        candidates = (*resolve_keymap(keymap).step_columns, *WANDB_STEP_COLUMNS)
        step_column = next((c for c in candidates if c in columns), None)
        if step_column is None:
            raise ValueError(f"{label}: no step column; expected one of {list(candidates)}, got columns {columns}")
    elif step_column not in columns:
        raise ValueError(f"{label}: step_column={step_column!r} is not in the run history; columns: {columns}")
    kept = [dict(row) for row in rows if row.get(step_column) is not None]
    table = pd.DataFrame(kept, columns=columns)
    return Trajectory.from_wide(table, metadata, label, keymap=keymap, step_column=step_column)
