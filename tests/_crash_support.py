"""Helpers of the crash tests: writer subprocesses, strace runs and their logs."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WRITER = Path(__file__).with_name("_crash_writer.py")
START_MARKER = "COMMIT-START"
END_MARKER = "COMMIT-END"

# A fixed hash seed and no bytecode writes make the start-up of every writer
# run the same system calls, so the counts before the start marker match
# between the traced run and the runs with a fault injected.
WRITER_ENV = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}

# "name(" starts a system call in a log of strace -o, and "PID name(" in one of
# strace -f -o. Lines that resume an unfinished call ("<... name resumed>") and
# signal lines do not match.
_CALL = re.compile(r"^(?:(\d+)\s+)?([a-z_0-9]+)\(")


def writer_command(target: Path, mode: str, durability: str, data: bytes) -> list[str]:
    """Return the command line of a writer that commits ``data`` to ``target``."""
    return [sys.executable, str(WRITER), str(target), mode, durability, data.hex()]


def start_holding_writer(
    target: Path, data: bytes, mode: str = "wb"
) -> tuple[subprocess.Popen[str], Path]:
    """Start a writer that stops before its commit; return it and its temp path."""
    process = subprocess.Popen(
        [*writer_command(target, mode, "full", data), "--hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=WRITER_ENV,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        process.wait()
        raise RuntimeError(f"the writer exited with {process.returncode} early")
    return process, Path(line)


@dataclass(frozen=True)
class Call:
    """One system call of a commit.

    :ivar name: the system call's name, as strace spells it.
    :ivar ordinal: its number among the calls of that name since the process
        started, which strace's ``when=`` counts.
    :ivar index: its position among all the commit's system calls.
    :ivar line: the strace log line.
    """

    name: str
    ordinal: int
    index: int
    line: str

    @property
    def label(self) -> str:
        """A readable id such as ``12-renameat``."""
        return f"{self.index:02d}-{self.name}"


@dataclass(frozen=True)
class TracedRun:
    """A writer run under strace."""

    returncode: int
    outcome: dict[str, object] | None
    calls: list[Call]
    killed: bool

    @property
    def last_call(self) -> Call | None:
        """The commit's last system call that the writer entered."""
        return self.calls[-1] if self.calls else None


def run_traced(
    strace: str,
    command: list[str],
    cwd: Path,
    injection: str | None = None,
    log_path: Path | None = None,
) -> TracedRun:
    """Run ``command`` under strace and return the commit's system calls.

    strace runs without ``-f``: importing atomicopen runs ``ldconfig -p`` in a
    child process (``ctypes.util.find_library``), and with ``-f`` strace counts
    ``when=`` in each process on its own, so an injection meant for the writer
    also hits that child, whose failure sends the writer down another path.

    :param injection: an ``-e inject=...`` expression, or ``None``.
    """
    log = log_path or cwd / "strace.log"
    arguments = [strace, "-s", "96", "-o", str(log)]
    if injection is not None:
        arguments += ["-e", f"inject={injection}"]
    result = subprocess.run(
        [*arguments, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=WRITER_ENV,
        check=False,
        timeout=60,
    )
    lines = log.read_text().splitlines()
    calls = commit_calls(lines)
    outcome = None
    for output_line in result.stdout.splitlines():
        if output_line.startswith("{"):
            outcome = json.loads(output_line)
    return TracedRun(
        returncode=result.returncode,
        outcome=outcome,
        calls=calls,
        killed=any("+++ killed by SIGKILL +++" in line for line in lines),
    )


def commit_calls(lines: list[str]) -> list[Call]:
    """Return the system calls of the writer's main process between the markers."""
    main_pid = _CALL.match(lines[0]).group(1)  # type: ignore[union-attr]
    counts: collections.Counter[str] = collections.Counter()
    calls: list[Call] = []
    inside = False
    for line in lines:
        match = _CALL.match(line)
        if match is None or match.group(1) != main_pid:
            continue
        name = match.group(2)
        counts[name] += 1
        if name == "write" and START_MARKER in line:
            inside = True
            continue
        if name == "write" and END_MARKER in line:
            break
        if inside:
            calls.append(Call(name, counts[name], len(calls), line))
    return calls


def rename_index(calls: list[Call]) -> int:
    """Return the position of the rename that replaces the target."""
    for call in calls:
        if call.name.startswith("rename") and '"' in call.line:
            return call.index
    raise AssertionError("the commit made no rename: " + repr(calls))
