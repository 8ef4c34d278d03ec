"""FUSE side of the power-loss file system: libfuse callbacks over a :class:`Volume`.

The server runs libfuse's single-threaded loop, so callbacks never overlap and
the volume needs no lock. The control file ``/.powerlossfs`` accepts commands
written to it and returns a JSON status when read; see the package docstring.
"""

from __future__ import annotations

import collections
import errno
import itertools
import json
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mfusepy

from ._model import CrashModel, Inode, Volume
from ._protocol import CONTROL_NAME, OPERATION_KINDS

__all__ = ["PowerLossOperations", "serve"]

log = logging.getLogger(__name__)

_CONTROL_PATH = "/" + CONTROL_NAME

# Flags of renameat2(2) from <linux/fs.h>.
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2

_T = TypeVar("_T")


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


@dataclass(frozen=True)
class Trigger:
    """A crash armed to happen at the *nth* operation of *kind*."""

    kind: str
    nth: int
    model: CrashModel
    #: False: crash before the operation takes effect and fail it with EIO.
    #: True: let the operation succeed, then crash.
    after: bool

    def as_dict(self) -> dict[str, Any]:
        """Return the trigger as JSON-ready values."""
        return {
            "kind": self.kind,
            "nth": self.nth,
            "model": self.model.value,
            "after": self.after,
        }


