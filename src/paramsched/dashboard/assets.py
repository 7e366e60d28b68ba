"""Find the dashboard definitions shipped with paramsched (the top-level ``dashboards/`` folder).

A wheel carries them as the package data folder ``paramsched/_dashboards``; an
editable install or a source checkout reads them from the repository's
``dashboards/`` folder next to ``src/``.

>>> "{{figure_json}}" in read_text("compare.html")
True
"""

from __future__ import annotations

import importlib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType

from paramsched._registry import BackendNotInstalledError

_PACKAGE_DIR = "_dashboards"
# src/paramsched/dashboard/assets.py -> the repository root is three levels above the package.
_CHECKOUT_DIR = Path(__file__).resolve().parents[3] / "dashboards"


def dashboards_dir() -> Traversable:
    """The folder holding the shipped dashboard files (installed wheel first, then checkout)."""
    installed = resources.files("paramsched") / _PACKAGE_DIR
    if installed.is_dir():
        return installed
    if _CHECKOUT_DIR.is_dir():
        return _CHECKOUT_DIR
    raise FileNotFoundError(
        "the paramsched dashboard files are missing: looked for the package folder "
        f"paramsched/{_PACKAGE_DIR} and the checkout folder {_CHECKOUT_DIR}; reinstall paramsched"
    )


def read_text(name: str) -> str:
    """The text of the shipped dashboard file ``name`` (e.g. ``"compare.html"``)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file name in dashboards/, got name={name!r}")
    path = dashboards_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"no dashboard file named {name!r} in {dashboards_dir()}")
    return path.read_text(encoding="utf-8")


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` for ``what``, or raise naming the install line (``paramsched[dashboard]``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise BackendNotInstalledError(
            f"{what} needs {package}: pip install 'paramsched[dashboard]' (or pip install {package})"
        ) from exc
