"""Locked read-modify-write: lock=, update_json(), update_text() and the CLI."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import portalocker
import pytest
from pytest_mock import MockerFixture

from atomicopen import (
    AtomicFile,
    AtomicOpenError,
    InvalidJSONError,
    LockTimeout,
    atomic_open,
    update_json,
    update_text,
)
from atomicopen._cli import main
from atomicopen.hooks import DirectorySync
from tests._lock_support import (
    COUNT_KEY,
    count_with_redis,
    count_with_target_lock,
    count_with_update_json,
    hold_lock,
    make_redis_lock,
    read_count,
    redis_server,
)
from tests.conftest import open_fds, require_tool, temp_files, unavailable

SPAWN = multiprocessing.get_context("spawn")


def run_processes(
    target: Callable[..., None], *argument_lists: tuple[Any, ...]
) -> None:
    """Run ``target`` in one spawned process per argument tuple and check them."""
    processes = [SPAWN.Process(target=target, args=args) for args in argument_lists]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * len(processes)


def run_threads(target: Callable[..., None], *argument_lists: tuple[Any, ...]) -> None:
    """Run ``target`` in one thread per argument tuple and re-raise a failure."""
    errors: list[BaseException] = []

    def guarded(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=args) for args in argument_lists]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@pytest.fixture
def counter(tmp_path: Path) -> Path:
    """A counter file that does not exist yet."""
    return tmp_path / "counter.json"


@pytest.fixture
def use_lockf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make portalocker use fcntl.lockf, the POSIX locks that NFS gives flock."""
    monkeypatch.setattr(portalocker.portalocker, "LOCKER", fcntl.lockf)


# Which locks portalocker takes here, and what they exclude


def test_portalocker_uses_flock() -> None:
    assert portalocker.portalocker.LOCKER is fcntl.flock


def test_flock_excludes_other_descriptors_of_process(tmp_path: Path) -> None:
    path = tmp_path / "probe.lock"
    first = os.open(path, os.O_RDWR | os.O_CREAT)
    second = os.open(path, os.O_RDWR)
    try:
        portalocker.lock(first, portalocker.LOCK_EX)
        with pytest.raises(portalocker.AlreadyLocked):
            portalocker.lock(second, portalocker.LOCK_EX | portalocker.LOCK_NB)
    finally:
        os.close(first)
        os.close(second)


@pytest.mark.usefixtures("use_lockf")
def test_posix_locks_let_same_process_in(tmp_path: Path) -> None:
    # POSIX record locks belong to the process: its second descriptor gets
    # the lock too, so only a per-process lock keeps its threads apart.
    path = tmp_path / "probe.lock"
    first = os.open(path, os.O_RDWR | os.O_CREAT)
    second = os.open(path, os.O_RDWR)
    try:
        portalocker.lock(first, portalocker.LOCK_EX)
        portalocker.lock(second, portalocker.LOCK_EX | portalocker.LOCK_NB)
    finally:
        os.close(first)
        os.close(second)