class PowerLossOperations(mfusepy.Operations):
    """libfuse callbacks that serve a :class:`Volume` loaded from *backing*.

    A crash writes the surviving image to *backing* and then serves that image,
    as a machine that reboots onto the same disk would. A clean unmount writes
    the whole volatile state, as ``umount`` after ``sync`` would.
    """

    use_ns = True

    def __init__(self, backing: Path) -> None:
        self.backing = backing
        self.volume = Volume.load(backing)
        self.handles: dict[int, Inode] = {}
        self.control_handles: set[int] = set()
        #: Handles opened before a crash: using them fails with EIO.
        self.stale_handles: set[int] = set()
        self.numbers = itertools.count(1)
        self.counts: collections.Counter[str] = collections.Counter()
        self.trigger: Trigger | None = None
        self.crashes = 0
        #: Set after an armed crash: every operation but those on the control
        #: file fails with EIO until a ``thaw`` command, so the writer cannot
        #: change anything after the simulated power loss.
        self.frozen = False

    # -- crash machinery ------------------------------------------------------

    def crash(self, model: CrashModel, *, freeze: bool) -> None:
        """Drop what *model* loses, write the image to the backing directory."""
        image = self.volume.image(model)
        image.dump(self.backing)
        self.volume = image
        # Open handles belonged to the machine that lost power.
        self.stale_handles.update(self.handles)
        self.handles.clear()
        self.trigger = None
        self.crashes += 1
        self.frozen = freeze
        log.info("crashed with model %s, frozen=%s", model.value, freeze)

    def _check_frozen(self) -> None:
        if self.frozen:
            raise _error(errno.EIO)

    def _mutate(self, kind: str, change: Callable[[], _T]) -> _T:
        """Count an operation of *kind*, apply *change*, fire an armed trigger."""
        self._check_frozen()
        self.counts[kind] += 1
        trigger = self.trigger
        if trigger is None or trigger.kind != kind or self.counts[kind] != trigger.nth:
            return change()
        log.info("trigger %s reached", trigger.as_dict())
        if not trigger.after:
            self.crash(trigger.model, freeze=True)
            raise _error(errno.EIO)
        try:
            return change()
        finally:
            self.crash(trigger.model, freeze=True)

    def _node(self, path: str | None, fh: int | None) -> Inode:
        self._check_frozen()
        if fh is not None and fh in self.handles:
            return self.handles[fh]
        if fh in self.stale_handles or path is None:
            raise _error(errno.EIO)
        return self.volume.lookup(path)

    def _open_handle(self, node: Inode) -> int:
        fh = next(self.numbers)
        self.handles[fh] = node
        return fh

    # -- control file ---------------------------------------------------------

    def _control_status(self) -> bytes:
        status = {
            "crashes": self.crashes,
            "frozen": self.frozen,
            "trigger": None if self.trigger is None else self.trigger.as_dict(),
            "counts": dict(sorted(self.counts.items())),
        }
        return json.dumps(status).encode() + b"\n"

    def _control_command(self, line: str) -> None:
        words = line.split()
        if not words:
            return
        log.info("control command %r", line)
        match words:
            case ["crash", model]:
                self.crash(CrashModel(model), freeze=False)
            case ["arm", kind, nth, model, *when] if kind in OPERATION_KINDS and (
                when in ([], ["before"], ["after"])
            ):
                self.counts.clear()
                after = when == ["after"]
                self.trigger = Trigger(kind, int(nth), CrashModel(model), after)
            case ["disarm"]:
                self.trigger = None
            case ["thaw"]:
                self.frozen = False
            case ["sync"]:
                self._sync_all(self.volume.root, set())
            case _:
                raise _error(errno.EINVAL)

    def _sync_all(self, node: Inode, seen: set[Inode]) -> None:
        if node in seen:
            return
        seen.add(node)
        node.sync()
        for child in node.entries.values():
            self._sync_all(child, seen)

    # -- attributes and lookups -----------------------------------------------

    def getattr(self, path: str | None, fh: int | None = None) -> dict[str, Any]:
        if path == _CONTROL_PATH or fh in self.control_handles:
            return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1}
        if path == "/" and self.frozen:
            return self.volume.root.attributes()
        return self._node(path, fh).attributes()

    def readlink(self, path: str) -> str:
        node = self._node(path, None)
        if node.kind != stat.S_IFLNK:
            raise _error(errno.EINVAL)
        return os.fsdecode(bytes(node.data))

    def statfs(self, path: str) -> dict[str, int]:
        return {
            "f_bsize": 4096,
            "f_frsize": 4096,
            "f_blocks": 1 << 20,
            "f_bfree": 1 << 19,
            "f_bavail": 1 << 19,
            "f_files": 1 << 16,
            "f_ffree": 1 << 15,
            "f_namemax": 255,
        }

    # -- directories ----------------------------------------------------------

    def opendir(self, path: str) -> int:
        node = self._node(path, None)
        if not node.is_dir:
            raise _error(errno.ENOTDIR)
        return self._open_handle(node)

    def readdir(
        self, path: str | None, fh: int
    ) -> list[tuple[str, dict[str, int], int]]:
        # With use_ino, libfuse sends the st_ino given here as d_ino, and
        # glibc's readdir skips entries whose d_ino is 0.
        node = self._node(path, fh)
        entries = [(".", node), ("..", node), *sorted(node.entries.items())]
        return [
            (name, {"st_ino": child.number, "st_mode": child.kind}, 0)
            for name, child in entries
        ]

    def releasedir(self, path: str | None, fh: int) -> int:
        self.handles.pop(fh, None)
        self.stale_handles.discard(fh)
        return 0

    def fsyncdir(self, path: str | None, datasync: int, fh: int) -> int:
        node = self._node(path, fh)
        self._mutate("fsyncdir", node.sync)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        uid, gid, _ = mfusepy.fuse_get_context()
        self._mutate(
            "mkdir", lambda: self.volume.create(path, stat.S_IFDIR, mode, uid, gid)
        )
        return 0

    def rmdir(self, path: str) -> int:
        self._mutate("rmdir", lambda: self.volume.rmdir(path))
        return 0

    # -- names ----------------------------------------------------------------

    def unlink(self, path: str) -> int:
        self._mutate("unlink", lambda: self.volume.unlink(path))
        return 0

    def symlink(self, target: str, source: str) -> int:
        # mfusepy passes the new link's path first, then the text it points to.
        uid, gid, _ = mfusepy.fuse_get_context()
        self._mutate("symlink", lambda: self.volume.symlink(target, source, uid, gid))
        return 0

    def link(self, target: str, source: str) -> int:
        # mfusepy passes the new name first, then the existing one.
        self._mutate("link", lambda: self.volume.link(source, target))
        return 0

    def rename(self, old: str, new: str, flags: int = 0) -> int:
        if flags & ~(_RENAME_NOREPLACE | _RENAME_EXCHANGE):
            raise _error(errno.EINVAL)
        self._mutate(
            "rename",
            lambda: self.volume.rename(
                old,
                new,
                noreplace=bool(flags & _RENAME_NOREPLACE),
                exchange=bool(flags & _RENAME_EXCHANGE),
            ),
        )
        return 0

    # -- inode metadata, pending until the file is synced ----------------------

    def chmod(self, path: str | None, mode: int, fh: int | None = None) -> int:
        node = self._node(path, fh)

        def change() -> None:
            node.mode = mode & 0o7777
            node.ctime_ns = time.time_ns()

        self._mutate("chmod", change)
        return 0

    def chown(self, path: str | None, uid: int, gid: int, fh: int | None = None) -> int:
        node = self._node(path, fh)

        def change() -> None:
            # -1 leaves that id unchanged, as in chown(2).
            if uid != -1:
                node.uid = uid
            if gid != -1:
                node.gid = gid

        self._mutate("chown", change)
        return 0

    def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
        if path == _CONTROL_PATH or fh in self.control_handles:
            return 0
        node = self._node(path, fh)
        self._mutate("truncate", lambda: node.truncate(length))
        return 0

    def utimens(
        self,
        path: str | None,
        times: tuple[int | None, int | None] | None = None,
        fh: int | None = None,
    ) -> int:
        # Times are not modelled: they change at once and a crash keeps them.
        # None stands for UTIME_OMIT, a time to leave unchanged.
        node = self._node(path, fh)
        now = time.time_ns()
        atime, mtime = (now, now) if times is None else times
        if atime is not None:
            node.atime_ns = atime
        if mtime is not None:
            node.mtime_ns = mtime
        return 0

    # -- files ----------------------------------------------------------------

    def create(self, path: str, mode: int, flags: int) -> int:
        uid, gid, _ = mfusepy.fuse_get_context()
        node = self._mutate(
            "create", lambda: self.volume.create(path, stat.S_IFREG, mode, uid, gid)
        )
        return self._open_handle(node)

    def open(self, path: str, flags: int) -> int:
        if path == _CONTROL_PATH:
            fh = next(self.numbers)
            self.control_handles.add(fh)
            return fh
        node = self._node(path, None)
        if flags & os.O_TRUNC:
            # libfuse 3 asks the kernel for atomic O_TRUNC, so truncation
            # arrives here and not as a separate setattr.
            self._mutate("truncate", lambda: node.truncate(0))
        return self._open_handle(node)

    def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
        if fh in self.control_handles:
            return self._control_status()[offset : offset + size]
        node = self._node(path, fh)
        return bytes(node.data[offset : offset + size])

    def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
        if fh in self.control_handles:
            for line in data.decode().splitlines():
                try:
                    self._control_command(line)
                except ValueError as exc:
                    raise _error(errno.EINVAL) from exc
            return len(data)
        node = self._node(path, fh)
        self._mutate("write", lambda: node.write(data, offset))
        return len(data)

    def fsync(self, path: str | None, datasync: int, fh: int) -> int:
        node = self._node(path, fh)
        self._mutate("fsync", node.sync)
        return 0

    def flush(self, path: str | None, fh: int) -> int:
        return 0

    def release(self, path: str | None, fh: int) -> int:
        self.handles.pop(fh, None)
        self.stale_handles.discard(fh)
        self.control_handles.discard(fh)
        return 0

    def destroy(self, path: str) -> None:
        self.volume.dump(self.backing)
        log.info("unmounted, volatile state written to %s", self.backing)


