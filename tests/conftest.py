"""Fixtures shared by the test modules.

Tests that need a tool or a privilege this machine may lack (mount, strace,
redis-server, FUSE) skip with the reason, except in CI (``CI=true``), where
.ci/run installs everything and a skip would hide a broken setup: there they
fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import portalocker
import pytest
from hypothesis import settings

import atomicopen
from tests.powerlossfs import PowerLossMount, missing_requirements

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# Hypothesis profiles, chosen with HYPOTHESIS_PROFILE: "dev" by default, "ci"
# (derandomized, so a CI run is repeatable) and "soak" for long searches.
settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("soak", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if IN_CI else "dev"))


def unavailable(reason: str) -> None:
    """Skip the test because of ``reason``, or fail it in CI."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    """Return the path of the command ``name``, or skip (fail in CI) without it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    assert path is not None
    return path


def require_root() -> None:
    """Skip (fail in CI) unless the tests run as root."""
    if os.geteuid() != 0:
        unavailable("needs root to mount file systems")


class TmpfsMount:
    """A tmpfs mounted for one test, unmounted by the fixture's finalizer."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def remount(self, *options: str) -> None:
        """Change the mount's options, such as ``"ro"`` or ``"rw"``."""
        subprocess.run(
            ["mount", "-o", ",".join(["remount", *options]), str(self.path)],
            check=True,
            capture_output=True,
        )


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Iterator[Callable[..., TmpfsMount]]:
    """Mount a fresh tmpfs; call the fixture with the size in bytes.

    Skips with the reason where mounting is refused (no root, no privileges in
    a container), and fails instead in CI.
    """
    mounts: list[Path] = []

    def mount(size: int = 1 << 20, *options: str) -> TmpfsMount:
        require_root()
        point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
        point.mkdir()
        result = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                ",".join([f"size={size}", *options]),
                "tmpfs",
                str(point),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            unavailable(f"mount -t tmpfs was refused: {result.stderr.strip()}")
        mounts.append(point)
        return TmpfsMount(point)

    yield mount
    for point in reversed(mounts):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


@pytest.fixture
def powerfs(tmp_path: Path) -> Iterator[PowerLossMount]:
    """Mount a power-loss file system (``tests.powerlossfs``) over an empty disk.

    The backing directory is ``tmp_path / "disk"`` and the mountpoint
    ``tmp_path / "mnt"``. The finalizer unmounts even when the test fails.
    Skips with the reason where FUSE is missing, and fails instead in CI.
    """
    reason = missing_requirements()
    if reason is not None:
        unavailable(f"power-loss file system: {reason}")
    backing = tmp_path / "disk"
    mountpoint = tmp_path / "mnt"
    backing.mkdir()
    mountpoint.mkdir()
    fs = PowerLossMount(backing, mountpoint)
    fs.start()
    try:
        yield fs
    finally:
        fs.stop()


def open_fds() -> set[int]:
    """Return this process's open file descriptors."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def temp_files(directory: Path) -> list[str]:
    """Return the names of atomicopen temporary files in ``directory``."""
    return sorted(
        name for name in os.listdir(directory) if name.startswith(".atomicopen.")
    )


NOBODY = 65534


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory that other users can reach, for tests run as ``nobody``.

    pytest's ``tmp_path`` lies under a 0700 directory, which ``nobody`` cannot
    enter, so this one is made directly under the system's temp directory.
    """
    require_root()
    path = Path(tempfile.mkdtemp(prefix="atomicopen-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nobody_pythonpath() -> Iterator[str]:
    """A copy of atomicopen and portalocker that the user ``nobody`` can read.

    The checkout and its virtual environment may lie under a directory that
    only root can enter (``mktemp -d`` makes them 0700, and so does pytest for
    its temp directories), so the tests run as ``nobody`` import copies from a
    world-readable directory, with the base interpreter instead of the
    environment's.
    """
    require_root()
    path = Path(tempfile.mkdtemp(prefix="atomicopen-src-"))
    for module in (atomicopen, portalocker):
        assert module.__file__ is not None
        package = Path(module.__file__).resolve().parent
        shutil.copytree(package, path / package.name)
    for directory, _, files in os.walk(path):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)


# The interpreter that the virtual environment links to, which lives outside
# the checkout: run with the copies above on PYTHONPATH, it needs nothing
# from the environment's site-packages.
BASE_PYTHON = os.path.realpath(sys.executable)


def run_as_nobody(
    command: list[str], pythonpath: str, *, groups: str = "", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the unprivileged user ``nobody``.

    As root, file modes do not stop writes, so permission errors are tested as
    another user. ``setpriv`` comes with util-linux.

    :param pythonpath: the ``nobody_pythonpath`` fixture's directory.
    :param groups: supplementary group ids, comma-separated.
    """
    require_root()
    setpriv = require_tool("setpriv")
    group_option = f"--groups={groups}" if groups else "--clear-groups"
    prefix = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", group_option]
    env = {**os.environ, "PYTHONPATH": pythonpath, "HOME": "/"}
    probe = subprocess.run(
        [*prefix, BASE_PYTHON, "-c", "import atomicopen"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if probe.returncode != 0:
        # Not a missing tool that CI should have installed, but a property of
        # where the interpreter lives, so this skips in CI too.
        pytest.skip(f"nobody cannot run {BASE_PYTHON}: {probe.stderr.strip()}")
    # Tests name sys.executable; run the base interpreter in its place.
    command = [BASE_PYTHON if part == sys.executable else part for part in command]
    return subprocess.run(
        [*prefix, *command], capture_output=True, text=True, check=check, env=env
    )