@pytest.mark.parametrize("locker", ["flock", "lockf"])
def test_threads_count_exactly(
    counter: Path, locker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if locker == "lockf":
        monkeypatch.setattr(portalocker.portalocker, "LOCKER", fcntl.lockf)
    run_threads(count_with_update_json, *[(str(counter), 100, "none")] * 4)
    assert read_count(counter) == 400


# Many processes on one counter


@pytest.mark.slow
def test_processes_count_exactly(counter: Path) -> None:
    run_processes(count_with_update_json, *[(str(counter), 250)] * 8)
    assert read_count(counter) == 2000


@pytest.mark.slow
def test_threads_and_processes_count_exactly(counter: Path) -> None:
    processes = [
        SPAWN.Process(target=count_with_update_json, args=(str(counter), 250, "none"))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    run_threads(count_with_update_json, *[(str(counter), 250, "none")] * 4)
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * 4
    assert read_count(counter) == 2000


@pytest.mark.slow
def test_lock_on_target_loses_updates(counter: Path) -> None:
    # A waiter that locked the old inode and a newcomer that locked the new
    # one both get in, read the same count and write the same successor.
    run_processes(count_with_target_lock, *[(str(counter), 200)] * 4)
    assert read_count(counter) < 800


# The lock file


def test_lock_file_created_next_to_target(counter: Path) -> None:
    with update_json(counter) as document:
        document["a"] = 1
    assert (counter.parent / "counter.json.lock").is_file()


def test_lock_file_kept_across_commits(counter: Path) -> None:
    lock_path = counter.parent / "counter.json.lock"
    with update_json(counter):
        pass
    inode = lock_path.stat().st_ino
    for _ in range(3):
        with update_json(counter):
            pass
    assert lock_path.stat().st_ino == inode


def test_lock_file_in_real_directory_of_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link.json").symlink_to(real / "data.json")
    with update_json(tmp_path / "link.json") as document:
        document["a"] = 1
    assert (real / "data.json.lock").is_file()


def test_lock_file_not_next_to_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link.json").symlink_to(real / "data.json")
    with update_json(tmp_path / "link.json") as document:
        document["a"] = 1
    assert not (tmp_path / "link.json.lock").exists()


@pytest.fixture
def planted_link(tmp_path: Path) -> tuple[Path, Path]:
    """A symbolic link at target.lock that points to a victim file."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "target.lock").symlink_to(victim)
    return tmp_path / "target", victim


def test_symlinked_lock_file_rejected(planted_link: tuple[Path, Path]) -> None:
    target, _ = planted_link
    with pytest.raises(AtomicOpenError) as caught:
        atomic_open(target, lock=True).open()
    assert caught.value.errno == errno.ELOOP
    assert caught.value.filename == f"{target}.lock"


def test_symlinked_lock_file_victim_untouched(planted_link: tuple[Path, Path]) -> None:
    target, victim = planted_link
    with pytest.raises(AtomicOpenError):
        atomic_open(target, lock=True).open()
    assert victim.read_text() == "precious\n"


def test_symlinked_lock_file_nothing_written(planted_link: tuple[Path, Path]) -> None:
    target, _ = planted_link
    with pytest.raises(AtomicOpenError):
        atomic_open(target, lock=True).open()
    assert sorted(os.listdir(target.parent)) == ["target.lock", "victim"]


def test_fifo_at_lock_path_rejected(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "target.lock")
    with pytest.raises(AtomicOpenError) as caught:
        atomic_open(tmp_path / "target", lock=True).open()
    assert caught.value.errno == errno.EINVAL


def test_removed_lock_file_retried(
    counter: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock_path = counter.parent / "counter.json.lock"
    holder = atomic_open(counter, lock=True)
    holder.open()
    waiter = threading.Thread(target=count_with_update_json, args=(str(counter), 1))
    with caplog.at_level(logging.WARNING, logger="atomicopen._locking"):
        waiter.start()
        time.sleep(0.2)
        lock_path.rename(counter.parent / "moved.lock")
        holder.discard()
        waiter.join()
    assert read_count(counter) == 1
    assert "was replaced or removed" in caplog.text


# When the lock is released


def test_lock_released_after_commit(counter: Path) -> None:
    with atomic_open(counter, lock=True) as file:
        file.write("{}")
    with atomic_open(counter, lock=True, lock_timeout=0) as file:
        file.write("{}")


def test_lock_released_after_exception(counter: Path) -> None:
    with pytest.raises(RuntimeError), atomic_open(counter, lock=True):
        raise RuntimeError("abandon the write")
    with atomic_open(counter, lock=True, lock_timeout=0) as file:
        file.write("{}")


def test_lock_released_after_failed_open(counter: Path) -> None:
    counter.write_text("{}")
    with pytest.raises(FileExistsError):
        atomic_open(counter, "x", lock=True).open()
    with atomic_open(counter, lock=True, lock_timeout=0) as file:
        file.write("{}")


def _lock_is_free(lock_path: Path) -> bool:
    # A second open file description contends with the holder's flock, even
    # in the same process.
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_lock_held_until_directory_fsync(
    counter: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    lock_path = counter.with_name(counter.name + ".lock")
    free_after_sync: list[bool] = []
    sync_directory = DirectorySync.sync_directory

    def sync_then_probe(self: DirectorySync, directory: Any, path: str) -> None:
        sync_directory(self, directory, path)
        free_after_sync.append(_lock_is_free(lock_path))

    mocker.patch.object(DirectorySync, "sync_directory", sync_then_probe)
    with (
        caplog.at_level(logging.DEBUG, logger="atomicopen"),
        atomic_open(counter, lock=True) as file,
    ):
        file.write("{}")
    assert free_after_sync == [False]
    assert _lock_is_free(lock_path)
    messages = [record.getMessage() for record in caplog.records]
    order = [
        next(i for i, m in enumerate(messages) if m.startswith(prefix))
        for prefix in ("locked ", "replaced ", "unlocked ")
    ]
    assert order == sorted(order)


def test_long_lock_name_explained(tmp_path: Path) -> None:
    # "<251 bytes>.lock" needs 256 bytes.
    target = tmp_path / ("c" * 251)
    target.write_text("old")
    with pytest.raises(OSError, match="lock file's name") as raised:
        atomic_open(target, lock=True).open()
    assert raised.value.errno == errno.ENAMETOOLONG
    assert "write access" not in str(raised.value)
    assert temp_files(tmp_path) == []


def test_same_thread_nested_lock_rejected(counter: Path) -> None:
    with atomic_open(counter, lock=True) as file:
        file.write("{}")
        with pytest.raises(AtomicOpenError) as caught:
            atomic_open(counter, lock=True).open()
    assert caught.value.errno == errno.EDEADLK


# Timeouts and crashed holders


@pytest.fixture
def held_by_process(counter: Path, tmp_path: Path) -> Iterator[multiprocessing.Process]:
    """A process that holds the counter's lock until it is killed."""
    ready = tmp_path / "ready"
    process = SPAWN.Process(target=hold_lock, args=(str(counter), str(ready)))
    process.start()
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ready.exists()
    yield process  # type: ignore[misc]
    if process.is_alive():
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
    process.join()


@pytest.mark.usefixtures("held_by_process")
def test_timeout_raises_lock_timeout(counter: Path) -> None:
    with pytest.raises(LockTimeout) as caught, update_json(counter, lock_timeout=0.2):
        pass
    assert isinstance(caught.value, TimeoutError)


@pytest.mark.usefixtures("held_by_process")
def test_timeout_message_names_lock_and_time(counter: Path) -> None:
    with pytest.raises(LockTimeout) as caught, update_json(counter, lock_timeout=0.2):
        pass
    assert "0.2 s" in str(caught.value)
    assert f"{counter}.lock" in str(caught.value)


@pytest.mark.usefixtures("held_by_process")
def test_timeout_leaves_no_temp_file(counter: Path) -> None:
    holders_temp_files = temp_files(counter.parent)
    with pytest.raises(LockTimeout), update_json(counter, lock_timeout=0.1):
        pass
    assert temp_files(counter.parent) == holders_temp_files


@pytest.mark.usefixtures("held_by_process")
def test_timeout_leaves_no_descriptor(counter: Path) -> None:
    before = open_fds()
    with pytest.raises(LockTimeout), update_json(counter, lock_timeout=0.1):
        pass
    assert open_fds() == before


def test_killed_holder_frees_lock(
    counter: Path, held_by_process: multiprocessing.Process
) -> None:
    os.kill(held_by_process.pid, signal.SIGKILL)  # type: ignore[arg-type]
    held_by_process.join()
    count_with_update_json(str(counter), 1)
    assert read_count(counter) == 1


def test_lock_timeout_pickles() -> None:
    error = LockTimeout("'a.lock'", 1.5, "a.lock")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (copy.lock, copy.timeout, copy.filename) == ("'a.lock'", 1.5, "a.lock")


# Option checks

INVALID_OPTIONS = [
    pytest.param({"lock": "yes"}, TypeError, id="lock-str"),
    pytest.param({"lock": object()}, TypeError, id="lock-no-acquire"),
    pytest.param({"lock": True, "lock_timeout": -1}, ValueError, id="negative"),
    pytest.param({"lock": True, "lock_timeout": float("nan")}, ValueError, id="nan"),
    pytest.param({"lock": True, "lock_timeout": "1"}, TypeError, id="timeout-str"),
    pytest.param({"lock": True, "lock_timeout": True}, TypeError, id="timeout-bool"),
    pytest.param({"lock_timeout": 1}, ValueError, id="timeout-without-lock"),
]


@pytest.mark.parametrize(("options", "error"), INVALID_OPTIONS)
def test_invalid_lock_option_rejected(
    tmp_path: Path, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        AtomicFile(tmp_path / "target", **options)


def test_invalid_lock_option_touches_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        AtomicFile(tmp_path / "target", lock="yes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


# Lock objects


def test_lock_object_used(counter: Path) -> None:
    lock = threading.Lock()

    def count() -> None:
        for _ in range(50):
            update_text(counter, lambda old: str(int(old or 0) + 1), lock=lock)

    run_threads(count, *[()] * 4)
    assert counter.read_text() == "200"


def test_lock_object_creates_no_lock_file(counter: Path) -> None:
    update_text(counter, lambda old: "x", lock=threading.Lock())
    assert not (counter.parent / "counter.json.lock").exists()


def test_lock_object_timeout(counter: Path) -> None:
    lock = threading.Lock()
    lock.acquire()
    with pytest.raises(LockTimeout):
        update_text(counter, lambda old: "x", lock=lock, lock_timeout=0.05)


class LosingLock:
    """A lock object that reports a loss before the rename."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return

    def ensure_held(self) -> None:
        raise portalocker.LockLostError("connection to the lock server lost")


def test_lost_lock_aborts_commit(counter: Path) -> None:
    counter.write_text("old")
    with pytest.raises(AtomicOpenError) as caught:
        update_text(counter, lambda old: "new", lock=LosingLock())
    assert caught.value.errno == errno.ENOLCK


def test_lost_lock_leaves_target(counter: Path) -> None:
    counter.write_text("old")
    with pytest.raises(AtomicOpenError):
        update_text(counter, lambda old: "new", lock=LosingLock())
    assert counter.read_text() == "old"


# update_json and update_text


def test_update_json_missing_file_uses_default(counter: Path) -> None:
    with update_json(counter, default=lambda: {"runs": 10}) as document:
        document["runs"] += 1
    assert json.loads(counter.read_text()) == {"runs": 11}


def test_update_json_invalid_file_raises(counter: Path) -> None:
    counter.write_text("{not json")
    with pytest.raises(InvalidJSONError), update_json(counter):
        pass


def test_update_json_invalid_file_is_value_error(counter: Path) -> None:
    counter.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not valid JSON"), update_json(counter):
        pass


def test_update_json_invalid_file_left(counter: Path) -> None:
    counter.write_text("{not json")
    with pytest.raises(InvalidJSONError), update_json(counter):
        pass
    assert counter.read_text() == "{not json"


def test_update_json_exception_discards(counter: Path) -> None:
    counter.write_text('{"a": 1}')
    with pytest.raises(KeyError), update_json(counter) as document:
        document["a"] = 2
        raise KeyError("b")
    assert counter.read_text() == '{"a": 1}'


def test_update_json_unencodable_discards(counter: Path) -> None:
    counter.write_text('{"a": 1}')
    with pytest.raises(TypeError), update_json(counter) as document:
        document["a"] = object()
    assert counter.read_text() == '{"a": 1}'


def test_update_json_non_finite_discards(counter: Path) -> None:
    counter.write_text('{"a": 1e308}')
    with (
        pytest.raises(ValueError, match="not JSON compliant"),
        update_json(counter) as doc,
    ):
        doc["a"] *= 10
    assert counter.read_text() == '{"a": 1e308}'
    assert temp_files(counter.parent) == []


def test_update_json_skips_byte_order_mark(counter: Path) -> None:
    counter.write_bytes(b'\xef\xbb\xbf{"n": 1}')
    with update_json(counter) as document:
        document["n"] += 1
    assert json.loads(counter.read_bytes()) == {"n": 2}
    assert not counter.read_bytes().startswith(b"\xef\xbb\xbf")


def test_update_json_unencodable_names_file(counter: Path) -> None:
    counter.write_text('{"a": 1}')
    with pytest.raises(TypeError, match="cannot be written as JSON") as raised:
        with update_json(counter) as document:
            document["a"] = object()
    assert repr(str(counter)) in str(raised.value)
    assert counter.read_text() == '{"a": 1}'


def test_update_json_huge_integer_names_file(counter: Path) -> None:
    # More digits than Python converts by default (4300).
    counter.write_text('{"a": 1' + "0" * 5000 + "}")
    with pytest.raises(InvalidJSONError) as raised, update_json(counter):
        pass
    assert str(counter) in str(raised.value)


def test_update_json_leaves_no_temp(counter: Path) -> None:
    with pytest.raises(KeyError), update_json(counter):
        raise KeyError("b")
    assert temp_files(counter.parent) == []


def test_update_text_gets_none_when_missing(counter: Path) -> None:
    seen: list[str | None] = []

    def remember(old: str | None) -> str:
        seen.append(old)
        return "new"

    update_text(counter, remember)
    assert seen == [None]


def test_update_text_keeps_line_endings(counter: Path) -> None:
    counter.write_bytes(b"a\r\n")
    update_text(counter, lambda old: (old or "") + "b\r\n")
    assert counter.read_bytes() == b"a\r\nb\r\n"


def test_update_text_translates_with_newline_none(counter: Path) -> None:
    counter.write_bytes(b"a\r\nb\r")
    seen: list[str | None] = []

    def append(old: str | None) -> str:
        seen.append(old)
        return (old or "") + "c\n"

    update_text(counter, append, newline=None)
    assert seen == ["a\nb\n"]
    assert counter.read_bytes() == b"a\nb\nc\n"


def test_update_text_other_encoding(counter: Path) -> None:
    counter.write_text("caf\u00e9\n", encoding="utf-16")
    update_text(counter, lambda old: (old or "") + "cr\u00e8me\n", encoding="utf-16")
    assert counter.read_text(encoding="utf-16") == "caf\u00e9\ncr\u00e8me\n"
    # One byte order mark, at the start.
    assert counter.read_bytes().count(b"\xff\xfe") == 1


def test_update_text_errors_option(counter: Path) -> None:
    counter.write_bytes(b"a\xffb")
    update_text(counter, lambda old: old or "", errors="surrogateescape")
    assert counter.read_bytes() == b"a\xffb"


def test_update_text_invalid_encoding_left(counter: Path) -> None:
    counter.write_bytes(b"a\xffb")
    with pytest.raises(ValueError, match="not valid utf-8 text"):
        update_text(counter, lambda old: "never")
    assert counter.read_bytes() == b"a\xffb"
    assert temp_files(counter.parent) == []


def test_update_json_through_symlink(counter: Path) -> None:
    real = counter.with_name("real.json")
    real.write_text('{"n": 1}')
    counter.symlink_to(real.name)
    with update_json(counter) as document:
        document["n"] += 1
    assert counter.is_symlink()
    assert json.loads(real.read_text()) == {"n": 2}


def test_update_json_keeps_mode(counter: Path) -> None:
    counter.write_text('{"n": 1}')
    counter.chmod(0o640)
    with update_json(counter) as document:
        document["n"] += 1
    assert counter.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    "option",
    [{"encoding": "utf-16"}, {"newline": "\r\n"}, {"mode": "wb"}],
    ids=["encoding", "newline", "mode"],
)
def test_update_json_rejects_text_options(
    counter: Path, option: dict[str, Any]
) -> None:
    name = next(iter(option))
    with (
        pytest.raises(TypeError, match=f"update_json\\(\\) takes no {name} option"),
        update_json(counter, **option),
    ):
        pass
    assert not counter.exists()


def test_update_text_rejects_mode(counter: Path) -> None:
    with pytest.raises(TypeError, match="takes no mode option"):
        update_text(counter, lambda old: "x", mode="wb")
    assert not counter.exists()


def test_update_text_returns_new_text(counter: Path) -> None:
    assert update_text(counter, lambda old: "new") == "new"


def test_update_text_rejects_non_str(counter: Path) -> None:
    counter.write_text("old")
    with pytest.raises(TypeError, match="returned bytes"):
        update_text(counter, lambda old: b"new")  # type: ignore[arg-type,return-value]
    assert counter.read_text() == "old"


def test_update_text_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        update_text(tmp_path / "missing" / "file", lambda old: "x")


# Command line


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atomicopen", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_cli_increment_prints_value(
    counter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counter.write_text('{"hits": 4}')
    assert main(["update-json", str(counter), "hits", "--increment", "3"]) == 0
    assert capsys.readouterr().out == "7\n"


def test_cli_increment_missing_key_starts_at_zero(
    counter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["update-json", str(counter), "hits", "--increment", "2.5"]) == 0
    assert capsys.readouterr().out == "2.5\n"


@pytest.mark.parametrize(
    "content",
    ['{"hits": "many"}', '{"hits": true}', "[1]"],
    ids=["str", "bool", "list"],
)
def test_cli_increment_non_number_fails(
    counter: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    counter.write_text(content)
    assert main(["update-json", str(counter), "hits", "--increment", "1"]) == 1
    assert "left unchanged" in capsys.readouterr().err


def test_cli_increment_non_number_left(counter: Path) -> None:
    counter.write_text('{"hits": "many"}')
    main(["update-json", str(counter), "hits", "--increment", "1"])
    assert counter.read_text() == '{"hits": "many"}'


def test_cli_increment_overflow_left(
    counter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    counter.write_text('{"hits": 1e308}')
    assert main(["update-json", str(counter), "hits", "--increment", "1e308"]) == 1
    error = capsys.readouterr().err
    assert "overflows a float" in error
    assert "'hits'" in error
    assert counter.read_text() == '{"hits": 1e308}'


def test_cli_increment_big_integer_by_decimal(
    counter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = '{"hits": 1' + "0" * 400 + "}"
    counter.write_text(content)
    assert main(["update-json", str(counter), "hits", "--increment", "0.5"]) == 1
    assert "overflows a float" in capsys.readouterr().err
    assert counter.read_text() == content


def test_cli_increment_infinite_value(
    counter: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # json reads 1e400 as inf.
    counter.write_text('{"hits": 1e400}')
    assert main(["update-json", str(counter), "hits", "--increment", "1"]) == 1
    assert "out of the range of a float" in capsys.readouterr().err
    assert counter.read_text() == '{"hits": 1e400}'


def test_cli_invalid_increment_is_usage_error(counter: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["update-json", str(counter), "hits", "--increment", "lots"])
    assert caught.value.code == 2


def test_cli_write_lock_creates_lock_file(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    result = subprocess.run(
        [sys.executable, "-m", "atomicopen", "write", str(target), "--lock"],
        input="data\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert (tmp_path / "out.txt.lock").is_file()


@pytest.mark.usefixtures("held_by_process")
def test_cli_write_lock_timeout_fails(counter: Path) -> None:
    result = run_cli("write", str(counter), "--lock-timeout", "0.1")
    assert result.returncode == 1
    assert "timed out" in result.stderr


def test_cli_processes_count_exactly(counter: Path) -> None:
    script = (
        f"for i in 1 2 3; do {sys.executable} -m atomicopen update-json"
        f" {counter} hits --increment 1 --durability none >/dev/null || exit 1; done"
    )
    shells = [subprocess.Popen(["sh", "-c", script]) for _ in range(4)]
    assert [shell.wait(timeout=120) for shell in shells] == [0] * 4
    assert json.loads(counter.read_text()) == {"hits": 12}


# Redis


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The port of a redis-server that runs for this module's tests."""
    executable = require_tool("redis-server")
    try:
        import redis  # noqa: F401, PLC0415 - only the Redis tests need it
    except ImportError:
        unavailable("the redis package is not installed: pip install -e '.[test]'")
    with redis_server(executable, tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.mark.slow
def test_redis_processes_count_exactly(counter: Path, redis_port: int) -> None:
    run_processes(count_with_redis, *[(str(counter), 25, redis_port)] * 4)
    assert read_count(counter) == 100


def test_redis_lock_timeout(counter: Path, redis_port: int) -> None:
    holder = make_redis_lock(redis_port, "timeout-test")
    holder.acquire()
    try:
        with (
            pytest.raises(LockTimeout),
            update_json(
                counter,
                lock=make_redis_lock(redis_port, "timeout-test"),
                lock_timeout=0.3,
            ),
        ):
            pass
    finally:
        holder.release()


def test_redis_lock_creates_no_lock_file(counter: Path, redis_port: int) -> None:
    with update_json(counter, lock=make_redis_lock(redis_port)) as document:
        document[COUNT_KEY] = 1
    assert sorted(os.listdir(counter.parent)) == ["counter.json"]
