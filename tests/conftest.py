"""Shared fixtures: the power-loss FUSE file system."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.powerlossfs import PowerLossMount, missing_requirements


@pytest.fixture
def powerfs(tmp_path: Path) -> Iterator[PowerLossMount]:
    """Mount a power-loss file system over an empty backing directory.

    The backing directory is ``tmp_path / "disk"`` and the mountpoint
    ``tmp_path / "mnt"``. The finalizer unmounts even when the test fails.
    """
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"power-loss file system unavailable: {reason}")
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
