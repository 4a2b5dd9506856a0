"""scripts/check-lock: requirements.lock agrees with pyproject.toml, and says so when not."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check-lock"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_the_projects_lock_agrees_with_its_pyproject():
    result = check(ROOT)
    assert result.returncode == 0, result.stderr


def test_a_copy_agrees_and_specifier_order_and_spaces_do_not_matter(project):
    edit(project / "pyproject.toml", '"starlette>=1.0,<2"', '"Starlette < 2, >= 1.0"')
    result = check(project)
    assert result.returncode == 0, result.stderr


def add_runtime(project: Path) -> None:
    edit(project / "pyproject.toml", '"jinja2>=3.1",\n', '"jinja2>=3.1",\n    "rich>=13",\n')


def add_test(project: Path) -> None:
    edit(project / "pyproject.toml", '"pytest>=8",\n', '"pytest>=8",\n    "tox>=4",\n')


def drop_runtime(project: Path) -> None:
    edit(project / "pyproject.toml", '    "rjsmin>=1.2",\n', "")


def narrow(project: Path) -> None:
    edit(project / "pyproject.toml", '"uvicorn>=0.30"', '"uvicorn>=0.30,<0.31"')


def move_pin(project: Path) -> None:
    lock = project / "requirements.lock"
    lock.write_text(re.sub(r"(?m)^starlette==[^ ]+", "starlette==0.9.0", lock.read_text()))


def unpin(project: Path) -> None:
    lock = project / "requirements.lock"
    lock.write_text(re.sub(r"(?m)^limits==", "limitz==", lock.read_text()))


def no_lock(project: Path) -> None:
    (project / "requirements.lock").unlink()


@pytest.mark.parametrize(
    "change, says",
    [
        (add_runtime, "pyproject.toml has 'rich>=13' in dependencies, the lock does not"),
        (add_test, "pyproject.toml has 'tox>=4' in the test extra, the lock does not"),
        (drop_runtime, "the lock was made with 'rjsmin>=1.2' in dependencies"),
        (narrow, "has 'uvicorn<0.31,>=0.30' in dependencies, the lock does not"),
        (move_pin, "the lock pins starlette==0.9.0, outside 'starlette<2,>=1.0'"),
        (unpin, "limits (from pyproject.toml) is not pinned in the lock"),
        (no_lock, "requirements.lock is missing"),
    ],
)
def test_a_disagreement_fails_and_names_it(project, change: Callable[[Path], None], says):
    change(project)
    result = check(project)
    assert result.returncode == 1
    assert says in result.stderr
    assert "run scripts/lock" in result.stderr


def test_the_header_is_what_the_lock_records(project):
    header = subprocess.run(
        [sys.executable, str(CHECK), "--root", str(project), "--header"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert (
        header.splitlines()
        == (project / "requirements.lock").read_text().splitlines()[: len(header.splitlines())]
    )
    assert "# pyproject: psycopg[binary]>=3.1" in header
    assert "# pyproject[test]: pytest>=8" in header
