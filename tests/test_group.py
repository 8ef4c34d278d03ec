"""AtomicGroup: several files committed with one directory fsync."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from atomicopen import AtomicGroup, GroupCommitError
from atomicopen.hooks import CommitContext, CommitHook
from tests.conftest import require_tool, temp_files


def write_old(directory: Path, names: list[str]) -> None:
    for name in names:
        (directory / name).write_text(f"old {name}")


class FailOn(CommitHook):
    """Reject the commit of one file name in the validate stage."""

    def __init__(self, name: str) -> None:
        self.name = name

    def validate(self, context: CommitContext) -> None:
        if context.name == self.name:
            raise ValueError(f"rejected {context.name}")


# Committing


def test_group_commits_every_file(tmp_path: Path) -> None:
    names = ["a.txt", "b.txt", "c.txt"]
    write_old(tmp_path, names[:1])
    with AtomicGroup(tmp_path) as group:
        for name in names:
            group.open(name).write(f"new {name}")
    for name in names:
        assert (tmp_path / name).read_text() == f"new {name}"
    assert temp_files(tmp_path) == []


def test_group_keeps_targets_until_exit(tmp_path: Path) -> None:
    write_old(tmp_path, ["a.txt"])
    with AtomicGroup(tmp_path) as group:
        group.open("a.txt").write("new")
        group.open("b.txt").write("new")
        assert (tmp_path / "a.txt").read_text() == "old a.txt"
        assert not (tmp_path / "b.txt").exists()


def test_group_accepts_closed_file_objects(tmp_path: Path) -> None:
    with AtomicGroup(tmp_path) as group, group.open("a.bin", "wb") as file:
        file.write(b"\x00\x01")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"


def test_group_without_directory_uses_paths(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with AtomicGroup() as group:
        group.open(tmp_path / "one" / "a.txt").write("a")
        group.open(os.fsencode(tmp_path / "two" / "b.txt")).write("b")
    assert (tmp_path / "one" / "a.txt").read_text() == "a"
    assert (tmp_path / "two" / "b.txt").read_text() == "b"


def test_group_paths_in_commit_order(tmp_path: Path) -> None:
    with AtomicGroup() as group:
        group.open(tmp_path / "b").write("")
        group.open(tmp_path / "a").write("")
        assert group.paths == (str(tmp_path / "b"), str(tmp_path / "a"))


def test_group_per_file_options(tmp_path: Path) -> None:
    with AtomicGroup(tmp_path, permissions=0o600) as group:
        group.open("private").write("")
        group.open("public", permissions=0o644).write("")
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "public").stat().st_mode & 0o777 == 0o644


def test_group_commit_twice_does_nothing(tmp_path: Path) -> None:
    group = AtomicGroup(tmp_path)
    group.open("a").write("new")
    group.commit()
    group.commit()
    assert (tmp_path / "a").read_text() == "new"


# Discarding


def write_group(directory: Path, names: list[str], error: Exception | None) -> None:
    """Write ``names`` in one group, raising ``error`` inside the block if given."""
    with AtomicGroup(directory, hooks=[FailOn("b.txt")]) as group:
        for name in names:
            group.open(name).write("new")
        if error is not None:
            raise error


def test_exception_discards_every_file(tmp_path: Path) -> None:
    names = ["a.txt", "c.txt"]
    write_old(tmp_path, names[:1])
    with pytest.raises(RuntimeError):
        write_group(tmp_path, names, RuntimeError("stop"))
    assert (tmp_path / "a.txt").read_text() == "old a.txt"
    assert not (tmp_path / "c.txt").exists()
    assert temp_files(tmp_path) == []


def test_failed_validation_discards_every_file(tmp_path: Path) -> None:
    names = ["a.txt", "b.txt", "c.txt"]
    write_old(tmp_path, names)
    with pytest.raises(ValueError, match=re.escape("rejected b.txt")):
        write_group(tmp_path, names, None)
    for name in names:
        assert (tmp_path / name).read_text() == f"old {name}"
    assert temp_files(tmp_path) == []


def test_discard_after_commit_does_nothing(tmp_path: Path) -> None:
    group = AtomicGroup(tmp_path)
    group.open("a").write("new")
    group.commit()
    group.discard()
    assert (tmp_path / "a").read_text() == "new"


# A rename that fails partway


@pytest.fixture
def failed_group(tmp_path: Path) -> tuple[Path, GroupCommitError]:
    """Commit a.txt, b.txt and c.txt after b.txt became a non-empty directory.

    The rename of b.txt's temporary file then fails with EISDIR, after the
    rename of a.txt succeeded.
    """
    write_old(tmp_path, ["a.txt", "b.txt", "c.txt"])
    group = AtomicGroup(tmp_path)
    for name in ("a.txt", "b.txt", "c.txt"):
        group.open(name).write(f"new {name}")
    (tmp_path / "b.txt").unlink()
    (tmp_path / "b.txt").mkdir()
    (tmp_path / "b.txt" / "keep").write_text("")
    with pytest.raises(GroupCommitError) as caught:
        group.commit()
    return tmp_path, caught.value


def test_failed_rename_keeps_earlier_files_new(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, _ = failed_group
    assert (directory / "a.txt").read_text() == "new a.txt"


def test_failed_rename_keeps_later_files_old(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, _ = failed_group
    assert (directory / "c.txt").read_text() == "old c.txt"


def test_failed_rename_leaves_failed_target(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, _ = failed_group
    assert os.listdir(directory / "b.txt") == ["keep"]


def test_failed_rename_leaves_no_temporary_file(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, _ = failed_group
    assert temp_files(directory) == []


def test_failed_rename_names_replaced_files(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, error = failed_group
    assert error.replaced == (str(directory / "a.txt"),)


def test_failed_rename_names_unreplaced_files(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, error = failed_group
    assert error.not_replaced == (str(directory / "b.txt"), str(directory / "c.txt"))


def test_failed_rename_message_names_files(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    directory, error = failed_group
    expected = f"Replaced with the new content: [{str(directory / 'a.txt')!r}]"
    assert expected in str(error)


def test_failed_rename_keeps_errno(
    failed_group: tuple[Path, GroupCommitError],
) -> None:
    _, error = failed_group
    assert error.errno == errno.EISDIR


# Bad use


@pytest.mark.parametrize(
    ("options", "exception", "message"),
    [
        ({"durability": "never"}, ValueError, "invalid durability 'never'"),
        ({"on_dir_sync_unsupported": "ignore"}, ValueError, "'ignore'"),
        ({"permissions": 0o10000}, ValueError, "invalid permissions"),
        ({"colour": "red"}, TypeError, "colour"),
    ],
    ids=["durability", "on-dir-sync-unsupported", "permissions", "unknown"],
)
def test_group_rejects_invalid_option(
    tmp_path: Path, options: dict[str, object], exception: type[Exception], message: str
) -> None:
    with pytest.raises(exception, match=re.escape(message)):
        AtomicGroup(tmp_path, **options)


@pytest.mark.parametrize(
    "option", ["durability", "on_dir_sync_unsupported"], ids=["durability", "dir-sync"]
)
def test_open_rejects_group_option(tmp_path: Path, option: str) -> None:
    group = AtomicGroup(tmp_path)
    options: dict[str, Any] = {option: "full"}
    with pytest.raises(TypeError, match="applies to the whole group"):
        group.open("a", **options)
    group.discard()


@pytest.mark.parametrize(
    "second",
    ["./a", "sub/../a", "{absolute}", "linked/a", "alias"],
    ids=["dot", "dotdot", "absolute", "linked-dir", "file-link"],
)
def test_open_rejects_same_target_twice(tmp_path: Path, second: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "linked").symlink_to(".")
    (tmp_path / "alias").symlink_to("a")
    (tmp_path / "a").write_text("old")
    group = AtomicGroup(tmp_path)
    group.open("a").write("first")
    with pytest.raises(ValueError, match="already in this group"):
        group.open(second.format(absolute=tmp_path / "a"))
    group.discard()
    assert (tmp_path / "a").read_text() == "old"
    assert temp_files(tmp_path) == []


def test_open_accepts_hard_link_as_other_file(tmp_path: Path) -> None:
    # A hard link is another directory entry, which a rename replaces on its
    # own, so the group may write both names.
    (tmp_path / "a").write_text("old")
    os.link(tmp_path / "a", tmp_path / "b")
    with AtomicGroup(tmp_path) as group:
        group.open("a").write("new a")
        group.open("b").write("new b")
    assert (tmp_path / "a").read_text() == "new a"
    assert (tmp_path / "b").read_text() == "new b"


def test_open_after_commit_fails(tmp_path: Path) -> None:
    group = AtomicGroup(tmp_path)
    group.commit()
    with pytest.raises(ValueError, match="has ended"):
        group.open("a")


def test_commit_after_discard_fails(tmp_path: Path) -> None:
    group = AtomicGroup(tmp_path)
    group.discard()
    with pytest.raises(ValueError, match="discarded"):
        group.commit()


# System calls, seen by strace

_STRACE_CHILD = textwrap.dedent(
    """
    import sys
    from atomicopen import AtomicGroup

    durability, *paths = sys.argv[1:]
    with AtomicGroup(durability=durability) as group:
        for path in paths:
            group.open(path).write("new")
    """
)


def fsync_counts(tmp_path: Path, durability: str, paths: list[Path]) -> dict[str, int]:
    """Run a group commit under strace and count fsync calls by path."""
    strace = require_tool("strace")
    log = tmp_path / "strace.log"
    subprocess.run(
        [
            strace,
            "-f",
            "-y",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            str(log),
            sys.executable,
            "-c",
            _STRACE_CHILD,
            durability,
            *map(str, paths),
        ],
        check=True,
        capture_output=True,
    )
    counts: dict[str, int] = {}
    for match in re.finditer(r"f(?:data)?sync\(\d+<([^>]*)>\) = 0", log.read_text()):
        target = match.group(1)
        key = "temporary file" if "/.atomicopen." in target else target
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize(
    ("durability", "expected_directory_syncs", "expected_file_syncs"),
    [("full", 1, 5), ("file", 0, 5), ("none", 0, 0)],
    ids=["full", "file", "none"],
)
def test_strace_one_directory_fsync(
    tmp_path: Path,
    durability: str,
    expected_directory_syncs: int,
    expected_file_syncs: int,
) -> None:
    directory = tmp_path / "data"
    directory.mkdir()
    counts = fsync_counts(
        tmp_path, durability, [directory / f"{index}.txt" for index in range(5)]
    )
    assert counts.get(str(directory), 0) == expected_directory_syncs
    assert counts.get("temporary file", 0) == expected_file_syncs


def test_strace_each_directory_once(tmp_path: Path) -> None:
    directories = [tmp_path / "one", tmp_path / "two"]
    for directory in directories:
        directory.mkdir()
    paths = [
        directory / f"{index}.txt" for index in range(3) for directory in directories
    ]
    counts = fsync_counts(tmp_path, "full", paths)
    assert counts == {
        "temporary file": 6,
        str(directories[0]): 1,
        str(directories[1]): 1,
    }
