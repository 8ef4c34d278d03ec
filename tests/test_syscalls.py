"""The order of system calls in a commit, recorded with strace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool

WRITER = """
import sys
from atomicopen import atomic_open
with atomic_open(sys.argv[1], durability=sys.argv[2]) as file:
    file.write("content")
"""

TRACED = "openat,fsync,fdatasync,rename,renameat,renameat2,flock,close"


def trace_commit(tmp_path: Path, durability: str) -> list[str]:
    """Run one commit under strace and return its calls, from the directory's open."""
    strace = require_tool("strace")
    target = tmp_path / "target.txt"
    target.write_text("old")
    log = tmp_path / "strace.log"
    subprocess.run(
        [
            strace,
            "-qq",
            "-o",
            str(log),
            "-e",
            f"trace={TRACED}",
            sys.executable,
            "-c",
            WRITER,
            str(target),
            durability,
        ],
        check=True,
    )
    lines = log.read_text().splitlines()
    start = index_of(
        lines, rf'openat\(AT_FDCWD, "{re.escape(str(tmp_path))}", .*O_DIRECTORY'
    )
    return lines[start:]


def result_of(line: str) -> str:
    match = re.search(r"= (\d+)$", line)
    assert match, line
    return match.group(1)


def index_of(lines: list[str], pattern: str) -> int:
    for index, line in enumerate(lines):
        if re.search(pattern, line):
            return index
    raise AssertionError(f"no call matches {pattern!r} in:\n" + "\n".join(lines))


def count_of(lines: list[str], pattern: str) -> int:
    return sum(1 for line in lines if re.search(pattern, line))


@pytest.mark.parametrize("durability", ["full", "file", "none"])
def test_temp_created_relative_to_directory(tmp_path: Path, durability: str) -> None:
    lines = trace_commit(tmp_path, durability)
    directory_fd = result_of(lines[0])
    create = lines[1]
    assert create.startswith(f'openat({directory_fd}, ".atomicopen.')
    for flag in ("O_CREAT", "O_EXCL", "O_NOFOLLOW", "O_CLOEXEC"):
        assert flag in create
    temp_fd = result_of(create)
    assert lines[2].startswith(f"flock({temp_fd}, LOCK_EX|LOCK_NB)")
    rename = index_of(lines, rf"renameat2?\({directory_fd}, \"\.atomicopen\.")
    assert rename > 2
    assert count_of(lines, rf'openat\(AT_FDCWD, "{re.escape(str(tmp_path))}"') == 1


def test_full_syncs_file_then_renames_then_syncs_directory(tmp_path: Path) -> None:
    lines = trace_commit(tmp_path, "full")
    directory_fd = result_of(lines[0])
    temp_fd = result_of(lines[1])
    file_sync = index_of(lines, rf"^fsync\({temp_fd}\)")
    rename = index_of(lines, r"^renameat2?\(")
    directory_sync = index_of(lines, rf"^fsync\({directory_fd}\)")
    assert file_sync < rename < directory_sync
    assert count_of(lines, r"^f(data)?sync\(") == 2


def test_file_durability_skips_directory_sync(tmp_path: Path) -> None:
    lines = trace_commit(tmp_path, "file")
    temp_fd = result_of(lines[1])
    rename = index_of(lines, r"^renameat2?\(")
    assert index_of(lines, rf"^fsync\({temp_fd}\)") < rename
    assert count_of(lines, r"^f(data)?sync\(") == 1


def test_none_durability_never_syncs(tmp_path: Path) -> None:
    lines = trace_commit(tmp_path, "none")
    assert count_of(lines, r"^f(data)?sync\(") == 0
    assert count_of(lines, r"^renameat2?\(") == 1
