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
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

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
def mount_tmpfs(tmp_path: Path) -> Iterator[object]:
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


def open_fds() -> set[int]:
    """Return this process's open file descriptors."""
    return {int(name) for name in os.listdir("/proc/self/fd")}


def temp_files(directory: Path) -> list[str]:
    """Return the names of atomicopen temporary files in ``directory``."""
    return sorted(
        name for name in os.listdir(directory) if name.startswith(".atomicopen.")
    )
