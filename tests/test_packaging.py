"""The wheel holds what an installed `minigpt` needs: every module and the published runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

import minigpt
from minigpt.runs import RUNS_DIR, find_run, published_runs
from tests.conftest import REPO_ROOT


def test_the_wheel_ships_the_published_runs_and_the_command_line(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(
        REPO_ROOT / "minigpt", source / "minigpt", ignore=shutil.ignore_patterns("__pycache__")
    )
    build = "from setuptools import build_meta; print(build_meta.build_wheel(r'%s'))"
    done = subprocess.run(
        [sys.executable, "-c", build % (tmp_path / "wheel")],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    )
    wheel = tmp_path / "wheel" / done.stdout.splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    published = {
        path.relative_to(REPO_ROOT).as_posix()
        for path in RUNS_DIR.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "minigpt/runs/shakespeare-char-cpu/model.safetensors" in published
    assert published <= names
    modules = {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "minigpt").rglob("*.py")}
    assert modules <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "minigpt = minigpt.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_a_published_runs_name_finds_it_in_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anywhere, not the repository
    assert published_runs() == ["shakespeare-char-cpu"]
    assert find_run("shakespeare-char-cpu") == RUNS_DIR / "shakespeare-char-cpu"
    assert find_run("out/run") == "out/run"  # anything else is left as it is
    model, tokenizer = minigpt.load_model("shakespeare-char-cpu")
    assert tokenizer.name == "char" and model.config.block_size == 64
    (tmp_path / "shakespeare-char-cpu").mkdir()  # a folder of that name here wins
    assert find_run("shakespeare-char-cpu") == "shakespeare-char-cpu"
