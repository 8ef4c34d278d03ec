"""In-memory volume that keeps a volatile state and the state that survives a crash.

Every inode stores two copies of what a crash can lose: the volatile copy that
reads see, and the synced copy as of its last durability point. A file's data,
size, mode and owner are synced by ``fsync``/``fdatasync`` of that file. A
directory's entries, mode and owner are synced by ``fsync`` of that directory.
:meth:`Volume.image` builds the volume that a power loss leaves behind.
"""

from __future__ import annotations

import enum
import errno
import itertools
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

__all__ = ["CrashModel", "Inode", "Volume"]

#: Permission bits plus set-user-ID, set-group-ID and sticky bits.
PERMISSION_BITS = 0o7777

_inode_numbers = itertools.count(2)


class CrashModel(str, enum.Enum):
    """Which pending changes a simulated power loss keeps."""

    #: Every change since its durability point is lost.
    DROP_ALL = "drop-all"
    #: Directory entries and inode metadata (mode, owner, explicit truncation)
    #: reach the disk, file data written since the last file ``fsync`` is lost.
    METADATA_FIRST = "metadata-first"


def _raise(code: int, path: str) -> NoReturn:
    raise OSError(code, os.strerror(code), path)


@dataclass(eq=False)
class Inode:
    """A file, directory or symbolic link with its volatile and synced state."""

    kind: int
    mode: int
    uid: int
    gid: int
    #: File content, or the target of a symbolic link.
    data: bytearray = field(default_factory=bytearray)
    entries: dict[str, Inode] = field(default_factory=dict)
    nlink: int = 1
    number: int = field(default_factory=lambda: next(_inode_numbers))
    atime_ns: int = field(default_factory=time.time_ns)
    mtime_ns: int = field(default_factory=time.time_ns)
    ctime_ns: int = field(default_factory=time.time_ns)
    synced_data: bytes = b""
    synced_mode: int = 0
    synced_uid: int = 0
    synced_gid: int = 0
    synced_entries: dict[str, Inode] = field(default_factory=dict)
    #: Sizes set by truncation since the last sync, replayed by METADATA_FIRST.
    pending_sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.synced_mode = self.mode
        self.synced_uid = self.uid
        self.synced_gid = self.gid
        if self.kind == stat.S_IFLNK:
            # A symbolic link's target is written with the entry that names it.
            self.synced_data = bytes(self.data)

    @property
    def is_dir(self) -> bool:
        """Whether the inode is a directory."""
        return self.kind == stat.S_IFDIR

    def sync(self) -> None:
        """Make the volatile state of this inode durable, as ``fsync`` does."""
        self.synced_data = bytes(self.data)
        self.synced_mode = self.mode
        self.synced_uid = self.uid
        self.synced_gid = self.gid
        self.synced_entries = dict(self.entries)
        self.pending_sizes.clear()

    def truncate(self, size: int) -> None:
        """Set the file size, padding with zero bytes."""
        self.resize(size)
        self.pending_sizes.append(size)

    def resize(self, size: int) -> None:
        """Cut or zero-pad the volatile data to *size* bytes."""
        if size < len(self.data):
            del self.data[size:]
        else:
            self.data.extend(bytes(size - len(self.data)))
        self.touch()

    def write(self, data: bytes, offset: int) -> None:
        """Write *data* at *offset* into the volatile data."""
        if offset > len(self.data):
            self.resize(offset)
        self.data[offset : offset + len(data)] = data
        self.touch()

    def touch(self) -> None:
        """Set the modification and change times to now."""
        self.mtime_ns = self.ctime_ns = time.time_ns()

    def attributes(self) -> dict[str, int]:
        """Return the ``stat`` fields of the volatile state, times in nanoseconds."""
        nlink = self.nlink
        if self.is_dir:
            nlink = 2 + sum(child.is_dir for child in self.entries.values())
        return {
            "st_ino": self.number,
            "st_mode": self.kind | self.mode,
            "st_nlink": nlink,
            "st_uid": self.uid,
            "st_gid": self.gid,
            "st_size": len(self.data),
            "st_blocks": (len(self.data) + 511) // 512,
            "st_atime": self.atime_ns,
            "st_mtime": self.mtime_ns,
            "st_ctime": self.ctime_ns,
        }


