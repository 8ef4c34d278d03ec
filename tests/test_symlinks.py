"""Symbolic and hard links at the target path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

from atomicopen import HardLinkError, atomic_open, atomic_write_text
from tests.conftest import temp_files


def test_link_survives_and_points_at_new_content(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    atomic_write_text(link, "new")
    assert link.is_symlink()
    assert os.readlink(link) == "real.txt"
    assert real.read_text() == "new"


def test_chain_of_relative_links_across_directories(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "real.txt").write_text("old")
    config = tmp_path / "config"
    config.mkdir()
    (config / "hop2").symlink_to("../data/real.txt")
    (tmp_path / "hop1").symlink_to("config/hop2")
    atomic = atomic_open(tmp_path / "hop1")
    with atomic as file:
        # The temporary file lives in the real file's directory, so the rename
        # stays within one directory and one file system.
        assert os.path.dirname(str(atomic.temp_path)) == os.path.join(
            str(tmp_path), "config", "../data"
        )
        file.write("new")
    assert (data / "real.txt").read_text() == "new"
    assert (tmp_path / "hop1").is_symlink()
    assert (config / "hop2").is_symlink()
    assert temp_files(data) == []


def test_absolute_link(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "abs"
    link.symlink_to(real)
    atomic_write_text(link, "new")
    assert real.read_text() == "new"
    assert link.is_symlink()


def test_no_follow_replaces_link_itself(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    atomic_write_text(link, "new", follow_symlinks=False)
    assert not link.is_symlink()
    assert link.read_text() == "new"
    assert real.read_text() == "old"


def test_dangling_link_creates_destination(tmp_path: Path) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to("missing.txt")
    atomic_write_text(link, "created")
    assert link.is_symlink()
    assert (tmp_path / "missing.txt").read_text() == "created"


def test_dangling_link_into_missing_directory(tmp_path: Path) -> None:
    link = tmp_path / "link.txt"
    link.symlink_to("nodir/missing.txt")
    with pytest.raises(FileNotFoundError) as raised:
        atomic_write_text(link, "x")
    assert raised.value.filename == os.path.join(str(tmp_path), "nodir")


def test_link_loop_raises_eloop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError, match="Too many levels of symbolic links") as raised:
        atomic_write_text(tmp_path / "a", "x")
    assert raised.value.errno == errno.ELOOP
    assert raised.value.filename == str(tmp_path / "a")
    assert (tmp_path / "a").is_symlink()
    assert (tmp_path / "b").is_symlink()


def test_link_loop_without_follow_replaces_link(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("a")
    atomic_write_text(tmp_path / "a", "x", follow_symlinks=False)
    assert (tmp_path / "a").read_text() == "x"


def test_link_to_directory_raises(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("dir")
    with pytest.raises(IsADirectoryError):
        atomic_write_text(tmp_path / "link", "x")
    assert temp_files(tmp_path) == []


def test_hard_link_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    other = tmp_path / "other"
    os.link(target, other)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert other.read_text() == "old"


def test_hard_link_raises_when_disallowed(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    os.link(target, tmp_path / "other")
    with pytest.raises(HardLinkError, match="2 hard links") as raised:
        atomic_write_text(target, "new", allow_hard_links=False)
    assert raised.value.filename == str(target)
    assert raised.value.link_count == 2
    assert target.read_text() == "old"
    assert temp_files(tmp_path) == []


def test_single_link_allowed_when_hard_links_disallowed(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("old")
    atomic_write_text(target, "new", allow_hard_links=False)
    assert target.read_text() == "new"


def test_planted_link_at_temp_name_not_followed(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    # O_EXCL | O_NOFOLLOW: even a link planted at the very name chosen for the
    # temporary file is never opened, so the link's target is never written.
    victim = tmp_path / "victim"
    victim.write_text("safe")
    planted = ".atomicopen.000000000000.target"
    (tmp_path / planted).symlink_to(victim)
    fresh = ".atomicopen.111111111111.target"
    mocker.patch("atomicopen._tempfile.make_temp_name", side_effect=[planted, fresh])
    atomic_write_text(tmp_path / "target", "data")
    assert victim.read_text() == "safe"
    assert (tmp_path / planted).is_symlink()
    assert (tmp_path / "target").read_text() == "data"
