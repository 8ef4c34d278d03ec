"""Power loss at each step of a commit, simulated by the power-loss file system.

A child process commits b"new" over a target that contains b"old" with
``atomic_open(..., durability=...)``. The file system crashes itself when a
chosen operation of the commit arrives (see ``tests.powerlossfs``), and the
test reads the target from the disk image that the crash left.

The tables pin the exact outcome of each step under each crash model, so they
also show what the weaker durability levels give up: ``"file"`` can lose the
rename and ``"none"`` can lose the data.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from tests.powerlossfs import CrashModel, PowerLossMount

OLD = b"old"
NEW = b"new"
EMPTY = b""

WRITER = textwrap.dedent(
    """
    import sys
    from atomicopen import atomic_open
    with atomic_open(sys.argv[1], "wb", durability=sys.argv[2]) as file:
        file.write(b"new")
    print("returned", flush=True)
    """
)


@dataclass(frozen=True)
class Point:
    """A step of the commit at which power fails: an armed trigger, or none."""

    name: str
    #: Operation kind to crash at, or None to crash after the writer returned.
    kind: str | None
    after: bool


BEFORE_WRITE = Point("before-write", "write", after=False)
AFTER_WRITE = Point("after-write", "write", after=True)
AFTER_FSYNC = Point("after-fsync", "fsync", after=True)
AFTER_RENAME = Point("after-rename", "rename", after=True)
AFTER_DIRECTORY_FSYNC = Point("after-directory-fsync", "fsyncdir", after=True)
RETURNED = Point("returned", None, after=True)

DROP_ALL = CrashModel.DROP_ALL
METADATA_FIRST = CrashModel.METADATA_FIRST

# (durability, point, content under drop-all, content under metadata-first).
# "none" never calls fsync and "file" never syncs the directory, so those
# points do not exist for them.
OUTCOMES = [
    ("full", BEFORE_WRITE, OLD, OLD),
    ("full", AFTER_WRITE, OLD, OLD),
    ("full", AFTER_FSYNC, OLD, OLD),
    ("full", AFTER_RENAME, OLD, NEW),
    ("full", AFTER_DIRECTORY_FSYNC, NEW, NEW),
    ("full", RETURNED, NEW, NEW),
    ("file", BEFORE_WRITE, OLD, OLD),
    ("file", AFTER_WRITE, OLD, OLD),
    ("file", AFTER_FSYNC, OLD, OLD),
    ("file", AFTER_RENAME, OLD, NEW),
    ("file", RETURNED, OLD, NEW),
    ("none", BEFORE_WRITE, OLD, OLD),
    ("none", AFTER_WRITE, OLD, OLD),
    ("none", AFTER_RENAME, OLD, EMPTY),
    ("none", RETURNED, OLD, EMPTY),
]

CASES = [
    pytest.param(
        durability,
        point,
        model,
        expected,
        id=f"{durability}-{point.name}-{model.value}",
    )
    for durability, point, drop_all, metadata_first in OUTCOMES
    for model, expected in ((DROP_ALL, drop_all), (METADATA_FIRST, metadata_first))
]


def crash_commit(
    fs: PowerLossMount, durability: str, point: Point, model: CrashModel
) -> subprocess.CompletedProcess[str]:
    """Run the writer, make power fail at *point* and return the finished writer."""
    if point.kind is not None:
        fs.arm(point.kind, 1, model, after=point.after)
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, str(fs.mountpoint / "target"), durability],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if point.kind is None:
        fs.crash(model)
    return writer


@pytest.fixture
def old_target(powerfs: PowerLossMount) -> PowerLossMount:
    """The power-loss file system with a durable ``target`` that contains b"old"."""
    (powerfs.mountpoint / "target").write_bytes(OLD)
    powerfs.sync()
    return powerfs


@pytest.mark.parametrize(("durability", "point", "model", "expected"), CASES)
def test_power_loss_during_commit(
    old_target: PowerLossMount,
    durability: str,
    point: Point,
    model: CrashModel,
    expected: bytes,
) -> None:
    writer = crash_commit(old_target, durability, point, model)
    status = old_target.status()
    content = (old_target.backing / "target").read_bytes()
    assert status["crashes"] == 1, writer.stderr
    if point is RETURNED:
        assert writer.returncode == 0, writer.stderr
    assert content == expected


@pytest.mark.parametrize("model", [DROP_ALL, METADATA_FIRST], ids=lambda m: m.value)
@pytest.mark.parametrize("durability", ["full", "file"])
@pytest.mark.parametrize(
    "point",
    [BEFORE_WRITE, AFTER_WRITE, AFTER_FSYNC, AFTER_RENAME, RETURNED],
    ids=lambda p: p.name,
)
def test_synced_commit_never_torn(
    old_target: PowerLossMount, durability: str, point: Point, model: CrashModel
) -> None:
    """With an fsync before the rename, the target is always complete."""
    crash_commit(old_target, durability, point, model)
    assert (old_target.backing / "target").read_bytes() in {OLD, NEW}
