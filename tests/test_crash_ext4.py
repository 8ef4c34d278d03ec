"""Power loss on a real ext4 file system, simulated by copying its disk image.

An ext4 image is loop-mounted with ``noauto_da_alloc`` and ``commit=60``.
``noauto_da_alloc`` turns off ext4's own flush of a file that is renamed over
another, so only the library's fsync calls put data on the disk, and
``commit=60`` keeps the journal from committing on its own during a test.
At each crash point a commit hook copies the image file: the loop driver
writes the device's blocks into that file, so a plain read of it returns
exactly what reached the "disk", while the dirty pages of the mounted ext4
are not in it. The copy is then mounted, which replays its journal as after
a power loss, and the target is read.

Limits of this approach:

- It shows the state after a power loss only at the chosen crash points,
  between system calls, not in the middle of one.
- The loop driver completes each write in order and never loses or reorders
  a flushed write, unlike a disk with a volatile cache, so it cannot show
  a drive that ignores flushes.
- The copy is not atomic: a write that lands in the image while it is being
  copied could give a state no real crash gives. Nothing writes then,
  because the page writeback interval (30 s by default) and ``commit=60`` are
  longer than a test.
- Only ext4 in ``data=ordered`` mode is covered; other file systems order
  data and metadata differently.
- No kernel setting is changed, so dirty data older than
  ``vm.dirty_expire_centisecs`` may reach the disk early; that can only make
  more of a commit durable, never tear a file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from atomicopen import AtomicFile, hooks
from tests.conftest import require_root, require_tool, unavailable

IMAGE_SIZE = 32 << 20
OLD = b"old block\n" * 6000
NEW = b"new block, a little longer\n" * 6000
MOUNT_OPTIONS = "loop,noauto_da_alloc,commit=60"


def mount(image: Path, point: Path, options: str) -> None:
    point.mkdir(exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "ext4", "-o", options, str(image), str(point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"mount -o loop of an ext4 image was refused: {result.stderr}")


def unmount(point: Path) -> None:
    subprocess.run(["umount", str(point)], check=True, capture_output=True)


@dataclass
class Ext4:
    """A loop-mounted ext4 image and the crash copies taken of it."""

    image: Path
    point: Path
    workdir: Path
    copies: int = 0
    mounted_copies: list[Path] = field(default_factory=list)

    def crash_view(self, name: str) -> bytes | None:
        """Return ``name``'s content on a copy of the disk as it is now."""
        self.copies += 1
        copy = self.workdir / f"crash-{self.copies}.img"
        shutil.copyfile(self.image, copy)
        point = self.workdir / f"crash-{self.copies}"
        mount(copy, point, "loop")
        try:
            path = point / name
            return path.read_bytes() if path.exists() else None
        finally:
            unmount(point)
            copy.unlink()


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Ext4]:
    require_root()
    mkfs = require_tool("mkfs.ext4")
    image = tmp_path / "disk.img"
    with image.open("wb") as file:
        file.truncate(IMAGE_SIZE)
    # Lazy initialisation would write inode tables in the background after
    # the mount, during the crash copies.
    subprocess.run(
        [mkfs, "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", image],
        check=True,
        capture_output=True,
    )
    point = tmp_path / "mnt"
    mount(image, point, MOUNT_OPTIONS)
    try:
        yield Ext4(image, point, tmp_path)
    finally:
        unmount(point)


class CrashPoints(hooks.CommitHook):
    """Takes a crash copy at every stage of the commit it is given to."""

    def __init__(self, ext4: Ext4, name: str) -> None:
        self.ext4 = ext4
        self.name = name
        self.views: dict[str, bytes | None] = {}

    def validate(self, context: hooks.CommitContext) -> None:
        self.views["flushed"] = self.ext4.crash_view(self.name)

    def before_replace(self, context: hooks.CommitContext) -> None:
        self.views["before-rename"] = self.ext4.crash_view(self.name)

    def after_replace(self, context: hooks.CommitContext) -> None:
        self.views["after-rename"] = self.ext4.crash_view(self.name)


def commit(ext4: Ext4, durability: str) -> CrashPoints:
    """Replace the durable ``target`` with NEW and take crash copies on the way."""
    (ext4.point / "target").write_bytes(OLD)
    os.sync()
    points = CrashPoints(ext4, "target")
    with AtomicFile(
        ext4.point / "target", "wb", durability=durability, hooks=[points]
    ) as file:
        file.write(NEW)
    points.views["returned"] = ext4.crash_view("target")
    return points


# (durability, crash point, contents allowed after a power loss there)
EXPECTATIONS = [
    pytest.param("full", "flushed", [OLD], id="full-flushed"),
    pytest.param("full", "before-rename", [OLD], id="full-before-rename"),
    pytest.param("full", "after-rename", [NEW], id="full-after-directory-sync"),
    pytest.param("full", "returned", [NEW], id="full-returned"),
    pytest.param("file", "after-rename", [OLD, NEW], id="file-after-rename"),
    pytest.param("file", "returned", [OLD, NEW], id="file-returned"),
]


@pytest.mark.parametrize(("durability", "point", "allowed"), EXPECTATIONS)
def test_power_loss_leaves_whole_file(
    ext4: Ext4, durability: str, point: str, allowed: list[bytes]
) -> None:
    views = commit(ext4, durability).views
    assert views[point] in allowed


def test_live_file_has_new_content(ext4: Ext4) -> None:
    commit(ext4, "full")
    assert (ext4.point / "target").read_bytes() == NEW


def test_crash_copy_misses_unsynced_data(ext4: Ext4) -> None:
    """The copy sees only what reached the disk: an unsynced write is missing.

    This is what makes the checks above able to fail.
    """
    (ext4.point / "plain").write_bytes(NEW)
    assert ext4.crash_view("plain") is None


def test_unsynced_replace_can_be_empty(ext4: Ext4) -> None:
    """Without the file fsync, a rename made durable can leave an empty file.

    This is the failure that durability="file" and "full" prevent, and this
    harness shows it: a directory fsync commits the rename through the journal
    while the new file's delayed-allocation data is still only in memory.
    """
    (ext4.point / "target").write_bytes(OLD)
    os.sync()
    with AtomicFile(ext4.point / "target", "wb", durability="none") as file:
        file.write(NEW)
    directory_fd = os.open(ext4.point, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
    assert ext4.crash_view("target") == b""
