"""Mode, owner and group of the committed file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from atomicopen import AtomicFile, atomic_open
from tests.conftest import run_as_nobody, unavailable

NOBODY = 65534


@pytest.mark.parametrize(
    "mode",
    [0o400, 0o444, 0o600, 0o644, 0o755, 0o2755, 0o4755, 0o1777],
    ids=oct,
)
def test_existing_mode_survives(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    os.chmod(target, mode)
    with atomic_open(target) as file:
        file.write("new")
    assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o640], ids=oct)
def test_temp_never_wider_than_final(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "secret"
    target.write_text("old")
    os.chmod(target, mode)
    atomic = AtomicFile(target)
    atomic.open()
    assert atomic.temp_path is not None
    temp_mode = stat.S_IMODE(os.stat(atomic.temp_path).st_mode)
    assert temp_mode & ~mode == 0
    atomic.discard()


@pytest.mark.parametrize(
    ("umask", "expected"),
    [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0, 0o666)],
    ids=oct,
)
def test_new_file_honours_umask(tmp_path: Path, umask: int, expected: int) -> None:
    # A child process sets its own umask, so this process's stays untouched.
    target = tmp_path / "new"
    code = (
        "import os, sys; from atomicopen import atomic_write_text;"
        f" os.umask({umask}); atomic_write_text(sys.argv[1], 'x')"
    )
    subprocess.run([sys.executable, "-c", code, str(target)], check=True)
    assert stat.S_IMODE(target.stat().st_mode) == expected


def test_new_file_mode_never_calls_umask(tmp_path: Path, mocker: MockerFixture) -> None:
    spy = mocker.spy(os, "umask")
    with atomic_open(tmp_path / "new") as file:
        file.write("x")
    assert spy.call_count == 0


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_permissions_option_forces_mode(tmp_path: Path, existing: bool) -> None:
    target = tmp_path / "forced"
    if existing:
        target.write_text("old")
        os.chmod(target, 0o644)
    with atomic_open(target, permissions=0o600) as file:
        file.write("x")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_permissions_option_ignores_umask(tmp_path: Path) -> None:
    target = tmp_path / "exec"
    code = (
        "import os, sys; from atomicopen import atomic_write_text;"
        " os.umask(0o077); atomic_write_text(sys.argv[1], 'x', permissions=0o755)"
    )
    subprocess.run([sys.executable, "-c", code, str(target)], check=True)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755


def test_root_keeps_owner_and_group(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unavailable("only root may give a file to another owner")
    target = tmp_path / "owned"
    target.write_text("old")
    os.chown(target, NOBODY, NOBODY)
    os.chmod(target, 0o4755)
    with atomic_open(target) as file:
        file.write("new")
    status = target.stat()
    assert status.st_uid == NOBODY
    assert status.st_gid == NOBODY
    # fchown clears setuid, so the mode must be set after the owner.
    assert stat.S_IMODE(status.st_mode) == 0o4755


def test_user_keeps_group_it_belongs_to(
    public_dir: Path, nobody_pythonpath: str
) -> None:
    """A non-root writer cannot keep another owner but keeps a group it is in."""
    directory = public_dir / "shared"
    directory.mkdir()
    os.chown(directory, NOBODY, 0)
    target = directory / "file"
    target.write_text("old")
    # Owned by root, group 100 ("users"), which the writer below belongs to.
    os.chown(target, 0, 100)
    os.chmod(target, 0o664)
    code = (
        "import sys; from atomicopen import atomic_write_text;"
        " atomic_write_text(sys.argv[1], 'new')"
    )
    run_as_nobody(
        [sys.executable, "-c", code, str(target)], nobody_pythonpath, groups="100"
    )
    status = target.stat()
    assert target.read_text() == "new"
    assert status.st_uid == NOBODY
    assert status.st_gid == 100
    assert stat.S_IMODE(status.st_mode) == 0o664


def test_setuid_kept_by_unprivileged_owner(
    public_dir: Path, nobody_pythonpath: str
) -> None:
    # Writing to a setuid file without CAP_FSETID makes the kernel clear the
    # bit, so the commit must set the mode again after the writes.
    target = public_dir / "tool"
    target.write_text("old")
    os.chown(target, NOBODY, NOBODY)
    os.chmod(target, 0o4755)
    os.chmod(public_dir, 0o777)
    code = (
        "import sys; from atomicopen import atomic_write_text;"
        " atomic_write_text(sys.argv[1], 'new' * 5000)"
    )
    run_as_nobody([sys.executable, "-c", code, str(target)], nobody_pythonpath)
    assert target.read_text() == "new" * 5000
    assert stat.S_IMODE(target.stat().st_mode) == 0o4755


def test_lost_owner_warned_on_command_line(
    public_dir: Path, nobody_pythonpath: str
) -> None:
    target = public_dir / "rootfile"
    target.write_text("old")
    os.chmod(target, 0o666)
    os.chmod(public_dir, 0o777)
    code = "import sys; from atomicopen._cli import main; sys.exit(main())"
    result = run_as_nobody(
        [sys.executable, "-c", code, "write", str(target)], nobody_pythonpath
    )
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("atomicopen: warning: ")
    assert "lose its owner 0" in lines[0]
    assert target.stat().st_uid == NOBODY
