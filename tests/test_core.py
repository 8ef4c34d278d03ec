"""AtomicFile and atomic_open: writing, committing, discarding and modes."""

from __future__ import annotations

import errno
import logging
import os
import pathlib
import subprocess
import sys
import threading
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from atomicopen import AtomicFile, atomic_open, atomic_write_bytes, atomic_write_text
from atomicopen._directory import Directory
from tests.conftest import open_fds, temp_files


def test_write_replaces_content(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("old\n")
    with atomic_open(target) as file:
        file.write("new\n")
        assert target.read_text() == "old\n"
    assert target.read_text() == "new\n"
    assert temp_files(tmp_path) == []


def test_write_creates_missing_file(tmp_path: Path) -> None:
    target = tmp_path / "new.txt"
    with atomic_open(target, "w") as file:
        file.write("created")
    assert target.read_text() == "created"


@pytest.mark.parametrize(
    "path_type",
    [str, pathlib.Path, os.fsencode],
    ids=["str", "Path", "bytes"],
)
def test_path_types_accepted(tmp_path: Path, path_type: type) -> None:
    target = tmp_path / "typed.txt"
    atomic = AtomicFile(path_type(str(target)))
    with atomic as file:
        file.write("ok")
    assert target.read_text() == "ok"
    assert atomic.path == os.fspath(path_type(str(target)))


def test_bytes_path_gives_bytes_temp_path(tmp_path: Path) -> None:
    atomic = AtomicFile(os.fsencode(tmp_path / "b.txt"))
    atomic.open()
    assert isinstance(atomic.temp_path, bytes)
    atomic.discard()


def test_file_object_is_ordinary_buffered_file(tmp_path: Path) -> None:
    atomic = AtomicFile(tmp_path / "f.txt")
    with atomic as file:
        assert file.name == atomic.temp_path
        assert file.writable()
        assert not file.readable()
        assert file.encoding  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("utf-8", "naïve ☃"), ("latin-1", "naïve"), ("utf-16", "☃")],
)
def test_text_encoding_honoured(tmp_path: Path, encoding: str, text: str) -> None:
    target = tmp_path / "enc.txt"
    with atomic_open(target, "w", encoding=encoding) as file:
        file.write(text)
    assert target.read_bytes() == text.encode(encoding)


@pytest.mark.parametrize(
    ("newline", "expected"),
    [(None, os.linesep.encode()), ("", b"\n"), ("\r\n", b"\r\n"), ("\r", b"\r")],
)
def test_newline_translation(
    tmp_path: Path, newline: str | None, expected: bytes
) -> None:
    target = tmp_path / "nl.txt"
    with atomic_open(target, "w", newline=newline) as file:
        file.write("\n")
    assert target.read_bytes() == expected


def test_errors_option_honoured(tmp_path: Path) -> None:
    target = tmp_path / "ascii.txt"
    with atomic_open(target, "w", encoding="ascii", errors="replace") as file:
        file.write("é")
    assert target.read_bytes() == b"?"