class Volume:
    """A tree of inodes addressed by absolute paths such as ``/dir/name``.

    Methods raise :class:`OSError` with the errno that the matching system call
    returns. Callers pass paths that the kernel has already resolved, so no
    component but the last is a symbolic link.
    """

    def __init__(self, root: Inode | None = None) -> None:
        self.root = root or Inode(stat.S_IFDIR, 0o755, os.getuid(), os.getgid())

    # -- lookup ---------------------------------------------------------------

    def lookup(self, path: str) -> Inode:
        """Return the inode at *path*."""
        node = self.root
        for name in _components(path):
            if not node.is_dir:
                _raise(errno.ENOTDIR, path)
            child = node.entries.get(name)
            if child is None:
                _raise(errno.ENOENT, path)
            node = child
        return node

    def parent(self, path: str) -> tuple[Inode, str]:
        """Return the directory that holds *path* and the last component."""
        parts = _components(path)
        if not parts:
            _raise(errno.EBUSY, path)
        directory = self.lookup("/" + "/".join(parts[:-1]))
        if not directory.is_dir:
            _raise(errno.ENOTDIR, path)
        return directory, parts[-1]

    # -- namespace changes, pending until the directory is synced --------------

    def create(self, path: str, kind: int, mode: int, uid: int, gid: int) -> Inode:
        """Add a new inode at *path*, which must not exist."""
        directory, name = self.parent(path)
        if name in directory.entries:
            _raise(errno.EEXIST, path)
        node = Inode(kind, mode & PERMISSION_BITS, uid, gid)
        directory.entries[name] = node
        directory.touch()
        return node

    def symlink(self, path: str, target: str, uid: int, gid: int) -> Inode:
        """Add a symbolic link at *path* that points to *target*."""
        node = self.create(path, stat.S_IFLNK, 0o777, uid, gid)
        node.data[:] = os.fsencode(target)
        node.synced_data = bytes(node.data)
        return node

    def link(self, existing: str, path: str) -> None:
        """Add *path* as another name of the file at *existing*."""
        node = self.lookup(existing)
        if node.is_dir:
            _raise(errno.EPERM, existing)
        directory, name = self.parent(path)
        if name in directory.entries:
            _raise(errno.EEXIST, path)
        directory.entries[name] = node
        node.nlink += 1
        node.ctime_ns = time.time_ns()
        directory.touch()

    def unlink(self, path: str) -> None:
        """Remove the name *path* of a file or symbolic link."""
        directory, name = self.parent(path)
        node = self.lookup(path)
        if node.is_dir:
            _raise(errno.EISDIR, path)
        del directory.entries[name]
        node.nlink -= 1
        directory.touch()

    def rmdir(self, path: str) -> None:
        """Remove the empty directory *path*."""
        directory, name = self.parent(path)
        node = self.lookup(path)
        if not node.is_dir:
            _raise(errno.ENOTDIR, path)
        if node.entries:
            _raise(errno.ENOTEMPTY, path)
        del directory.entries[name]
        directory.touch()

    def rename(self, old: str, new: str, *, noreplace: bool, exchange: bool) -> None:
        """Move *old* to *new* as ``renameat2`` does with the given flags."""
        old_dir, old_name = self.parent(old)
        new_dir, new_name = self.parent(new)
        node = self.lookup(old)
        target = new_dir.entries.get(new_name)
        if node.is_dir and _contains(node, new_dir):
            _raise(errno.EINVAL, new)
        if exchange:
            if target is None:
                _raise(errno.ENOENT, new)
            if target.is_dir and _contains(target, old_dir):
                _raise(errno.EINVAL, old)
            old_dir.entries[old_name] = target
            new_dir.entries[new_name] = node
        else:
            if target is not None and noreplace:
                _raise(errno.EEXIST, new)
            if target is node:
                # Two names of one file: rename(2) succeeds and does nothing.
                return
            if target is not None:
                self._check_replace(node, target, new)
                target.nlink -= 1
            del old_dir.entries[old_name]
            new_dir.entries[new_name] = node
        old_dir.touch()
        new_dir.touch()
        node.ctime_ns = time.time_ns()

    @staticmethod
    def _check_replace(node: Inode, target: Inode, path: str) -> None:
        if node.is_dir and not target.is_dir:
            _raise(errno.ENOTDIR, path)
        if target.is_dir and not node.is_dir:
            _raise(errno.EISDIR, path)
        if target.is_dir and target.entries:
            _raise(errno.ENOTEMPTY, path)

    # -- crash ----------------------------------------------------------------

    def image(self, model: CrashModel) -> Volume:
        """Return the volume that a power loss under *model* leaves on disk.

        Both states of every inode in the result equal what survived. A
        directory that the surviving entries reach twice, which a directory
        renamed between two parents of which one was synced can cause, keeps
        only the name met first in sorted order.
        """
        copies: dict[Inode, Inode] = {}
        root = _survivor(self.root, model, copies)
        assert root is not None
        return Volume(root)

    # -- the backing directory ------------------------------------------------

    @classmethod
    def load(cls, directory: Path) -> Volume:
        """Read the tree under *directory* as a fully synced volume."""
        seen: dict[tuple[int, int], Inode] = {}
        root = _load_inode(directory, seen)
        return cls(root)

    def dump(self, directory: Path) -> None:
        """Replace the content of *directory* with the volatile state."""
        for child in directory.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        written: dict[Inode, Path] = {}
        _dump_entries(self.root, directory, written)
        os.chmod(directory, self.root.mode)


