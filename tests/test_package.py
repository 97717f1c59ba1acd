"""The package as users install it: a built wheel, installed (not editable) away from the
repository, runs the demo from any folder, and holds no benchmark or peer tooling."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (setuptools builds in the source folder)."""
    import shutil

    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "seq2seq", src / "seq2seq", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("seq2seq-*.whl")
    return found


def test_the_wheel_ships_the_recipes_and_no_benchmarks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "seq2seq/recipes/toy/reverse.toml" in names and "seq2seq/recipes/translation/multi30k_en_de.toml" in names
    assert not [n for n in names if n.startswith("benchmarks/") or "bench" in n or "peer" in n]


@pytest.mark.slow
def test_a_plain_install_runs_the_demo_from_any_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    where = subprocess.run(
        [sys.executable, "-c", "import seq2seq; print(seq2seq.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert where.startswith(str(target))  # the installed copy, not the repository's
    run = subprocess.run(
        [sys.executable, "-m", "seq2seq", "demo", "--only", "toy", "--out", "out", "--device", "cpu"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "best validation sequence accuracy" in run.stdout
    assert (elsewhere / "out" / "toy-reverse" / "best.pt").is_file()
