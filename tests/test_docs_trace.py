"""The system-call trace in docs/concepts/commit.strace matches a real commit.

The concepts page explains a commit line by line from that file, so a change in
the order of the library's system calls must update the page too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import require_tool

DOCS_TRACE = Path(__file__).parent.parent / "docs" / "concepts" / "commit.strace"

COMMIT_SCRIPT = """
import sys
from atomicopen import atomic_open
with atomic_open(sys.argv[1]) as f:
    f.write('{"debug": true}\\n')
"""

# Python's open() makes these while it wraps the descriptor in a file object
# (the isatty check, the offset, the block size), and their number differs
# between Python versions. The page explains them as one group.
_PYTHON_IO_CALLS = {"ioctl", "lseek"}
_CALL = re.compile(r"^(?:\d+ +)?(?P<name>\w+)\((?P<arguments>.*)")


def library_calls(lines: list[str]) -> list[str]:
    """Return the names of the calls that the library itself makes, in order."""
    names = []
    for line in lines:
        match = _CALL.match(line)
        if match is None:
            continue
        name = match["name"]
        if name in _PYTHON_IO_CALLS:
            continue
        if name == "newfstatat" and '""' in match["arguments"]:
            continue  # fstat() of the new file object's descriptor
        names.append(name)
    return names


def traced_commit(target: Path) -> list[str]:
    """Commit one write to ``target`` under strace and return its trace lines."""
    strace = require_tool("strace")
    script = target.parent / "commit.py"
    script.write_text(COMMIT_SCRIPT)
    log = target.parent / "trace.txt"
    subprocess.run(
        [
            strace,
            "-f",
            "-e",
            "trace=%file,%desc",
            "-o",
            str(log),
            sys.executable,
            str(script),
            str(target),
        ],
        check=True,
    )
    lines = log.read_text().splitlines()
    # The commit starts where it opens the target's directory, which is the
    # last open of that directory before the temporary file is created: the
    # import system may list the same directory earlier.
    create = next(
        index
        for index, line in enumerate(lines)
        if ".atomicopen." in line and "O_CREAT" in line
    )
    first = max(
        index
        for index in range(create)
        if f'"{target.parent}"' in lines[index] and "O_DIRECTORY" in lines[index]
    )
    return [line for line in lines[first:] if "+++ exited" not in line]


def test_commit_syscalls_match_docs(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    target.write_text("old\n")

    traced = library_calls(traced_commit(target))

    assert traced == library_calls(DOCS_TRACE.read_text().splitlines())
