"""Backup rotation, crash safety of the rotation, and restore_backup()."""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from atomicopen import atomic_open, atomic_write_bytes, restore_backup
from atomicopen._cli import main
from atomicopen._directory import Directory
from atomicopen.hooks import Backups
from tests.conftest import temp_files


def version(number: int) -> bytes:
    return f"version {number}\n".encode()


def write_versions(path: Path, count: int, keep: int, start: int = 0) -> None:
    for number in range(start, start + count):
        atomic_write_bytes(path, version(number), backups=keep)


def backup(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


# Rotation

ROTATION_CASES = [(commits, keep) for keep in (1, 2, 3) for commits in range(1, 7)]


@pytest.mark.parametrize(
    ("commits", "keep"),
    ROTATION_CASES,
    ids=[f"{commits}commits-keep{keep}" for commits, keep in ROTATION_CASES],
)
def test_rotation(tmp_path: Path, commits: int, keep: int) -> None:
    path = tmp_path / "config.json"
    write_versions(path, commits, keep)
    found = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    newest = commits - 1
    expected = {path.name: version(newest)}
    for index in range(1, min(keep, newest) + 1):
        expected[backup(path, index).name] = version(newest - index)
    assert found == expected


def test_first_commit_makes_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "new.txt"
    atomic_write_bytes(path, b"first", backups=3)
    assert os.listdir(tmp_path) == ["new.txt"]


def test_gap_is_filled_not_rotated_out(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(version(3))
    backup(path, 2).write_bytes(version(1))
    backup(path, 3).write_bytes(version(0))
    atomic_write_bytes(path, version(4), backups=3)
    contents = [backup(path, index).read_bytes() for index in (1, 2, 3)]
    assert contents == [version(3), version(1), version(0)]


def test_backups_beyond_keep_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 4, keep=3)
    write_versions(path, 1, keep=1, start=4)
    assert backup(path, 3).read_bytes() == version(0)


def test_backup_shares_inode(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(version(0))
    inode = path.stat().st_ino
    atomic_write_bytes(path, version(1), backups=1)
    assert backup(path, 1).stat().st_ino == inode


def test_backup_survives_aborted_commit(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 2, keep=2)
    atomic = atomic_open(path, "wb", backups=2)
    atomic.open().write(b"never")
    atomic.discard()
    assert backup(path, 1).read_bytes() == version(0)


@pytest.mark.parametrize(
    "keep", [0, -1, True, "3"], ids=["zero", "negative", "bool", "str"]
)
def test_invalid_keep_rejected(keep: object) -> None:
    with pytest.raises((TypeError, ValueError), match=repr(keep)):
        Backups(keep)  # type: ignore[arg-type]


def test_negative_backups_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="-2"):
        atomic_open(tmp_path / "a", backups=-2)


# Modes


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644], ids=oct)
def test_backups_keep_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret"
    path.write_bytes(version(0))
    path.chmod(mode)
    write_versions(path, 3, keep=3, start=1)
    modes = {stat.S_IMODE(backup(path, i).stat().st_mode) for i in (1, 2, 3)}
    assert modes == {mode}


def test_copied_backup_keeps_0600(tmp_path: Path, mocker: MockerFixture) -> None:
    path = tmp_path / "secret"
    path.write_bytes(version(0))
    path.chmod(0o600)
    mocker.patch("os.link", side_effect=PermissionError(errno.EPERM, "refused"))
    atomic_write_bytes(path, version(1), backups=1)
    assert stat.S_IMODE(backup(path, 1).stat().st_mode) == 0o600


# Hard links refused

LINK_REFUSALS = [errno.EPERM, errno.EOPNOTSUPP]


@pytest.mark.parametrize("code", LINK_REFUSALS, ids=errno.errorcode.get)
def test_refused_link_falls_back_to_copy(
    tmp_path: Path, mocker: MockerFixture, code: int
) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 2, keep=2)
    link = mocker.patch("os.link", side_effect=OSError(code, os.strerror(code)))
    atomic_write_bytes(path, version(2), backups=2)
    contents = [backup(path, index).read_bytes() for index in (1, 2)]
    assert link.called
    assert contents == [version(1), version(0)]


def test_copy_fallback_leaves_no_temp(tmp_path: Path, mocker: MockerFixture) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 2, keep=2)
    mocker.patch("os.link", side_effect=PermissionError(errno.EPERM, "refused"))
    atomic_write_bytes(path, version(2), backups=2)
    assert temp_files(tmp_path) == []


