"""Self-checks of the power-loss file system: it loses what a real crash can lose.

Writers here use plain ``os`` calls only, so a failure points at the simulator
and not at atomicopen.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.powerlossfs import CONTROL_NAME, CrashModel, PowerLossMount, Volume

DROP_ALL = CrashModel.DROP_ALL
METADATA_FIRST = CrashModel.METADATA_FIRST
BOTH_MODELS = pytest.mark.parametrize(
    "model", [DROP_ALL, METADATA_FIRST], ids=[DROP_ALL.value, METADATA_FIRST.value]
)

# A writer for a child process: argv[1] is the directory. It commits b"new" to
# "target" by the fully durable sequence and prints each finished step.
WRITER = textwrap.dedent(
    """
    import os, sys
    directory = sys.argv[1]
    temp = os.path.join(directory, "temp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"new")
    print("written", flush=True)
    os.fsync(fd)
    os.close(fd)
    print("synced", flush=True)
    os.rename(temp, os.path.join(directory, "target"))
    print("renamed", flush=True)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dir_fd)
    os.close(dir_fd)
    print("committed", flush=True)
    """
)


def write_file(path: Path, data: bytes, *, fsync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install_old_target(fs: PowerLossMount) -> None:
    """Make ``target`` contain b"old" durably, as a file from an earlier boot."""
    write_file(fs.mountpoint / "target", b"old", fsync=True)
    fs.sync()


def run_writer(fs: PowerLossMount) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WRITER, str(fs.mountpoint)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# -- the four patterns every crash test relies on -----------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [(DROP_ALL, None), (METADATA_FIRST, b"")],
    ids=["drop-all-missing", "metadata-first-empty"],
)
def test_naive_new_file_lost(
    powerfs: PowerLossMount, model: CrashModel, expected: bytes | None
) -> None:
    write_file(powerfs.mountpoint / "f", b"data", fsync=False)
    powerfs.crash(model)
    path = powerfs.backing / "f"
    assert (path.read_bytes() if path.exists() else None) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [(DROP_ALL, b"old"), (METADATA_FIRST, b"")],
    ids=["drop-all-old", "metadata-first-truncated"],
)
def test_naive_overwrite_lost(
    powerfs: PowerLossMount, model: CrashModel, expected: bytes
) -> None:
    install_old_target(powerfs)
    write_file(powerfs.mountpoint / "target", b"new", fsync=False)
    powerfs.crash(model)
    assert (powerfs.backing / "target").read_bytes() == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [(DROP_ALL, b"old"), (METADATA_FIRST, b"new")],
    ids=["drop-all-rename-lost", "metadata-first-rename-kept"],
)
def test_rename_without_directory_fsync(
    powerfs: PowerLossMount, model: CrashModel, expected: bytes
) -> None:
    install_old_target(powerfs)
    write_file(powerfs.mountpoint / "temp", b"new", fsync=True)
    os.rename(powerfs.mountpoint / "temp", powerfs.mountpoint / "target")
    powerfs.crash(model)
    assert (powerfs.backing / "target").read_bytes() == expected
    assert not (powerfs.backing / "temp").exists()


@BOTH_MODELS
def test_rename_without_file_fsync_empty(
    powerfs: PowerLossMount, model: CrashModel
) -> None:
    install_old_target(powerfs)
    write_file(powerfs.mountpoint / "temp", b"new", fsync=False)
    os.rename(powerfs.mountpoint / "temp", powerfs.mountpoint / "target")
    fsync_directory(powerfs.mountpoint)
    powerfs.crash(model)
    assert (powerfs.backing / "target").read_bytes() == b""


@BOTH_MODELS
def test_durable_commit_survives(powerfs: PowerLossMount, model: CrashModel) -> None:
    install_old_target(powerfs)
    write_file(powerfs.mountpoint / "temp", b"new", fsync=True)
    os.rename(powerfs.mountpoint / "temp", powerfs.mountpoint / "target")
    fsync_directory(powerfs.mountpoint)
    powerfs.crash(model)
    assert (powerfs.backing / "target").read_bytes() == b"new"
    assert sorted(os.listdir(powerfs.backing)) == ["target"]


# -- namespace details --------------------------------------------------------


def test_unlink_without_directory_fsync_undone(powerfs: PowerLossMount) -> None:
    install_old_target(powerfs)
    os.unlink(powerfs.mountpoint / "target")
    powerfs.crash(DROP_ALL)
    assert (powerfs.backing / "target").read_bytes() == b"old"


def test_new_directory_needs_parent_fsync(powerfs: PowerLossMount) -> None:
    subdir = powerfs.mountpoint / "sub"
    subdir.mkdir()
    write_file(subdir / "f", b"data", fsync=True)
    fsync_directory(subdir)
    powerfs.crash(DROP_ALL)
    assert not (powerfs.backing / "sub").exists()


def test_new_directory_with_parent_fsync(powerfs: PowerLossMount) -> None:
    subdir = powerfs.mountpoint / "sub"
    subdir.mkdir()
    write_file(subdir / "f", b"data", fsync=True)
    fsync_directory(subdir)
    fsync_directory(powerfs.mountpoint)
    powerfs.crash(DROP_ALL)
    assert (powerfs.backing / "sub" / "f").read_bytes() == b"data"


@pytest.mark.parametrize(
    ("model", "expected"),
    [(DROP_ALL, 0o600), (METADATA_FIRST, 0o640)],
    ids=["drop-all", "metadata-first"],
)
def test_chmod_pending_until_file_fsync(
    powerfs: PowerLossMount, model: CrashModel, expected: int
) -> None:
    path = powerfs.mountpoint / "f"
    write_file(path, b"data", fsync=False)
    os.chmod(path, 0o600)
    powerfs.sync()
    os.chmod(path, 0o640)
    powerfs.crash(model)
    assert stat.S_IMODE((powerfs.backing / "f").stat().st_mode) == expected


def test_hard_link_survives_as_link(powerfs: PowerLossMount) -> None:
    write_file(powerfs.mountpoint / "a", b"data", fsync=True)
    os.link(powerfs.mountpoint / "a", powerfs.mountpoint / "b")
    fsync_directory(powerfs.mountpoint)
    powerfs.crash(DROP_ALL)
    assert (powerfs.backing / "a").stat().st_ino == (
        powerfs.backing / "b"
    ).stat().st_ino


def renameat2(old: Path, new: Path, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd = -100
    result = libc.renameat2(at_fdcwd, bytes(old), at_fdcwd, bytes(new), flags)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(new))


def test_rename_noreplace_rejects_existing(powerfs: PowerLossMount) -> None:
    install_old_target(powerfs)
    write_file(powerfs.mountpoint / "temp", b"new", fsync=True)
    with pytest.raises(FileExistsError):
        renameat2(powerfs.mountpoint / "temp", powerfs.mountpoint / "target", 1)


def test_rename_exchange_swaps(powerfs: PowerLossMount) -> None:
    install_old_target(powerfs)
    write_file(powerfs.mountpoint / "temp", b"new", fsync=True)
    renameat2(powerfs.mountpoint / "temp", powerfs.mountpoint / "target", 2)
    assert (powerfs.mountpoint / "target").read_bytes() == b"new"
    assert (powerfs.mountpoint / "temp").read_bytes() == b"old"


def test_unlinked_open_file_usable(powerfs: PowerLossMount) -> None:
    path = powerfs.mountpoint / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.unlink(path)
        os.write(fd, b"data")
        os.ftruncate(fd, 2)
        os.fsync(fd)
        assert os.pread(fd, 10, 0) == b"da"
    finally:
        os.close(fd)


# -- reboot, triggers and the control file ------------------------------------


def test_crash_serves_image_and_stales_handles(powerfs: PowerLossMount) -> None:
    fd = os.open(powerfs.mountpoint / "f", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        powerfs.crash(DROP_ALL)
        assert os.listdir(powerfs.mountpoint) == []
        with pytest.raises(OSError, match="Input/output error"):
            os.write(fd, b"late")
    finally:
        os.close(fd)


def test_clean_unmount_keeps_everything(powerfs: PowerLossMount) -> None:
    write_file(powerfs.mountpoint / "f", b"data", fsync=False)
    powerfs.stop()
    assert (powerfs.backing / "f").read_bytes() == b"data"


def test_control_rejects_unknown_command(powerfs: PowerLossMount) -> None:
    with pytest.raises(OSError, match="Invalid argument") as raised:
        powerfs.command("explode now")
    assert raised.value.errno == errno.EINVAL


def test_control_file_hidden_from_listing(powerfs: PowerLossMount) -> None:
    assert CONTROL_NAME not in os.listdir(powerfs.mountpoint)


def test_status_counts_operations(powerfs: PowerLossMount) -> None:
    write_file(powerfs.mountpoint / "f", b"data", fsync=True)
    fsync_directory(powerfs.mountpoint)
    counts = powerfs.status()["counts"]
    assert counts == {"create": 1, "fsync": 1, "fsyncdir": 1, "write": 1}


@pytest.mark.parametrize(
    ("kind", "after", "expected", "last_step"),
    [
        ("write", False, b"old", ""),
        ("fsync", False, b"old", "written"),
        ("rename", False, b"old", "synced"),
        ("fsyncdir", False, b"old", "renamed"),
        ("fsyncdir", True, b"new", "committed"),
    ],
    ids=[
        "before-write",
        "after-write",
        "after-fsync",
        "after-rename",
        "after-directory-fsync",
    ],
)
def test_armed_crash_stops_writer(
    powerfs: PowerLossMount, kind: str, after: bool, expected: bytes, last_step: str
) -> None:
    install_old_target(powerfs)
    powerfs.arm(kind, 1, DROP_ALL, after=after)
    writer = run_writer(powerfs)
    status = powerfs.status()
    powerfs.thaw()
    assert status["frozen"] is True
    assert (writer.stdout.split() or [""])[-1] == last_step
    assert (powerfs.backing / "target").read_bytes() == expected


def test_arm_rejects_unknown_kind(powerfs: PowerLossMount) -> None:
    with pytest.raises(ValueError, match="unknown operation kind"):
        powerfs.arm("sneeze", 1, DROP_ALL)


def test_status_is_json(powerfs: PowerLossMount) -> None:
    raw = (powerfs.mountpoint / CONTROL_NAME).read_bytes()
    assert json.loads(raw)["crashes"] == 0


# -- the model without FUSE ---------------------------------------------------


def test_model_rejects_rename_into_own_subtree() -> None:
    volume = Volume()
    volume.create("/d", stat.S_IFDIR, 0o755, 0, 0)
    with pytest.raises(OSError, match="Invalid argument") as raised:
        volume.rename("/d", "/d/e", noreplace=False, exchange=False)
    assert raised.value.errno == errno.EINVAL


def test_model_directory_reached_twice_kept_once() -> None:
    volume = Volume()
    for name in ("a", "b", "a/moved"):
        volume.create(f"/{name}", stat.S_IFDIR, 0o755, 0, 0)
    volume.root.sync()
    volume.lookup("/a").sync()
    volume.rename("/a/moved", "/b/moved", noreplace=False, exchange=False)
    volume.lookup("/b").sync()
    image = volume.image(DROP_ALL)
    assert sorted(image.lookup("/a").entries) == ["moved"]
    assert image.lookup("/b").entries == {}


def test_model_exchange_swaps_entries() -> None:
    volume = Volume()
    first = volume.create("/x", stat.S_IFREG, 0o644, 0, 0)
    second = volume.create("/y", stat.S_IFREG, 0o644, 0, 0)
    volume.rename("/x", "/y", noreplace=False, exchange=True)
    assert volume.lookup("/x") is second
    assert volume.lookup("/y") is first
