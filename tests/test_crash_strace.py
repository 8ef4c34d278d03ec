"""Crashes and I/O errors injected into a real writer process with strace.

A writer subprocess (``_crash_writer.py``) commits one file under strace.
A first run logs the system calls between the writer's start and end markers.
Then each call in turn is hit with ``-e inject=NAME:signal=SIGKILL:when=N``,
where ``N`` counts the calls of that name since the process started, and
selected calls fail with ``EIO`` or ``ENOSPC``. After each run the target holds
the old or the new content, complete, the error names the failed step, and
remove_stale_temp_files() leaves no temporary file.

strace stops the writer on entry to the call and the kernel kills it there,
so the killed call never runs: a kill at the rename leaves the old content.
The tests check only "old or new" at the rename itself, because that is all
the library promises.

``ATOMICOPEN_SOAK_SECONDS`` bounds the soak test (``pytest -m soak``), which
repeats every kill in every mode and durability until that time is spent.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from atomicopen import remove_stale_temp_files
from tests._crash_support import (
    Call,
    TracedRun,
    rename_index,
    run_traced,
    writer_command,
)
from tests.conftest import require_tool, temp_files

OLD = b"old content\n" * 100
# Longer than the 4096-byte buffer of the file object, so the writer's own
# write() reaches the kernel before the commit starts.
NEW = b"new content, longer than the old\n" * 200
# Short enough to stay in that buffer until the commit's flush.
SMALL = b"new content\n"


@dataclass(frozen=True)
class Scenario:
    """One commit: its mode and whether the target exists before it."""

    mode: str
    existing: bool
    durability: str = "full"

    @property
    def expected_new(self) -> bytes:
        """The target's content after the commit."""
        if self.mode.startswith("a"):
            return OLD + NEW
        if self.mode.startswith("r"):
            return NEW + OLD[len(NEW) :]
        return NEW

    @property
    def expected_old(self) -> bytes | None:
        """The target's content before the commit; ``None`` if it is missing."""
        return OLD if self.existing else None


SCENARIOS = [
    pytest.param(Scenario("wb", existing=True), id="replace"),
    pytest.param(Scenario("ab", existing=True), id="append"),
    pytest.param(Scenario("xb", existing=False), id="create-x"),
    pytest.param(Scenario("r+b", existing=True), id="edit"),
]


@pytest.fixture(scope="module")
def strace() -> str:
    return require_tool("strace")


def prepare(directory: Path, scenario: Scenario) -> Path:
    """Create ``directory`` with the target as it is before the commit."""
    directory.mkdir()
    target = directory / "target.bin"
    if scenario.existing:
        target.write_bytes(OLD)
    return target


def read_target(target: Path) -> bytes | None:
    return target.read_bytes() if target.exists() else None


def trace_commit(
    strace: str, directory: Path, scenario: Scenario, data: bytes = NEW
) -> TracedRun:
    """Run one commit of ``data`` under strace and return its system calls."""
    target = prepare(directory, scenario)
    command = writer_command(target, scenario.mode, scenario.durability, data)
    run = run_traced(strace, command, directory)
    assert run.outcome == {"ok": True}, run
    if data == NEW:
        assert read_target(target) == scenario.expected_new
    return run


def kill_at(strace: str, directory: Path, scenario: Scenario, call: Call) -> None:
    """Kill the writer on entry to ``call`` and check what it leaves."""
    target = prepare(directory, scenario)
    command = writer_command(target, scenario.mode, scenario.durability, NEW)
    injection = f"{call.name}:signal=SIGKILL:when={call.ordinal}"
    run = run_traced(strace, command, directory, injection)
    assert run.killed, f"{call.label}: the writer was not killed: {run}"
    assert run.last_call is not None
    assert run.last_call.index == call.index, f"{call.label}: killed at {run.last_call}"
    assert run.last_call.name == call.name, f"{call.label}: killed at {run.last_call}"