def test_other_link_error_aborts(tmp_path: Path, mocker: MockerFixture) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 2, keep=2)
    mocker.patch("os.link", side_effect=OSError(errno.EIO, "I/O error"))
    with pytest.raises(OSError, match="backing up") as caught:
        atomic_write_bytes(path, version(2), backups=2)
    assert caught.value.errno == errno.EIO
    assert path.read_bytes() == version(1)
    assert temp_files(tmp_path) == []


# A writer killed during the rotation

CRASH_WRITER = """
import os, signal, sys
from atomicopen import atomic_write_bytes

path, stop, keep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
calls = 0

def stopping(real):
    def call(*args, **kwargs):
        global calls
        if calls == stop:
            os.kill(os.getpid(), signal.SIGKILL)
        calls += 1
        return real(*args, **kwargs)
    return call

os.replace = stopping(os.replace)
os.link = stopping(os.link)
atomic_write_bytes(path, b"version 4\\n", backups=keep)
print(calls)
"""

# The renames and links of one commit with full backups: keep - 1 shifts, the
# link, its rename to .1 and the rename over the target.
CRASH_CASES = [(keep, stop) for keep in (1, 2, 3) for stop in range(keep + 2)]


@pytest.mark.parametrize(
    ("keep", "stop"),
    CRASH_CASES,
    ids=[f"keep{keep}-killed-after-{stop}" for keep, stop in CRASH_CASES],
)
def test_sigkill_in_rotation_keeps_backups(
    tmp_path: Path, keep: int, stop: int
) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 4, keep=keep)
    result = subprocess.run(
        [sys.executable, "-c", CRASH_WRITER, str(path), str(stop), str(keep)],
        capture_output=True,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    live = int(path.read_bytes().split()[1])
    names = [backup(path, i) for i in range(1, keep + 1)]
    backups = {name.read_bytes() for name in names if name.exists()}
    # Until the rename over the target, the oldest of the keep backups may
    # already have rotated out, and with keep=1 the new .1 may already hold
    # the live content; every newer version stays under a backup name.
    wanted = {version(number) for number in range(4 - keep, live)}
    assert wanted <= backups
    assert backups


def test_crash_writer_counts_steps(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write_versions(path, 4, keep=3)
    result = subprocess.run(
        [sys.executable, "-c", CRASH_WRITER, str(path), "-1", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(result.stdout) == 3 + 2


# restore_backup


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """config.json at version 3, with versions 2, 1 and 0 as backups."""
    path = tmp_path / "config.json"
    write_versions(path, 4, keep=3)
    return path


def contents(path: Path) -> list[bytes]:
    return [path.read_bytes()] + [backup(path, i).read_bytes() for i in (1, 2, 3)]


def test_restore_swaps_newest(history: Path) -> None:
    restore_backup(history)
    assert contents(history) == [version(2), version(3), version(1), version(0)]


def test_restore_twice_undoes(history: Path) -> None:
    restore_backup(history)
    restore_backup(history)
    assert contents(history) == [version(3), version(2), version(1), version(0)]


def test_restore_older_index(history: Path) -> None:
    restore_backup(history, index=3)
    assert contents(history) == [version(0), version(2), version(1), version(3)]


def test_restore_without_exchange(history: Path, mocker: MockerFixture) -> None:
    mocker.patch.object(Directory, "exchange", return_value=False)
    restore_backup(history)
    assert contents(history) == [version(2), version(3), version(1), version(0)]


def test_restore_without_exchange_no_temp(history: Path, mocker: MockerFixture) -> None:
    mocker.patch.object(Directory, "exchange", return_value=False)
    restore_backup(history)
    assert temp_files(history.parent) == []


def test_restore_keeps_modes(history: Path) -> None:
    backup(history, 1).chmod(0o600)
    restore_backup(history)
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def test_restore_of_missing_live_file(history: Path) -> None:
    history.unlink()
    restore_backup(history)
    assert history.read_bytes() == backup(history, 1).read_bytes() == version(2)


def test_restore_of_missing_live_file_copies(history: Path) -> None:
    history.unlink()
    restore_backup(history)
    assert history.stat().st_ino != backup(history, 1).stat().st_ino


def test_restore_missing_backup(history: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        restore_backup(history, index=4)
    assert caught.value.filename == str(backup(history, 4))


def test_restore_missing_backup_changes_nothing(history: Path) -> None:
    with pytest.raises(FileNotFoundError):
        restore_backup(history, index=4)
    assert contents(history) == [version(3), version(2), version(1), version(0)]


@pytest.mark.parametrize("index", [0, -1], ids=["zero", "negative"])
def test_restore_invalid_index(history: Path, index: int) -> None:
    with pytest.raises(ValueError, match=f"invalid backup index {index}"):
        restore_backup(history, index=index)


def test_restore_through_symlink(history: Path) -> None:
    link = history.with_name("link.json")
    link.symlink_to(history.name)
    restore_backup(link)
    assert history.read_bytes() == version(2)


# Command line


def test_cli_write_with_backups(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    for number in range(3):
        stdin = io.BytesIO(version(number))
        status = main(["write", str(path), "--backups", "1"], stdin=stdin)
        assert status == 0
    assert backup(path, 1).read_bytes() == version(1)


def test_cli_write_invalid_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    path.write_text("{}")
    status = main(["write", str(path), "--validate", "json"], stdin=io.BytesIO(b"{"))
    assert status == 1
    assert path.read_text() == "{}"
    assert "invalid JSON" in capsys.readouterr().err


def test_cli_restore_index(history: Path) -> None:
    status = main(["restore", str(history), "--index", "2"])
    assert status == 0
    assert history.read_bytes() == version(1)


def test_cli_restore_missing(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["restore", str(history), "--index", "9"])
    assert status == 1
    assert "config.json.9" in capsys.readouterr().err


@pytest.mark.parametrize("index", ["0", "-1", "one"])
def test_cli_restore_bad_index_exit_2(history: Path, index: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["restore", str(history), "--index", index])
    assert caught.value.code == 2
    assert history.read_bytes() == version(3)


@pytest.mark.parametrize("index", ["0", "-1", "one"])
def test_cli_restore_bad_index_message(
    history: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["restore", str(history), "--index", index])
    assert f"invalid backup index '{index}': use 1 for the newest" in (
        capsys.readouterr().err
    )


HOLD_LOCK = """
import sys, time
from atomicopen import update_text
def slow(old):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    return old
update_text(sys.argv[1], slow)
"""


def hold_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Start a process that holds ``path``'s sidecar lock for ``seconds``."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "locked\n"
    return process


def test_restore_waits_for_existing_lock(history: Path) -> None:
    # Writers with lock=True leave <name>.lock, so a plain restore takes it.
    holder = hold_lock(history, 30)
    try:
        with pytest.raises(TimeoutError):
            restore_backup(history, lock_timeout=0.2)
        with pytest.raises(TimeoutError):
            restore_backup(history, lock=None, lock_timeout=0.2)
        assert contents(history) == [version(3), version(2), version(1), version(0)]
    finally:
        holder.kill()
        holder.communicate()
    restore_backup(history)
    assert history.read_bytes() == version(2)


def test_restore_default_takes_lock_only_if_present(history: Path) -> None:
    restore_backup(history)
    assert not (history.parent / "config.json.lock").exists()
    restore_backup(history, lock=True)
    assert (history.parent / "config.json.lock").exists()


def test_cli_restore_lock_timeout(history: Path) -> None:
    holder = hold_lock(history, 30)
    try:
        status = main(["restore", str(history), "--lock-timeout", "0.2"])
    finally:
        holder.kill()
        holder.communicate()
    assert status == 1
    assert history.read_bytes() == version(3)


def test_blocked_rotation_names_both_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    write_versions(path, 3, keep=3)
    backup(path, 3).unlink(missing_ok=True)
    (tmp_path / "f.3" / "inside").mkdir(parents=True)
    with pytest.raises(OSError, match=r"\('f\.2' -> 'f\.3'\)") as caught:
        atomic_write_bytes(path, b"new", backups=3)
    assert caught.value.filename == str(path)
    assert temp_files(tmp_path) == []


def test_long_name_backup_rejected_before_replace(tmp_path: Path) -> None:
    # "<254 bytes>.1" needs 256 bytes.
    target = tmp_path / ("b" * 254)
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="keep no backups") as raised:
        atomic_write_bytes(target, b"new", backups=2)
    assert raised.value.errno == errno.ENAMETOOLONG
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_long_name_fewer_backups_advised(tmp_path: Path) -> None:
    # "<253 bytes>.1" fits in 255 bytes, and "<253 bytes>.10" does not.
    target = tmp_path / ("b" * 253)
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="keep fewer backups"):
        atomic_write_bytes(target, b"new", backups=10)
    assert target.read_bytes() == b"old"
