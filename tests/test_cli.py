"""The atomicopen command line."""

from __future__ import annotations

import io
import os
import pty
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest
from pytest_mock import MockerFixture

from atomicopen._cli import main
from atomicopen.hooks import DirectorySync
from tests.conftest import TmpfsMount, temp_files

COMMANDS = {
    "module": [sys.executable, "-m", "atomicopen"],
    "script": [os.path.join(os.path.dirname(sys.executable), "atomicopen")],
}


def run(
    command: str, *arguments: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*COMMANDS[command], *arguments], input=stdin, capture_output=True, check=False
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_write_commits_standard_input(tmp_path: Path, command: str) -> None:
    if command == "script" and not os.path.exists(COMMANDS["script"][0]):
        pytest.skip("the console script is not installed next to this interpreter")
    target = tmp_path / "out.txt"
    result = run(command, "write", str(target), stdin=b"hello\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert target.read_bytes() == b"hello\n"


def test_write_is_a_sponge(tmp_path: Path) -> None:
    # The reader of the pipe reads the file while the writer replaces it.
    target = tmp_path / "config.txt"
    target.write_text("b\na\nc\n")
    script = f"sort {target} | {sys.executable} -m atomicopen write {target}"
    subprocess.run(["sh", "-c", script], check=True)
    assert target.read_text() == "a\nb\nc\n"


def test_write_large_input_streams(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    data = os.urandom(5 << 20)
    result = run("module", "write", str(target), stdin=data)
    assert result.returncode == 0
    assert target.read_bytes() == data


def test_write_empty_input(tmp_path: Path) -> None:
    target = tmp_path / "empty.txt"
    target.write_text("old")
    assert run("module", "write", str(target)).returncode == 0
    assert target.read_bytes() == b""


@pytest.mark.parametrize(
    ("text", "mode"), [("600", 0o600), ("0o640", 0o640), ("0755", 0o755)]
)
def test_write_permissions_octal(tmp_path: Path, text: str, mode: int) -> None:
    target = tmp_path / "perm.txt"
    assert main(["write", str(target), "--permissions", text], stdin=_stdin(b"x")) == 0
    assert stat.S_IMODE(target.stat().st_mode) == mode


@pytest.mark.parametrize("text", ["rw", "999", "17777", "-1"])
def test_write_bad_permissions_exit_2(tmp_path: Path, text: str) -> None:
    target = tmp_path / "perm.txt"
    result = run("module", "write", str(target), "--permissions", text)
    assert result.returncode == 2
    assert text in result.stderr.decode()
    assert not target.exists()


@pytest.mark.parametrize("durability", ["full", "file", "none"])
def test_write_durability_choice(tmp_path: Path, durability: str) -> None:
    target = tmp_path / "d.txt"
    assert (
        main(["write", str(target), "--durability", durability], stdin=_stdin(b"d"))
        == 0
    )
    assert target.read_bytes() == b"d"


def test_write_bad_durability_exit_2(tmp_path: Path) -> None:
    result = run("module", "write", str(tmp_path / "x"), "--durability", "always")
    assert result.returncode == 2
    assert b"always" in result.stderr


def test_write_no_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("real")
    (tmp_path / "link").symlink_to("real")
    assert (
        main(
            ["write", str(tmp_path / "link"), "--no-follow-symlinks"],
            stdin=_stdin(b"n"),
        )
        == 0
    )
    assert not (tmp_path / "link").is_symlink()
    assert (tmp_path / "real").read_text() == "real"


def test_write_failure_one_line_and_untouched(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "file.txt"
    result = run("module", "write", str(target), stdin=b"data")
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("atomicopen: error: ")
    assert str(tmp_path / "missing-dir") in lines[0]
    assert "not found" in lines[0]


def test_write_read_only_mount(mount_tmpfs: Callable[..., TmpfsMount]) -> None:
    mount = mount_tmpfs(1 << 20)
    target = mount.path / "ro.txt"
    target.write_text("old")
    mount.remount("ro")
    result = run("module", "write", str(target), stdin=b"new")
    assert result.returncode == 1
    message = result.stderr.decode()
    assert str(target) in message
    assert "Read-only file system" in message
    assert target.read_text() == "old"


def test_write_disk_full(mount_tmpfs: Callable[..., TmpfsMount]) -> None:
    mount = mount_tmpfs(1 << 20)
    target = mount.path / "full.bin"
    target.write_bytes(b"old")
    result = run("module", "write", str(target), stdin=b"x" * (2 << 20))
    assert result.returncode == 1
    assert "No space left on device" in result.stderr.decode()
    assert str(target) in result.stderr.decode()
    assert target.read_bytes() == b"old"
    assert temp_files(mount.path) == []


def test_interrupt_leaves_target(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("old")

    class Interrupting:
        def isatty(self) -> bool:
            return False

        def read(self, size: int) -> bytes:
            raise KeyboardInterrupt

    assert main(["write", str(target)], stdin=Interrupting()) == 130  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_no_command_exit_2() -> None:
    assert run("module").returncode == 2


def test_version() -> None:
    result = run("module", "--version")
    assert result.returncode == 0
    assert result.stdout.decode().strip()


def _stdin(data: bytes) -> BinaryIO:
    return io.BytesIO(data)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_termination_signal_discards(tmp_path: Path, signal_name: str) -> None:
    target = tmp_path / "target.txt"
    target.write_text("old")
    process = subprocess.Popen(
        [*COMMANDS["module"], "write", str(target)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    process.stdin.write(b"partial")
    process.stdin.flush()
    deadline = time.monotonic() + 10
    while not temp_files(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert temp_files(tmp_path) != []
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=10)
    process.stdin.close()
    assert process.returncode == 128 + getattr(signal, signal_name)
    assert f"stopped by {signal_name}; {target} was left unchanged" in stderr.decode()
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_main_restores_signal_handlers(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert main(["write", str(tmp_path / "f")], stdin=_stdin(b"x")) == 0
    assert signal.getsignal(signal.SIGTERM) is before


def test_interrupt_after_rename_says_replaced(
    tmp_path: Path, mocker: MockerFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # A signal that lands between the rename and the directory fsync: no
    # machine can aim one there, so the fsync hook raises it.
    mocker.patch.object(DirectorySync, "sync_directory", side_effect=KeyboardInterrupt)
    target = tmp_path / "target.txt"
    target.write_text("old")
    assert main(["write", str(target)], stdin=_stdin(b"new")) == 130
    assert target.read_text() == "new"
    message = capsys.readouterr().err
    assert f"after {target} was replaced" in message
    assert "unchanged" not in message


def test_terminal_input_prompts(tmp_path: Path) -> None:
    target = tmp_path / "typed.txt"
    target.write_text("old\n")
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "atomicopen", "write", str(target)],
            stdin=terminal,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The terminal's line discipline ends the input at a Ctrl-D that
        # starts a line.
        os.write(controller, b"typed\n\x04")
        _, error = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 0
    assert "from the terminal; end it with Ctrl-D" in error
    assert target.read_text() == "typed\n"


def test_piped_input_no_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["write", str(tmp_path / "piped.txt")], stdin=io.BytesIO(b"x")) == 0
    assert capsys.readouterr().err == ""


def test_validate_json_rejects_empty_input(tmp_path: Path) -> None:
    # What a failed jq at the head of the pipeline leaves on standard input.
    target = tmp_path / "config.json"
    target.write_text('{"debug": false}\n')
    status = main(["write", "--validate", "json", str(target)], stdin=io.BytesIO())
    assert status == 1
    assert target.read_text() == '{"debug": false}\n'
    assert temp_files(tmp_path) == []


def test_validation_error_names_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "c.json"
    target.write_text("{}\n")
    assert (
        main(["write", "--validate", "json", str(target)], stdin=io.BytesIO(b"{")) == 1
    )
    error = capsys.readouterr().err
    assert error.startswith("atomicopen: error: invalid JSON in the new content of")
    assert error.count(str(target)) == 1


def _run_with_stdin_closed(*arguments: str) -> subprocess.CompletedProcess[str]:
    # The shell closes descriptor 0 before it starts Python, which then sets
    # sys.stdin to None.
    script = 'exec "$0" -m atomicopen "$@" <&-'
    return subprocess.run(
        ["sh", "-c", script, sys.executable, *arguments],
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        timeout=60,
    )


def test_closed_stdin_write_refused(tmp_path: Path) -> None:
    target = tmp_path / "h"
    target.write_text("old")
    result = _run_with_stdin_closed("write", str(target))
    assert result.returncode == 1
    assert "standard input is closed" in result.stderr
    assert "Traceback" not in result.stderr
    assert target.read_text() == "old"


def test_closed_stdin_other_commands_run(tmp_path: Path) -> None:
    result = _run_with_stdin_closed("clean", str(tmp_path))
    assert result.returncode == 0
    assert result.stderr == ""
