"""remove_stale_temp_files() and ``atomicopen clean``: what killed writers leave."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

import atomicopen
from atomicopen import AtomicFile, _cleanup, remove_stale_temp_files
from atomicopen._cli import main
from atomicopen._names import make_temp_name
from tests._crash_support import start_holding_writer
from tests.conftest import run_as_nobody

HOUR = 3600


def make_temp(directory: Path, target: str = "data.txt", age: float = 0) -> Path:
    """Create a temporary file as a killed writer leaves it, ``age`` seconds old.

    Only the modification time can be set back, so a test that needs the
    status change time old too moves the cleaner's clock instead.
    """
    path = directory / make_temp_name(target)
    path.write_bytes(b"partial")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def advance_clock(mocker: MockerFixture, seconds: float) -> None:
    """Make the cleaner's clock run ``seconds`` ahead of the files' times."""
    real_time = time.time
    mocker.patch("time.time", side_effect=lambda: real_time() + seconds)


@pytest.fixture
def killed_writer_temp(tmp_path: Path) -> Path:
    """The temporary file of a writer killed with SIGKILL before its commit."""
    target = tmp_path / "data.txt"
    target.write_bytes(b"old")
    process, temp = start_holding_writer(target, b"new content")
    process.send_signal(signal.SIGKILL)
    process.communicate()
    return temp


# Removal


def test_removes_killed_writers_temp(killed_writer_temp: Path) -> None:
    removed = remove_stale_temp_files(killed_writer_temp.parent, older_than=0)
    assert removed == [str(killed_writer_temp)]
    assert not killed_writer_temp.exists()


def test_killed_writer_leaves_target(killed_writer_temp: Path) -> None:
    remove_stale_temp_files(killed_writer_temp.parent, older_than=0)
    assert (killed_writer_temp.parent / "data.txt").read_bytes() == b"old"


def test_keeps_live_writers_temp(tmp_path: Path) -> None:
    target = tmp_path / "data.txt"
    process, temp = start_holding_writer(target, b"new content")
    try:
        # Old enough by age: only the writer's lock protects it.
        then = time.time() - 10 * HOUR
        os.utime(temp, (then, then))
        removed = remove_stale_temp_files(tmp_path, older_than=0)
        assert removed == []
        assert temp.exists()
    finally:
        output, _ = process.communicate("\n", timeout=30)
    assert '"ok": true' in output
    assert target.read_bytes() == b"new content"


def test_default_age_keeps_recent_temp(tmp_path: Path, mocker: MockerFixture) -> None:
    temp = make_temp(tmp_path)
    advance_clock(mocker, HOUR - 60)
    assert remove_stale_temp_files(tmp_path) == []
    assert temp.exists()


def test_default_age_removes_old_temp(tmp_path: Path, mocker: MockerFixture) -> None:
    temp = make_temp(tmp_path)
    advance_clock(mocker, HOUR + 60)
    assert remove_stale_temp_files(tmp_path) == [str(temp)]


def test_old_mtime_recent_link_kept(tmp_path: Path) -> None:
    # A backup in the making: a fresh hard link, under a temporary name, to a
    # file last modified long ago. link() updates ctime, not mtime.
    target = tmp_path / "data.txt"
    target.write_bytes(b"live")
    then = time.time() - 10 * HOUR
    os.utime(target, (then, then))
    snapshot = tmp_path / make_temp_name("data.txt.1")
    os.link(target, snapshot)
    assert remove_stale_temp_files(tmp_path) == []
    assert snapshot.exists()


def test_default_older_than_is_an_hour() -> None:
    assert _cleanup.DEFAULT_OLDER_THAN == 3600


def test_removes_several_sorted(tmp_path: Path) -> None:
    temps = sorted(str(make_temp(tmp_path, name)) for name in ("a", "b", "c"))
    assert remove_stale_temp_files(tmp_path, older_than=0) == temps


def test_dry_run_lists_only(tmp_path: Path) -> None:
    temp = make_temp(tmp_path)
    assert remove_stale_temp_files(tmp_path, older_than=0, dry_run=True) == [str(temp)]
    assert temp.exists()


def test_dry_run_skips_live_writer(tmp_path: Path) -> None:
    process, _ = start_holding_writer(tmp_path / "data.txt", b"x")
    try:
        assert remove_stale_temp_files(tmp_path, older_than=0, dry_run=True) == []
    finally:
        process.kill()
        process.communicate()


def test_accepts_path_and_str(tmp_path: Path) -> None:
    make_temp(tmp_path)
    assert len(remove_stale_temp_files(str(tmp_path), older_than=0)) == 1


def test_exported_from_package() -> None:
    assert atomicopen.remove_stale_temp_files is remove_stale_temp_files


def test_removes_nothing_in_empty_directory(tmp_path: Path) -> None:
    assert remove_stale_temp_files(tmp_path, older_than=0) == []


def test_not_recursive(tmp_path: Path) -> None:
    subdirectory = tmp_path / "sub"
    subdirectory.mkdir()
    temp = make_temp(subdirectory)
    assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert temp.exists()


# Files that are left alone

LOOKALIKE_NAMES = [
    pytest.param("data.txt", id="ordinary"),
    pytest.param(".atomicopen.", id="prefix-only"),
    pytest.param(".atomicopen.0123456789ab", id="no-dot-after-random"),
    pytest.param(".atomicopen.0123456789AB.data", id="upper-case-hex"),
    pytest.param(".atomicopen.0123456789a.data", id="11-digits"),
    pytest.param(".atomicopen.0123456789abc.data", id="13-digits"),
    pytest.param(".atomicopen.xyz456789abc.data", id="not-hex"),
    pytest.param("atomicopen.0123456789ab.data", id="no-leading-dot"),
    pytest.param("x.atomicopen.0123456789ab.data", id="prefix-inside"),
    pytest.param(".atomicopen-0123456789ab.data", id="dash-not-dot"),
]


@pytest.mark.parametrize("name", LOOKALIKE_NAMES)
def test_keeps_lookalike_name(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"keep me")
    os.utime(path, (0, 0))
    assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert path.read_bytes() == b"keep me"


def test_keeps_symlink_with_temp_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    link = tmp_path / make_temp_name("data")
    link.symlink_to(victim)
    assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert link.is_symlink()
    assert victim.read_bytes() == b"keep me"


def test_keeps_dangling_symlink_with_temp_name(tmp_path: Path) -> None:
    link = tmp_path / make_temp_name("data")
    link.symlink_to(tmp_path / "missing")
    assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert link.is_symlink()


def test_keeps_directory_with_temp_name(tmp_path: Path) -> None:
    directory = tmp_path / make_temp_name("data")
    directory.mkdir()
    assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert directory.is_dir()


def test_keeps_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / make_temp_name("data")
    os.mkfifo(fifo)
    # In a subprocess, so that a cleanup that blocked on the FIFO fails the test
    # by timing out instead of hanging the suite.
    result = subprocess.run(
        [sys.executable, "-m", "atomicopen", "clean", "--older-than", "0", tmp_path],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == ""
    assert fifo.is_fifo()


def test_keeps_name_replaced_while_locking(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    temp = make_temp(tmp_path)
    newcomer = tmp_path / "newcomer"
    newcomer.write_bytes(b"a new file under the old name")
    real_try_lock = _cleanup._try_lock

    def swap_then_lock(fd: int, name: str) -> bool:
        # Another process renames a new file onto the name that was checked.
        newcomer.replace(temp)
        return real_try_lock(fd, name)

    mocker.patch.object(_cleanup, "_try_lock", side_effect=swap_then_lock)
    assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert temp.read_bytes() == b"a new file under the old name"


def test_relies_on_age_without_locks(tmp_path: Path, mocker: MockerFixture) -> None:
    temp = make_temp(tmp_path)
    mocker.patch(
        "atomicopen._cleanup.fcntl.flock", side_effect=OSError(37, "No locks available")
    )
    assert remove_stale_temp_files(tmp_path, older_than=0) == [str(temp)]


# Failures


@pytest.fixture
def world_readable_directory() -> Iterator[Path]:
    """A directory that any user may list but only root may change.

    pytest's tmp_path lies under a directory that only root may enter.
    """
    path = Path(tempfile.mkdtemp(prefix="atomicopen-clean-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_unremovable_temp_is_reported(
    world_readable_directory: Path, nobody_pythonpath: str
) -> None:
    temp = make_temp(world_readable_directory)
    temp.chmod(0o644)
    result = run_as_nobody(
        [
            sys.executable,
            "-m",
            "atomicopen",
            "clean",
            "--older-than=0",
            str(world_readable_directory),
        ],
        nobody_pythonpath,
        check=False,
    )
    assert result.returncode == 1
    assert f"{temp}: cannot remove the stale temporary file" in result.stderr
    assert temp.exists()


def test_unremovable_temp_logs_error(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    make_temp(tmp_path)
    denied = PermissionError(13, "Permission denied")
    mocker.patch("atomicopen._cleanup.os.unlink", side_effect=denied)
    with caplog.at_level(logging.ERROR, logger="atomicopen._cleanup"):
        assert remove_stale_temp_files(tmp_path, older_than=0) == []
    assert "Permission denied" in caplog.text


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Directory not found") as caught:
        remove_stale_temp_files(tmp_path / "missing")
    assert caught.value.filename == str(tmp_path / "missing")


def test_file_instead_of_directory(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="Not a directory"):
        remove_stale_temp_files(file)


@pytest.mark.parametrize(
    "older_than",
    [
        pytest.param(-1, id="negative"),
        pytest.param(-0.5, id="negative-float"),
        pytest.param(math.nan, id="nan"),
        pytest.param(math.inf, id="infinite"),
    ],
)
def test_invalid_older_than(tmp_path: Path, older_than: float) -> None:
    with pytest.raises(ValueError, match="invalid older_than"):
        remove_stale_temp_files(tmp_path, older_than=older_than)


@pytest.mark.parametrize(
    "older_than",
    [
        pytest.param("60", id="str"),
        pytest.param(True, id="bool"),
        pytest.param(None, id="none"),
    ],
)
def test_older_than_of_wrong_type(tmp_path: Path, older_than: object) -> None:
    with pytest.raises(TypeError, match="older_than must be a number"):
        remove_stale_temp_files(tmp_path, older_than=older_than)  # type: ignore[arg-type]


# Command line


def test_cli_prints_removed_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    temps = sorted(str(make_temp(tmp_path, name)) for name in ("a", "b"))
    assert main(["clean", "--older-than", "0", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines() == temps


def test_cli_dry_run_keeps_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    temp = make_temp(tmp_path)
    assert main(["clean", "--dry-run", "--older-than", "0", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{temp}\n"
    assert temp.exists()


def test_cli_default_age_keeps_recent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    temp = make_temp(tmp_path)
    assert main(["clean", str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""
    assert temp.exists()


def test_cli_reports_kept_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_temp(tmp_path, "a")
    make_temp(tmp_path, "b")
    assert main(["clean", str(tmp_path)]) == 0
    error = capsys.readouterr().err
    assert "kept 2 temporary file(s) that changed in the last 3600 seconds" in error
    assert "--older-than 0" in error


def test_cli_nothing_kept_is_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_temp(tmp_path)
    assert main(["clean", "--older-than", "0", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_kept_lists_recent_files(tmp_path: Path) -> None:
    temp = make_temp(tmp_path)
    result = _cleanup.clean_directory(tmp_path, older_than=3600, dry_run=False)
    assert result.kept == [str(temp)]
    assert result.removed == []


def test_cli_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clean", str(tmp_path / "missing")]) == 1
    assert "Directory not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("-5", id="negative"),
        pytest.param("soon", id="not-a-number"),
        pytest.param("inf", id="infinite"),
        pytest.param("nan", id="nan"),
    ],
)
def test_cli_invalid_older_than(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["clean", f"--older-than={value}", str(tmp_path)])
    assert caught.value.code == 2
    assert "invalid number of seconds" in capsys.readouterr().err


def test_cli_kept_at_age_zero_names_writer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    atomic = AtomicFile(tmp_path / "live.txt")
    atomic.open()
    try:
        assert main(["clean", "--older-than", "0", str(tmp_path)]) == 0
    finally:
        atomic.discard()
    error = capsys.readouterr().err
    assert "kept 1 temporary file(s) that a live writer holds" in error
    assert "--older-than 0" not in error