class _Fuse(mfusepy.FUSE):
    """mfusepy's FUSE glue, changed to pass rename flags and file handles.

    mfusepy 3.1 drops the ``renameat2`` flags and the ``fuse_file_info`` of
    chmod, chown, truncate and utimens. Without the flags ``RENAME_NOREPLACE``
    would silently replace, and without the handle ``ftruncate`` on an
    unlinked file would have no path to act on.
    """

    def _decode(self, path: bytes | None) -> str | None:
        return None if path is None else path.decode(self.encoding, self.errors)

    @staticmethod
    def _fh(fip: Any) -> int | None:
        return int(fip.contents.fh) if fip else None

    def rename_fuse_3(self, old: bytes, new: bytes, flags: int) -> int:
        result: int = self.operations.rename(
            self._decode(old), self._decode(new), flags
        )
        return result

    def chmod_fuse_3(self, path: bytes | None, mode: int, fip: Any) -> int:
        result: int = self.operations.chmod(self._decode(path), mode, self._fh(fip))
        return result

    def chown_fuse_3(self, path: bytes | None, uid: int, gid: int, fip: Any) -> int:
        # An id of -1 arrives as the largest unsigned value.
        uid = -1 if uid == 0xFFFFFFFF else uid
        gid = -1 if gid == 0xFFFFFFFF else gid
        result: int = self.operations.chown(self._decode(path), uid, gid, self._fh(fip))
        return result

    def truncate_fuse_3(self, path: bytes | None, length: int, fip: Any) -> int:
        result: int = self.operations.truncate(
            self._decode(path), length, self._fh(fip)
        )
        return result

    def utimens_fuse_3(self, path: bytes | None, buf: Any, fip: Any) -> int:
        times = None
        if buf:
            times = (
                _timespec_ns(buf.contents.actime),
                _timespec_ns(buf.contents.modtime),
            )
        result: int = self.operations.utimens(self._decode(path), times, self._fh(fip))
        return result