def check_after_kill(
    directory: Path, scenario: Scenario, call: Call, rename_at: int
) -> None:
    target = directory / "target.bin"
    content = read_target(target)
    if call.index < rename_at:
        expected = [scenario.expected_old]
    elif call.index > rename_at:
        expected = [scenario.expected_new]
    else:
        expected = [scenario.expected_old, scenario.expected_new]
    assert content in expected, f"killed at {call.label}: torn or wrong target"
    remove_stale_temp_files(directory, older_than=0)
    assert temp_files(directory) == [], f"killed at {call.label}: temp left"


def kill_at_every_call(strace: str, base: Path, scenario: Scenario) -> int:
    """Kill a commit at each of its system calls in turn; return the kill count."""
    traced = trace_commit(strace, base / "trace", scenario)
    rename_at = rename_index(traced.calls)
    for call in traced.calls:
        directory = base / f"kill-{call.label}"
        kill_at(strace, directory, scenario, call)
        check_after_kill(directory, scenario, call, rename_at)
    return len(traced.calls)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_kill_at_every_commit_call(
    strace: str, tmp_path: Path, scenario: Scenario
) -> None:
    kills = kill_at_every_call(strace, tmp_path, scenario)
    # open, create, lock, write, fsync, close, rename, fsync and close at least.
    assert kills >= 9


def test_trace_covers_commit_steps(strace: str, tmp_path: Path) -> None:
    traced = trace_commit(strace, tmp_path / "trace", Scenario("wb", existing=True))
    names = [call.name for call in traced.calls]
    for step in ("openat", "flock", "write", "fsync", "renameat", "close"):
        assert step in names, f"no {step} in {names}"


# Injected errors


@dataclass(frozen=True)
class Fault:
    """An error injected into the ``occurrence``-th call of ``syscall``."""

    syscall: str
    occurrence: int
    code: int
    step: str
    committed: bool
    error_type: str = "OSError"
    mode: str = "wb"
    data: bytes = SMALL


FAULTS = [
    pytest.param(
        Fault("write", 1, errno.EIO, "writing to the temporary file failed", False),
        id="write-EIO",
    ),
    pytest.param(
        Fault("write", 1, errno.ENOSPC, "writing to the temporary file failed", False),
        id="write-ENOSPC",
    ),
    pytest.param(
        Fault("fsync", 1, errno.EIO, "fsync of the temporary file", False),
        id="fsync-file-EIO",
    ),
    pytest.param(
        Fault("fsync", 1, errno.ENOSPC, "fsync of the temporary file", False),
        id="fsync-file-ENOSPC",
    ),
    pytest.param(
        Fault(
            "fsync",
            2,
            errno.EIO,
            "has the new content, but the step after the rename",
            True,
            "PostCommitError",
        ),
        id="fsync-directory-EIO",
    ),
    pytest.param(
        Fault("close", 1, errno.EIO, "closing the temporary file failed", False),
        id="close-EIO",
    ),
    pytest.param(
        Fault("close", 1, errno.ENOSPC, "closing the temporary file failed", False),
        id="close-ENOSPC",
    ),
    pytest.param(
        Fault(
            "renameat",
            1,
            errno.EIO,
            "renaming the temporary file over the target failed",
            False,
        ),
        id="rename-EIO",
    ),
    pytest.param(
        Fault(
            "renameat",
            1,
            errno.ENOSPC,
            "renaming the temporary file over the target failed",
            False,
        ),
        id="rename-ENOSPC",
    ),
    pytest.param(
        Fault(
            "renameat2",
            1,
            errno.EIO,
            "renaming the temporary file over the target failed",
            False,
            mode="xb",
        ),
        id="rename-noreplace-EIO",
    ),
]


def ordinal_of(traced: TracedRun, syscall: str, occurrence: int) -> int:
    """Return strace's ``when=`` count of the commit's ``occurrence``-th call."""
    matching = [call for call in traced.calls if call.name == syscall]
    assert len(matching) >= occurrence, f"only {len(matching)} {syscall} calls"
    return matching[occurrence - 1].ordinal


