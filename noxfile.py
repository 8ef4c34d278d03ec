"""Nox sessions: tests on each installed Python, lint, typecheck and docs.

pyenv installs the interpreters in ``$(pyenv root)/versions/3.X.Y/bin``, which
is not on PATH by default, so this file adds the newest installed patch release
of each version to PATH. Sessions of a Python that the machine lacks are skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.error_on_missing_interpreters = False


def _pyenv_bin_directories() -> list[str]:
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    root = Path(
        subprocess.run(
            [pyenv, "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    newest: dict[str, tuple[tuple[int, ...], Path]] = {}
    for version_dir in (root / "versions").glob("3.*"):
        parts = version_dir.name.split(".")
        if len(parts) != 3 or not all(part.isdigit() for part in parts):
            continue
        key = ".".join(parts[:2])
        number = tuple(int(part) for part in parts)
        if key in PYTHONS and (key not in newest or number > newest[key][0]):
            newest[key] = (number, version_dir / "bin")
    return [str(path) for _, path in newest.values()]


os.environ["PATH"] = os.pathsep.join([*_pyenv_bin_directories(), os.environ["PATH"]])


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Check style with ruff."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """Check types with mypy --strict."""
    session.install("-e", ".[lint]", "nox")
    session.run("mypy")


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """Run the long crash soak: thousands of kills, then a long hypothesis search.

    ATOMICOPEN_SOAK_SECONDS bounds the kill loop (default 600 s); the hypothesis
    "soak" profile runs 2000 examples of the commit state machine.
    """
    session.install("-e", ".[test]")
    seconds = os.environ.get("ATOMICOPEN_SOAK_SECONDS", "600")
    session.run(
        "python",
        "-m",
        "pytest",
        "-m",
        "soak",
        *session.posargs,
        env={"ATOMICOPEN_SOAK_SECONDS": seconds},
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/test_crash_properties.py",
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": "soak"},
    )


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the HTML docs and run their examples, with warnings as errors."""
    session.install("-e", ".[docs]")
    for builder in ("html", "doctest"):
        session.run(
            "sphinx-build",
            "-W",
            "-n",
            "--keep-going",
            "-b",
            builder,
            "docs",
            f"docs/_build/{builder}",
        )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run the benchmarks against other libraries and the floor (not a test)."""
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)