# Special tv_nsec values of utimensat(2) from <sys/stat.h>.
_UTIME_NOW = (1 << 30) - 1
_UTIME_OMIT = (1 << 30) - 2


def _timespec_ns(timespec: Any) -> int | None:
    """Convert a ``struct timespec`` of utimensat(2) to nanoseconds or None (omit)."""
    if timespec.tv_nsec == _UTIME_OMIT:
        return None
    if timespec.tv_nsec == _UTIME_NOW:
        return time.time_ns()
    return int(timespec.tv_sec) * 1_000_000_000 + int(timespec.tv_nsec)


def serve(backing: Path, mountpoint: Path, *, debug: bool = False) -> None:
    """Mount the file system over *backing* at *mountpoint* until unmounted."""
    # Facts checked on Linux 6.18 with libfuse 3.14 and mfusepy 3.1.1, as root:
    # - No allow_other: only the mounting user can use the mount, and the
    #   tests run as that user. Another user would need allow_other, which
    #   needs user_allow_other in /etc/fuse.conf for non-root mounters.
    # - Mounting takes about 0.1 s; starting Python and mfusepy takes longer.
    # - ``fusermount3 -u`` fails with EBUSY while a process has an open file
    #   or its working directory in the mount (PowerLossMount.stop handles it).
    # - fsync(2) on a directory descriptor arrives as fsyncdir, and
    #   open(O_TRUNC) arrives as open with the flag, not as a truncate.
    operations = PowerLossOperations(backing)
    _Fuse(
        operations,
        str(mountpoint),
        foreground=True,
        # One thread: callbacks run one at a time, in arrival order.
        nothreads=True,
        debug=debug,
        fsname="powerlossfs",
        # Unlink an open file at once, not by renaming it to .fuse_hidden*,
        # which would be a namespace change of its own.
        hard_remove=True,
        use_ino=True,
        # The volume is the page cache: no kernel caching of data, attributes
        # or names, or reads after a crash would return what was lost.
        direct_io=True,
        attr_timeout=0,
        entry_timeout=0,
        negative_timeout=0,
        default_permissions=True,
    )
