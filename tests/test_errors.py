"""Failures: each keeps its errno and path, leaves the target untouched and no temp."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

import atomicopen._directory
from atomicopen import (
    DirectorySyncUnsupportedError,
    DirectorySyncWarning,
    PostCommitError,
    atomic_open,
    atomic_write_bytes,
    atomic_write_text,
)
from tests.conftest import (
    TmpfsMount,
    open_fds,
    require_root,
    run_as_nobody,
    temp_files,
    unavailable,
)

MountTmpfs = Callable[..., TmpfsMount]


def test_missing_parent_names_it(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "file.txt"
    with pytest.raises(FileNotFoundError, match="Parent directory not found") as raised:
        atomic_write_text(target, "x")
    assert raised.value.filename == str(tmp_path / "no" / "such")


@pytest.mark.parametrize("path", ["", b""], ids=["str", "bytes"])
def test_empty_path_rejected(path: str | bytes) -> None:
    with pytest.raises(ValueError, match="invalid path ''"):
        atomic_open(path)


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        atomic_write_text(tmp_path / "file" / "child", "x")


def test_directory_target_raises_before_temp(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        atomic_open(tmp_path / "dir").open()
    assert raised.value.filename == str(tmp_path / "dir")
    assert os.listdir(tmp_path) == ["dir"]


@pytest.mark.parametrize("path", ["dir/", "dir/.", "dir/.."])
def test_directory_form_raises(tmp_path: Path, path: str) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write_text(os.path.join(tmp_path, path), "x")


def test_fifo_target_rejected(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="Not a regular file") as raised:
        atomic_write_text(tmp_path / "fifo", "x")
    assert raised.value.errno == errno.EINVAL
    assert temp_files(tmp_path) == []


def test_name_too_long_keeps_errno_and_path(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 256)
    with pytest.raises(OSError) as raised:
        atomic_write_text(target, "x")
    assert raised.value.errno == errno.ENAMETOOLONG
    assert raised.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_name_of_255_bytes_works(tmp_path: Path) -> None:
    name = "é" * 127 + "x"  # 255 bytes in UTF-8
    assert len(os.fsencode(name)) == 255
    atomic_write_text(tmp_path / name, "long")
    assert (tmp_path / name).read_text() == "long"
    assert temp_files(tmp_path) == []


def test_name_max_143_shortens_temp_name(tmp_path: Path, mocker: MockerFixture) -> None:
    # eCryptfs has NAME_MAX 143; no such file system can be mounted here, so
    # the directory's limit is simulated.
    real_open = os.open
    created: list[str] = []

    def open_with_limit(
        path: str, flags: int, mode: int = 0o777, **kwargs: object
    ) -> int:
        if len(os.fsencode(path)) > 143:
            raise OSError(errno.ENAMETOOLONG, "File name too long", path)
        created.append(path)
        return real_open(path, flags, mode, **kwargs)  # type: ignore[arg-type]

    mocker.patch("os.open", side_effect=open_with_limit)
    mocker.patch("os.fpathconf", return_value=143)
    mocker.patch("os.lstat", side_effect=FileNotFoundError)
    name = "n" * 140
    mocker.patch("os.stat", side_effect=FileNotFoundError)
    atomic_write_text(tmp_path / name, "short")
    temp_names = [path for path in created if path.startswith(".atomicopen.")]
    assert len(temp_names) == 1
    assert len(os.fsencode(temp_names[0])) == 143


def test_disk_full_on_tmpfs(mount_tmpfs: MountTmpfs) -> None:
    mount = mount_tmpfs(1 << 20)
    target = mount.path / "file.bin"
    target.write_bytes(b"old")
    before = open_fds()
    with pytest.raises(OSError) as raised:
        atomic_write_bytes(target, b"x" * (2 << 20))
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(target)
    assert "the target was left unchanged" in str(raised.value)
    assert target.read_bytes() == b"old"
    assert temp_files(mount.path) == []
    assert open_fds() == before


def test_read_only_tmpfs(mount_tmpfs: MountTmpfs) -> None:
    mount = mount_tmpfs(1 << 20)
    target = mount.path / "file.txt"
    target.write_text("old")
    mount.remount("ro")
    with pytest.raises(OSError, match="creating a temporary file") as raised:
        atomic_write_text(target, "new")
    assert raised.value.errno == errno.EROFS
    assert raised.value.filename == str(target)
    assert target.read_text() == "old"


def test_permission_denied_as_other_user(
    public_dir: Path, nobody_pythonpath: str
) -> None:
    target = public_dir / "file.txt"
    target.write_text("old")
    code = (
        "import sys\nfrom atomicopen import atomic_write_text\n"
        "try:\n    atomic_write_text(sys.argv[1], 'new')\n"
        "except PermissionError as e:\n    print(e.errno, e.filename)\n"
    )
    result = run_as_nobody([sys.executable, "-c", code, str(target)], nobody_pythonpath)
    assert result.stdout.split() == [str(errno.EACCES), str(target)]
    assert target.read_text() == "old"
    assert temp_files(public_dir) == []


def test_bind_mounted_file_raises_ebusy(tmp_path: Path) -> None:
    require_root()
    source = tmp_path / "source.txt"
    source.write_text("mounted")
    target = tmp_path / "target.txt"
    target.write_text("old")
    result = subprocess.run(
        ["mount", "--bind", str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"mount --bind was refused: {result.stderr.strip()}")
    try:
        with pytest.raises(OSError, match="bind-mounted") as raised:
            atomic_write_text(target, "new")
        assert raised.value.errno == errno.EBUSY
        assert raised.value.filename == str(target)
        assert target.read_text() == "mounted"
        assert temp_files(tmp_path) == []
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_fsync_failure_aborts_without_retry(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    fsync = mocker.patch(
        "os.fsync", side_effect=OSError(errno.EIO, "Input/output error")
    )
    with pytest.raises(OSError, match="fsync of the temporary file") as raised:
        atomic_write_text(target, "new")
    assert raised.value.errno == errno.EIO
    assert raised.value.filename == str(target)
    assert "left unchanged" in str(raised.value)
    # A second fsync could succeed without the data that the first one lost.
    assert fsync.call_count == 1
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_close_failure_aborts(tmp_path: Path, mocker: MockerFixture) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old")
    atomic = atomic_open(target)
    file = atomic.open()
    file.write("new")
    mocker.patch.object(
        file, "close", side_effect=OSError(errno.EIO, "Input/output error")
    )
    with pytest.raises(OSError, match="closing the temporary file") as raised:
        atomic.commit()
    assert raised.value.errno == errno.EIO
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []
    mocker.stopall()
    file.close()


def _fail_directory_fsync(mocker: MockerFixture, code: int) -> None:
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    mocker.patch("os.fsync", side_effect=fsync)


def test_directory_fsync_einval_says_content_live(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    target = tmp_path / "file.txt"
    _fail_directory_fsync(mocker, errno.EINVAL)
    with pytest.raises(
        DirectorySyncUnsupportedError, match="has the new content"
    ) as raised:
        atomic_write_text(target, "new")
    assert isinstance(raised.value, PostCommitError)
    assert raised.value.errno == errno.EINVAL
    assert raised.value.filename == str(target)
    assert target.read_text() == "new"
    assert temp_files(tmp_path) == []


def test_directory_fsync_einval_can_warn(tmp_path: Path, mocker: MockerFixture) -> None:
    target = tmp_path / "file.txt"
    _fail_directory_fsync(mocker, errno.EINVAL)
    with pytest.warns(DirectorySyncWarning, match="rejected fsync"):
        atomic_write_text(target, "new", on_dir_sync_unsupported="warn")
    assert target.read_text() == "new"


def test_directory_fsync_eio_is_an_error(tmp_path: Path, mocker: MockerFixture) -> None:
    target = tmp_path / "file.txt"
    _fail_directory_fsync(mocker, errno.EIO)
    with pytest.raises(PostCommitError, match="do not retry") as raised:
        atomic_write_text(target, "new", on_dir_sync_unsupported="warn")
    assert not isinstance(raised.value, DirectorySyncUnsupportedError)
    assert raised.value.errno == errno.EIO
    assert target.read_text() == "new"


def test_windows_replace_retries_with_backoff(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    mocker.patch.object(atomicopen._directory, "WINDOWS", True)
    real_replace = os.replace
    sharing_violation = PermissionError(errno.EACCES, "Access is denied")
    replace = mocker.patch(
        "os.replace", side_effect=[sharing_violation, sharing_violation, real_replace]
    )
    replace.side_effect = [sharing_violation, sharing_violation, None]
    sleep = mocker.patch("time.sleep")
    target = tmp_path / "file.txt"
    with caplog.at_level(logging.WARNING, logger="atomicopen"):
        atomic = atomic_open(target, replace_timeout=5)
        file = atomic.open()
        file.write("new")
        temp_path = str(atomic.temp_path)
        atomic.commit()
    assert replace.call_count == 3
    assert replace.call_args.args == (temp_path, str(target))
    delays = [call.args[0] for call in sleep.call_args_list]
    assert len(delays) == 2
    assert delays[1] > delays[0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "attempt 1" in warnings[0].getMessage()
    # The mocked rename did not move the file, so remove it by hand.
    os.unlink(temp_path)


def test_windows_replace_gives_up_after_timeout(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    mocker.patch.object(atomicopen._directory, "WINDOWS", True)
    mocker.patch(
        "os.replace", side_effect=PermissionError(errno.EACCES, "Access is denied")
    )
    clock = iter(range(0, 1000))
    mocker.patch("time.monotonic", side_effect=lambda: float(next(clock)))
    mocker.patch("time.sleep")
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(PermissionError, match="renaming the temporary file"):
        atomic_write_text(target, "new", replace_timeout=3)
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_windows_errors_other_than_sharing_not_retried(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    mocker.patch.object(atomicopen._directory, "WINDOWS", True)
    replace = mocker.patch("os.replace", side_effect=OSError(errno.EIO, "I/O error"))
    sleep = mocker.patch("time.sleep")
    with pytest.raises(OSError, match="I/O error"):
        atomic_write_text(tmp_path / "f", "x")
    assert replace.call_count == 1
    assert sleep.call_count == 0
