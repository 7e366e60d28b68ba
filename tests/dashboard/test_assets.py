"""The shipped dashboard files are found in a checkout and inside a built wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from paramsched.dashboard import assets

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("compare.html", "wandb_hp_overlay.vl.json", "README.md")


def test_checkout_lookup_finds_the_repository_folder() -> None:
    folder = assets.dashboards_dir()
    assert Path(str(folder)) == REPO / "dashboards"
    for name in SHIPPED:
        assert assets.read_text(name) == (REPO / "dashboards" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["", "../pyproject.toml", "sub/x.html", ".hidden", 3])
def test_read_text_takes_plain_names_only(name) -> None:
    with pytest.raises(ValueError, match="name must be a plain file name in dashboards/"):
        assets.read_text(name)


def test_missing_file_names_the_folder() -> None:
    with pytest.raises(FileNotFoundError, match=r"no dashboard file named 'nope.html' in .*dashboards"):
        assets.read_text("nope.html")


@pytest.mark.slow
def test_wheel_ships_the_dashboards_and_the_installed_lookup_uses_them(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    if build.returncode != 0 and "hatchling" in build.stderr and "No module named" in build.stderr:
        pytest.skip("building the wheel offline needs hatchling in this environment (pip install hatchling)")
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("paramsched-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for name in SHIPPED:
            assert f"paramsched/_dashboards/{name}" in names
        assert "paramsched/dashboard/assets.py" in names
        archive.extractall(tmp_path / "site")
    # The extracted wheel first on sys.path: the lookup must use its package data, not the checkout.
    probe = (
        "import json, paramsched.dashboard.assets as a;"
        "print(json.dumps([a.__file__, str(a.dashboards_dir()), len(a.read_text('compare.html'))]))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    module, folder, size = json.loads(result.stdout.strip().splitlines()[-1])
    assert module.startswith(str(tmp_path / "site"))
    assert folder == str(tmp_path / "site" / "paramsched" / "_dashboards")
    assert size == len((REPO / "dashboards" / "compare.html").read_text(encoding="utf-8"))
