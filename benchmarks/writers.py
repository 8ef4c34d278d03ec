"""The commits that the benchmarks compare, each built for one target path.

Every ``make_*`` function takes the target path and returns a function that
replaces the target's content with the bytes it is given. The target exists
before the first call, so every commit replaces a file, as a program that
saves its state does. Setup that a hand-written program does once, such as
computing the temporary name and the directory, happens in ``make_*``.
"""

from __future__ import annotations

import fcntl
import io
import os
import random
import stat
from collections.abc import Callable
from dataclasses import dataclass

import safer
from atomicwrites import atomic_write
from boltons.fileutils import atomic_save  # type: ignore[import-untyped]

from atomicopen import atomic_open

Commit = Callable[[bytes], None]

_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_GUARDED_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Writer:
    """One way to commit a file, and the work it does that others may skip."""

    name: str
    make: Callable[[str], Commit]
    syncs: str


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def make_floor(path: str, *, sync: bool = True) -> Commit:
    """Return the hand-written sequence: create, write, fsync, rename, fsync dir."""
    temp = path + ".floor-tmp"
    directory = os.path.dirname(path) or os.curdir

    def commit(data: bytes) -> None:
        fd = os.open(temp, _CREATE_FLAGS, 0o666)
        try:
            _write_all(fd, data)
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
        if sync:
            directory_fd = os.open(directory, _DIRECTORY_FLAGS)
            try:
                os.fsync(directory_fd)
            finally:
                os.close(directory_fd)

    return commit


def make_floor_guarded(path: str) -> Commit:
    """Return the floor plus the calls that atomicopen's guarantees need.

    The additions: an lstat of the target for its mode and owner, a
    directory descriptor for every step, an flock on the temporary file, an
    fstat that checks the new file's owner and mode, and a buffered Python
    file object on a duplicate descriptor that is closed before the rename.
    It shows what a minimal Python implementation of the same guarantees
    costs, so the rest of atomicopen's overhead is its own code.
    """
    directory, name = os.path.split(path)
    random_names = random.Random()  # noqa: S311 - unique names, not secrets

    def commit(data: bytes) -> None:
        directory_fd = os.open(directory or os.curdir, _DIRECTORY_FLAGS)
        try:
            status = os.stat(name, dir_fd=directory_fd, follow_symlinks=False)
            temp = f".atomicopen.{random_names.getrandbits(48):012x}.{name}"
            fd = os.open(
                temp, _GUARDED_FLAGS, stat.S_IMODE(status.st_mode), dir_fd=directory_fd
            )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                created = os.fstat(fd)
                if (created.st_uid, created.st_gid) != (status.st_uid, status.st_gid):
                    os.fchown(fd, status.st_uid, status.st_gid)
                if created.st_mode != status.st_mode:
                    os.fchmod(fd, stat.S_IMODE(status.st_mode))
                # The file object closes a duplicate before the rename, which
                # reports errors that NFS reports only at close().
                raw = io.FileIO(os.dup(fd), "w")
                with io.BufferedWriter(raw, raw._blksize) as file:  # type: ignore[attr-defined]
                    file.write(data)
                    file.flush()
                    os.fsync(fd)
                os.replace(temp, name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
            finally:
                os.close(fd)
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)

    return commit


def make_floor_open(path: str) -> Commit:
    """Return the floor's sequence written with open() and a buffered file.

    open() adds an fstat, an isatty ioctl and an lseek to the floor, as it does
    for every writer that hands out a Python file object.
    """
    temp = path + ".floor-tmp"
    directory = os.path.dirname(path) or os.curdir

    def commit(data: bytes) -> None:
        with open(temp, "xb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.rename(temp, path)
        directory_fd = os.open(directory, _DIRECTORY_FLAGS)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)

    return commit


def make_floor_nosync(path: str) -> Commit:
    """Return the hand-written sequence without either fsync."""
    return make_floor(path, sync=False)


def make_atomicopen(path: str, durability: str = "full") -> Commit:
    """Return a commit through ``atomicopen.atomic_open``."""

    def commit(data: bytes) -> None:
        with atomic_open(path, "wb", durability=durability) as file:
            file.write(data)

    return commit


def make_atomicopen_none(path: str) -> Commit:
    """Return a commit through ``atomic_open(durability="none")``."""
    return make_atomicopen(path, "none")


def make_atomicwrites(path: str) -> Commit:
    """Return a commit through ``atomicwrites.atomic_write``."""

    def commit(data: bytes) -> None:
        with atomic_write(path, mode="wb", overwrite=True) as file:
            file.write(data)

    return commit


def make_safer(path: str) -> Commit:
    """Return a commit through ``safer.open(temp_file=True)``."""

    def commit(data: bytes) -> None:
        with safer.open(path, "wb", temp_file=True) as file:
            file.write(data)

    return commit


def make_boltons(path: str) -> Commit:
    """Return a commit through ``boltons.fileutils.atomic_save``."""

    def commit(data: bytes) -> None:
        with atomic_save(path, text_mode=False) as file:
            file.write(data)

    return commit


FLOOR = Writer("floor", make_floor, "file + directory")
FLOOR_GUARDED = Writer(
    "floor + atomicopen's guarantees", make_floor_guarded, "file + directory"
)
FLOOR_OPEN = Writer("floor through open()", make_floor_open, "file + directory")
FLOOR_NOSYNC = Writer("floor, no fsync", make_floor_nosync, "none")
ATOMICOPEN = Writer("atomicopen", make_atomicopen, "file + directory")
ATOMICOPEN_NONE = Writer('atomicopen durability="none"', make_atomicopen_none, "none")
ATOMICWRITES = Writer("atomicwrites 1.4", make_atomicwrites, "file + directory")
SAFER = Writer("safer temp_file", make_safer, "none (no fsync at all)")
BOLTONS = Writer("boltons atomic_save", make_boltons, "file only (no directory fsync)")

DURABLE = (FLOOR, FLOOR_GUARDED, ATOMICOPEN, ATOMICWRITES, BOLTONS, SAFER)
UNSYNCED = (FLOOR_NOSYNC, ATOMICOPEN_NONE, SAFER)
BY_NAME = {writer.name: writer for writer in (*DURABLE, *UNSYNCED, FLOOR_OPEN)}