@pytest.mark.parametrize("fault", FAULTS)
def test_injected_error(strace: str, tmp_path: Path, fault: Fault) -> None:
    existing = not fault.mode.startswith("x")
    scenario = Scenario(fault.mode, existing=existing)
    traced = trace_commit(strace, tmp_path / "trace", scenario, fault.data)
    when = ordinal_of(traced, fault.syscall, fault.occurrence)
    directory = tmp_path / "fault"
    target = prepare(directory, scenario)
    command = writer_command(target, scenario.mode, scenario.durability, fault.data)
    injection = f"{fault.syscall}:error={errno.errorcode[fault.code]}:when={when}"

    run = run_traced(strace, command, directory, injection)

    assert run.outcome is not None, run
    assert run.outcome["ok"] is False
    assert run.outcome["type"] == fault.error_type
    assert run.outcome["errno"] == fault.code
    message = str(run.outcome["message"])
    assert fault.step in message
    assert os.strerror(fault.code) in message
    assert str(target) in message
    expected = fault.data if fault.committed else scenario.expected_old
    assert read_target(target) == expected
    assert temp_files(directory) == []


def test_write_error_inside_block(strace: str, tmp_path: Path) -> None:
    """A write() that the caller's own f.write() makes fails with its raw error.

    The buffered file object is Python's own, so its error carries the errno
    but neither the step nor the path; the commit is discarded all the same.
    """
    scenario = Scenario("wb", existing=True)
    traced = trace_commit(strace, tmp_path / "trace", scenario)
    when = ordinal_of(traced, "write", 1)
    directory = tmp_path / "fault"
    target = prepare(directory, scenario)
    command = writer_command(target, scenario.mode, scenario.durability, NEW)

    run = run_traced(strace, command, directory, f"write:error=EIO:when={when}")

    assert run.outcome is not None, run
    assert run.outcome["errno"] == errno.EIO
    assert read_target(target) == OLD
    assert temp_files(directory) == []


def test_close_after_rename_is_swallowed(strace: str, tmp_path: Path) -> None:
    scenario = Scenario("wb", existing=True)
    traced = trace_commit(strace, tmp_path / "trace", scenario)
    rename_at = rename_index(traced.calls)
    after = [c for c in traced.calls if c.name == "close" and c.index > rename_at]
    directory = tmp_path / "fault"
    target = prepare(directory, scenario)
    command = writer_command(target, scenario.mode, scenario.durability, NEW)

    run = run_traced(
        strace, command, directory, f"close:error=EIO:when={after[0].ordinal}"
    )

    assert run.outcome == {"ok": True}
    assert read_target(target) == NEW


def test_noreplace_unsupported_falls_back(strace: str, tmp_path: Path) -> None:
    scenario = Scenario("xb", existing=False)
    traced = trace_commit(strace, tmp_path / "trace", scenario)
    when = ordinal_of(traced, "renameat2", 1)
    directory = tmp_path / "fault"
    target = prepare(directory, scenario)
    command = writer_command(target, scenario.mode, scenario.durability, NEW)

    run = run_traced(strace, command, directory, f"renameat2:error=ENOSYS:when={when}")

    assert run.outcome == {"ok": True}
    assert read_target(target) == NEW
    assert temp_files(directory) == []


# Soak


def soak_seconds() -> float:
    return float(os.environ.get("ATOMICOPEN_SOAK_SECONDS", "300"))


@pytest.mark.soak
def test_soak_kills(strace: str, tmp_path: Path) -> None:
    deadline = time.monotonic() + soak_seconds()
    scenarios = [
        Scenario(mode, existing=not mode.startswith("x"), durability=durability)
        for mode in ("wb", "ab", "xb", "r+b", "w", "a+")
        for durability in ("full", "file", "none")
    ]
    kills = 0
    round_number = 0
    while time.monotonic() < deadline:
        for number, scenario in enumerate(scenarios):
            if time.monotonic() >= deadline:
                break
            base = tmp_path / f"round{round_number}-{number}"
            base.mkdir()
            kills += kill_at_every_call(strace, base, scenario)
        round_number += 1
    print(f"soak: {kills} kills in {round_number} rounds")
    assert kills > 0
