"""One registry mechanism for every pluggable backend (recorders, replay sources).

Built-in backends and plugins register the same way: through the entry point
group (``paramsched.recorders`` / ``paramsched.sources``) declared in their
``pyproject.toml``, or at run time with ``register()``. Asking for a backend
that is not installed is an error carrying the ``pip install`` line.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Generic, TypeVar

T = TypeVar("T")

# Backends that live in their own distribution: name -> distribution to install.
KNOWN_PLUGINS = {
    "wandb": "paramsched-wandb",
    "mlflow": "paramsched-mlflow",
    "tensorboard": "paramsched-tensorboard",
}


class BackendNotInstalledError(ImportError):
    """A backend was asked for by name but no installed package provides it."""


class Registry(Generic[T]):
    """Name -> factory, filled from an entry point group on first use.

    >>> reg = Registry("recorder", "paramsched.recorders")
    >>> reg.register("null", dict)
    >>> reg.get("null") is dict
    True
    """

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._factories: dict[str, Callable[..., T]] = {}
        self._entry_points_loaded = False

    def register(self, name: str, factory: Callable[..., T], *, replace: bool = False) -> None:
        """Make ``factory`` available under ``name``; ``replace=True`` overrides an existing one."""
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"{self.kind} name must be a non-empty string without ':', got name={name!r}")
        if not callable(factory):
            raise TypeError(f"{self.kind} factory must be callable, got factory={factory!r}")
        if name in self._factories and not replace and self._factories[name] is not factory:
            raise ValueError(
                f"a {self.kind} named {name!r} is already registered "
                f"({self._factories[name]!r}); pass replace=True to override it"
            )
        self._factories[name] = factory

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plugin's tests, a docstring example); a name never registered is an error.

        >>> reg = Registry("recorder", "paramsched.recorders")
        >>> reg.register("null", dict); reg.unregister("null"); "null" in reg.names()
        False
        """
        if name not in self._factories:
            raise ValueError(f"no {self.kind} named {name!r} is registered, got name={name!r}")
        del self._factories[name]

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; a missing plugin names its pip line."""
        self._load_entry_points()
        if name in self._factories:
            return self._factories[name]
        if name in KNOWN_PLUGINS:
            dist = KNOWN_PLUGINS[name]
            raise BackendNotInstalledError(
                f"the {self.kind} {name!r} needs the package {dist}: pip install {dist}"
            )
        known = ", ".join(sorted(self._factories)) or "none"
        raise ValueError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {known}")

    def names(self) -> list[str]:
        """Every registered name, entry points included."""
        self._load_entry_points()
        return sorted(self._factories)

    def items(self) -> list[tuple[str, Callable[..., T]]]:
        """(name, factory) pairs, entry points included, sorted by name."""
        self._load_entry_points()
        return sorted(self._factories.items())

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry_point in metadata.entry_points(group=self.group):
            if entry_point.name in self._factories:
                continue
            try:
                factory = entry_point.load()
            except ImportError as exc:
                # The plugin is installed but its SDK is not: keep the reason for get().
                factory = _missing_dependency(self.kind, entry_point.name, exc)
            self._factories[entry_point.name] = factory


def _missing_dependency(kind: str, name: str, exc: ImportError) -> Callable[..., object]:
    def factory(*args: object, **kwargs: object) -> object:
        raise BackendNotInstalledError(
            f"the {kind} {name!r} is installed but cannot import its dependency: {exc}"
        ) from exc

    return factory