def test_binary_mode_writes_bytes(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    with atomic_open(target, "wb") as file:
        file.write(b"\x00\xff")
    assert target.read_bytes() == b"\x00\xff"


def test_unbuffered_binary_mode(tmp_path: Path) -> None:
    target = tmp_path / "raw.bin"
    with atomic_open(target, "wb", buffering=0) as file:
        file.write(b"raw")
    assert target.read_bytes() == b"raw"


def test_plus_mode_reads_back(tmp_path: Path) -> None:
    target = tmp_path / "rw.txt"
    with atomic_open(target, "w+") as file:
        file.write("abc")
        file.seek(0)
        assert file.read() == "abc"
    assert target.read_text() == "abc"


def test_append_copies_then_appends(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    target.write_text("one\n")
    with atomic_open(target, "a") as file:
        file.write("two\n")
        assert target.read_text() == "one\n"
    assert target.read_text() == "one\ntwo\n"


def test_append_to_missing_file_creates_it(tmp_path: Path) -> None:
    target = tmp_path / "log.txt"
    with atomic_open(target, "ab") as file:
        file.write(b"first")
    assert target.read_bytes() == b"first"


def test_edit_mode_starts_at_beginning(tmp_path: Path) -> None:
    target = tmp_path / "edit.txt"
    target.write_text("hello world")
    with atomic_open(target, "r+") as file:
        assert file.read() == "hello world"
        file.seek(0)
        file.write("HELLO")
    assert target.read_text() == "HELLO world"


def test_edit_mode_keeps_untouched_bytes_identical(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    original = os.urandom(3 << 20)
    target.write_bytes(original)
    with atomic_open(target, "rb+") as file:
        file.seek(1 << 20)
        file.write(b"PATCH")
    result = target.read_bytes()
    assert len(result) == len(original)
    assert result[: 1 << 20] == original[: 1 << 20]
    assert result[(1 << 20) + 5 :] == original[(1 << 20) + 5 :]
    assert result[1 << 20 : (1 << 20) + 5] == b"PATCH"


def test_edit_mode_missing_file_raises(tmp_path: Path) -> None:
    target = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError) as raised:
        atomic_open(target, "r+").open()
    assert raised.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_exclusive_mode_existing_file_raises_at_open(tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("theirs")
    with pytest.raises(FileExistsError) as raised:
        atomic_open(target, "x").open()
    assert raised.value.filename == str(target)
    assert temp_files(tmp_path) == []


def test_exclusive_mode_creates_new_file(tmp_path: Path) -> None:
    target = tmp_path / "fresh.txt"
    with atomic_open(target, "x") as file:
        file.write("mine")
    assert target.read_text() == "mine"


def test_exclusive_mode_race_keeps_their_file(tmp_path: Path) -> None:
    target = tmp_path / "race.txt"
    atomic = atomic_open(target, "xb")
    file = atomic.open()
    file.write(b"mine")
    target.write_bytes(b"theirs")  # another process wins the race
    with pytest.raises(FileExistsError, match="another process created it"):
        atomic.commit()
    assert target.read_bytes() == b"theirs"
    assert temp_files(tmp_path) == []


def test_exclusive_mode_without_renameat2_uses_link(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    mocker.patch("atomicopen._directory._renameat2", None)
    link = mocker.spy(os, "link")
    target = tmp_path / "linked.txt"
    with atomic_open(target, "x") as file:
        file.write("via link")
    assert target.read_text() == "via link"
    assert link.call_count == 1
    assert target.stat().st_nlink == 1
    assert temp_files(tmp_path) == []


def test_exclusive_mode_link_fallback_race(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    mocker.patch("atomicopen._directory._renameat2", None)
    target = tmp_path / "race.txt"
    atomic = atomic_open(target, "x")
    atomic.open().write("mine")
    target.write_text("theirs")
    with pytest.raises(FileExistsError):
        atomic.commit()
    assert target.read_text() == "theirs"
    assert temp_files(tmp_path) == []


def test_exclusive_mode_without_links_raises_clearly(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    # Some FUSE and shared-folder file systems reject link() with EPERM.
    mocker.patch("atomicopen._directory._renameat2", None)
    mocker.patch("os.link", side_effect=PermissionError(1, "Operation not permitted"))
    target = tmp_path / "nolinks.txt"
    with pytest.raises(OSError, match="neither renameat2") as raised:
        with atomic_open(target, "x") as file:
            file.write("data")
    assert raised.value.filename == str(target)
    assert not target.exists()
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize(
    "exception",
    [ValueError, KeyboardInterrupt, SystemExit, GeneratorExit],
)
def test_exception_discards_and_propagates(
    tmp_path: Path, exception: type[BaseException]
) -> None:
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(exception):
        with atomic_open(target) as file:
            file.write("partial")
            raise exception
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_generator_close_discards(tmp_path: Path) -> None:
    target = tmp_path / "gen.txt"
    target.write_text("old")

    def writer() -> Iterator[None]:
        with atomic_open(target) as file:
            file.write("partial")
            yield

    generator = writer()
    next(generator)
    generator.close()  # type: ignore[attr-defined]
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_cleanup_failure_logged_not_raised(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "f.txt"
    mocker.patch.object(
        Directory, "unlink", side_effect=OSError(5, "Input/output error")
    )
    with pytest.raises(RuntimeError, match="original"):
        with atomic_open(target) as file:
            file.write("x")
            raise RuntimeError("original")
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "cannot remove the temporary file" in errors[0].getMessage()


def test_explicit_commit(tmp_path: Path) -> None:
    target = tmp_path / "explicit.txt"
    atomic = AtomicFile(target, "w")
    unopened_temp_path = atomic.temp_path
    assert unopened_temp_path is None
    file = atomic.open()
    temp_path = atomic.temp_path
    assert temp_path is not None
    assert os.path.dirname(temp_path) == str(tmp_path)
    assert os.path.exists(temp_path)
    file.write("done")
    committed_before = atomic.committed
    assert not committed_before
    atomic.commit()
    assert atomic.committed
    assert atomic.temp_path is None
    assert not os.path.exists(temp_path)
    assert target.read_text() == "done"


def test_explicit_discard(tmp_path: Path) -> None:
    target = tmp_path / "discarded.txt"
    atomic = AtomicFile(target)
    atomic.open().write("never")
    atomic.discard()
    assert not target.exists()
    assert temp_files(tmp_path) == []
    assert not atomic.committed


def test_commit_twice_is_noop(tmp_path: Path) -> None:
    atomic = AtomicFile(tmp_path / "twice.txt")
    atomic.open().write("x")
    atomic.commit()
    atomic.commit()
    assert atomic.committed


def test_commit_after_discard_raises(tmp_path: Path) -> None:
    atomic = AtomicFile(tmp_path / "late.txt")
    atomic.open()
    atomic.discard()
    with pytest.raises(ValueError, match="cannot commit"):
        atomic.commit()


def test_commit_without_open_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="call open"):
        AtomicFile(tmp_path / "never.txt").commit()


def test_open_twice_raises(tmp_path: Path) -> None:
    atomic = AtomicFile(tmp_path / "once.txt")
    atomic.open()
    with pytest.raises(ValueError, match="opened only once"):
        atomic.open()
    atomic.discard()


def test_discard_after_commit_keeps_content(tmp_path: Path) -> None:
    target = tmp_path / "kept.txt"
    atomic = AtomicFile(target)
    atomic.open().write("kept")
    atomic.commit()
    atomic.discard()
    assert target.read_text() == "kept"


def test_caller_closing_file_still_commits(tmp_path: Path) -> None:
    target = tmp_path / "closed.txt"
    with atomic_open(target) as file:
        file.write("closed early")
        file.close()
    assert target.read_text() == "closed early"


def test_unreferenced_open_file_warns_and_cleans(tmp_path: Path) -> None:
    atomic = AtomicFile(tmp_path / "leak.txt")
    atomic.open()
    with pytest.warns(ResourceWarning, match="neither committed nor discarded"):
        atomic.__del__()
    assert temp_files(tmp_path) == []


def test_unreferenced_file_cleaned_when_warnings_raise(tmp_path: Path) -> None:
    # With -W error the warning raises inside __del__, which must not skip the
    # cleanup.
    atomic = AtomicFile(tmp_path / "leak.txt")
    atomic.open()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ResourceWarning):
            atomic.__del__()
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("fail", [False, True], ids=["commit", "exception"])
def test_no_descriptor_leaks(tmp_path: Path, fail: bool) -> None:
    before = open_fds()
    for _ in range(20):
        try:
            with atomic_open(tmp_path / "fd.txt") as file:
                file.write("x")
                if fail:
                    raise ValueError
        except ValueError:
            pass
    assert open_fds() == before


def test_failed_open_leaks_nothing(tmp_path: Path) -> None:
    before = open_fds()
    with pytest.raises(FileExistsError):
        (tmp_path / "x.txt").write_text("")
        atomic_open(tmp_path / "x.txt", "x").open()
    assert open_fds() == before


def test_commit_story_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="atomicopen")
    target = tmp_path / "story.txt"
    with atomic_open(target) as file:
        file.write("x")
    messages = [record.getMessage() for record in caplog.records]
    temp_name = messages[0].split()[1]
    assert messages == [
        f"created {temp_name} for {target}",
        f"replaced {target} (durability 'full')",
    ]
    assert ".atomicopen." in temp_name
    assert all(record.name.startswith("atomicopen.") for record in caplog.records)


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    chunk = b"z" * (1 << 20)
    tracemalloc.start()
    try:
        with atomic_open(tmp_path / "stream.bin", "wb", durability="none") as file:
            for _ in range(64):
                file.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (tmp_path / "stream.bin").stat().st_size == 64 << 20
    assert peak < 8 << 20


def test_write_text_and_bytes_helpers(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "t.txt", "naïve")
    atomic_write_bytes(tmp_path / "b.bin", b"\x01")
    assert (tmp_path / "t.txt").read_bytes() == "naïve".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x01"


def test_write_text_rejects_bytes(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="atomic_write_bytes"):
        atomic_write_text(tmp_path / "t.txt", b"bytes")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_write_bytes_rejects_str(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="atomic_write_text"):
        atomic_write_bytes(tmp_path / "b.bin", "text")  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_threads_never_tear_one_path(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    target.write_text("0" * 4096)
    contents = {str(digit) * 4096 for digit in range(10)}
    torn: list[str] = []
    stop = threading.Event()

    def writer(digit: int) -> None:
        for _ in range(30):
            atomic_write_text(target, str(digit) * 4096, durability="none")

    def reader() -> None:
        while not stop.is_set():
            text = target.read_text()
            if text not in contents:
                torn.append(text[:20])

    reader_thread = threading.Thread(target=reader)
    reader_thread.start()
    writers = [threading.Thread(target=writer, args=(digit,)) for digit in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    reader_thread.join()
    assert torn == []
    assert target.read_text() in contents
    assert temp_files(tmp_path) == []


def test_directory_renamed_during_write(tmp_path: Path) -> None:
    # The commit works relative to the directory's descriptor, so it follows
    # the directory to its new name instead of writing to the old path.
    before = tmp_path / "before"
    before.mkdir()
    atomic = AtomicFile(before / "f.txt")
    atomic.open().write("moved")
    after = tmp_path / "after"
    before.rename(after)
    before.mkdir()
    atomic.commit()
    assert (after / "f.txt").read_text() == "moved"
    assert os.listdir(before) == []


def test_detached_file_object_still_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "detached.txt"
    before = open_fds()
    atomic = AtomicFile(target, lock=True)
    file = atomic.open()
    buffer = file.detach()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="detached"):
        atomic.commit()
    assert temp_files(tmp_path) == []
    buffer.close()
    assert open_fds() == before
    # The lock was released: another writer in this thread gets it at once.
    atomic_write_text(target, "next", lock=True, lock_timeout=0)
    assert target.read_text() == "next"


def test_forked_child_leaves_parent_write_alone(tmp_path: Path) -> None:
    target = tmp_path / "shared.txt"
    target.write_text("old")
    atomic = AtomicFile(target, lock=True)
    atomic.open().write("parent")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            atomic.commit()
        except ValueError:
            code = 3
        atomic.discard()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3
    assert len(temp_files(tmp_path)) == 1
    # The parent still holds the lock: another process cannot take it.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from atomicopen import atomic_write_text\n"
            "try:\n    atomic_write_text(sys.argv[1], 'x', lock=True, lock_timeout=0)\n"
            "except TimeoutError:\n    sys.exit(7)",
            str(target),
        ],
        check=False,
    )
    assert probe.returncode == 7
    atomic.commit()
    assert target.read_text() == "parent"
    assert temp_files(tmp_path) == []


def test_exclusive_link_fallback_unlink_failure_commits(
    tmp_path: Path, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    # Once link() succeeded the file exists with the new content, so a failed
    # removal of the temporary name is logged, not reported as a failed commit.
    mocker.patch("atomicopen._directory._renameat2", None)
    target = tmp_path / "created.txt"
    atomic = atomic_open(target, "x")
    atomic.open().write("new")
    mocker.patch.object(
        Directory, "unlink", side_effect=OSError(errno.EIO, "Input/output error")
    )
    atomic.commit()
    assert atomic.committed
    assert target.read_text() == "new"
    assert any("could not be removed" in r.getMessage() for r in caplog.records)
    mocker.stopall()
    for name in temp_files(tmp_path):
        os.unlink(tmp_path / name)


def test_contended_temp_name_removed(tmp_path: Path, mocker: MockerFixture) -> None:
    # When a cleanup holds the lock of a just-created temporary file, the
    # writer removes that name itself and draws another.
    mocker.patch("atomicopen._tempfile._lock", side_effect=[False, True])
    atomic_write_text(tmp_path / "f.txt", "x")
    assert (tmp_path / "f.txt").read_text() == "x"
    assert temp_files(tmp_path) == []