def _components(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _contains(directory: Inode, node: Inode) -> bool:
    """Whether *node* is *directory* or lies below it in the volatile tree."""
    if directory is node:
        return True
    return any(
        child.is_dir and _contains(child, node) for child in directory.entries.values()
    )


def _survivor(
    node: Inode, model: CrashModel, copies: dict[Inode, Inode]
) -> Inode | None:
    """Copy what of *node* and its subtree survives a crash under *model*."""
    if node in copies:
        return None if node.is_dir else copies[node]
    namespace_first = model is CrashModel.METADATA_FIRST
    data = bytearray(node.synced_data)
    if namespace_first and node.kind == stat.S_IFREG:
        for size in node.pending_sizes:
            del data[size:]
            data.extend(bytes(size - len(data)))
    copy = Inode(
        node.kind,
        node.mode if namespace_first else node.synced_mode,
        node.uid if namespace_first else node.synced_uid,
        node.gid if namespace_first else node.synced_gid,
        data=data,
        nlink=0,
        atime_ns=node.atime_ns,
        mtime_ns=node.mtime_ns,
        ctime_ns=node.ctime_ns,
    )
    copies[node] = copy
    entries = node.entries if namespace_first else node.synced_entries
    for name in sorted(entries):
        child = _survivor(entries[name], model, copies)
        if child is not None:
            copy.entries[name] = child
            child.nlink += 1
    copy.sync()
    return copy


def _load_inode(path: Path, seen: dict[tuple[int, int], Inode]) -> Inode:
    info = path.lstat()
    key = (info.st_dev, info.st_ino)
    if key in seen:
        node = seen[key]
        node.nlink += 1
        return node
    node = Inode(
        stat.S_IFMT(info.st_mode),
        stat.S_IMODE(info.st_mode),
        info.st_uid,
        info.st_gid,
        atime_ns=info.st_atime_ns,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
    )
    if stat.S_ISREG(info.st_mode):
        node.data[:] = path.read_bytes()
    elif stat.S_ISLNK(info.st_mode):
        node.data[:] = os.fsencode(os.readlink(path))
    elif stat.S_ISDIR(info.st_mode):
        for child in sorted(path.iterdir()):
            node.entries[child.name] = _load_inode(child, seen)
    else:
        message = (
            "unsupported file type in the backing directory: use only regular"
            " files, directories and symbolic links"
        )
        raise OSError(errno.EINVAL, message, path)
    seen[key] = node
    node.sync()
    return node


def _dump_entries(directory: Inode, path: Path, written: dict[Inode, Path]) -> None:
    for name, node in sorted(directory.entries.items()):
        target = path / name
        if node in written:
            os.link(written[node], target)
            continue
        written[node] = target
        if node.is_dir:
            target.mkdir()
            _dump_entries(node, target, written)
        elif node.kind == stat.S_IFLNK:
            target.symlink_to(os.fsdecode(bytes(node.data)))
            continue
        else:
            target.write_bytes(bytes(node.data))
        os.chmod(target, node.mode)
        if os.geteuid() == 0:
            os.chown(target, node.uid, node.gid)
