"""Locks that make a read-modify-write exclusive: ``lock=`` of AtomicFile.

``lock=True`` locks a sidecar file ``<target name>.lock`` next to the target.
The target itself cannot carry the lock: a lock belongs to an inode, and every
commit puts a new inode at the target's path, so a writer that waited on the
old inode would get its lock while another writer already holds the new one.
The sidecar is never replaced or removed, so all writers meet on one inode.

portalocker locks the sidecar with ``fcntl.flock`` on POSIX systems. flock
locks belong to an open file description, so two descriptors of one process
exclude each other. On NFS, Linux emulates flock with POSIX record locks, which
belong to the process, and then threads of one process would not exclude each
other. Writers of one process therefore also take a :class:`threading.Lock`
keyed by the sidecar's device and inode.

``lock=<object>`` takes any object with ``acquire()`` and ``release()``, such as
:class:`portalocker.RedisLock` for writers on several machines.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import portalocker

from ._directory import Directory
from ._errors import AtomicOpenError, LockTimeout

__all__ = ["LOCK_SUFFIX", "LockRequest", "Lockable", "make_lock_request"]

logger = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"

# O_NOFOLLOW rejects a symbolic link planted at the lock path instead of
# following it, and no O_TRUNC: opening the lock file never changes a byte.
# O_NONBLOCK keeps the open of a planted FIFO from hanging; flock ignores it.
_LOCK_FILE_FLAGS = (
    os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_BINARY", 0)
)
# The lock file is replaced only by hand, so a few retries are plenty; more
# mean that something keeps removing it.
MAX_LOCK_ATTEMPTS = 10
# Polling interval while waiting with a timeout: it doubles from the first
# value up to the second, in seconds.
_FIRST_POLL = 0.001
_MAX_POLL = 0.05

FileIdentity = tuple[int, int]


class Lockable(Protocol):
    """A lock object for ``lock=``, such as :class:`portalocker.RedisLock`."""

    def acquire(self) -> object:
        """Block until the lock is held."""

    def release(self) -> None:
        """Give the lock up."""


class LockRequest(Protocol):
    """The checked ``lock=`` option of one AtomicFile."""

    def acquire(self, directory: Directory, name: str, target_path: str) -> None:
        """Take the lock for the target ``name`` in ``directory``."""

    def ensure_held(self, target_path: str) -> None:
        """Raise if the lock was lost, just before the rename."""

    def release(self) -> None:
        """Give the lock up; does nothing when it is not held."""

    def abandon(self) -> None:
        """Drop a lock inherited by a forked child, leaving it to the parent."""


def make_lock_request(lock: object, lock_timeout: object) -> LockRequest | None:
    """Check ``lock`` and ``lock_timeout`` and return what takes the lock.

    :raises TypeError: for a ``lock`` that is neither a bool, ``None`` nor an
        object with ``acquire()`` and ``release()``, or a non-numeric timeout.
    :raises ValueError: for a negative timeout, or a timeout without a lock.
    """
    timeout = _check_timeout(lock_timeout)
    if lock is None or lock is False:
        if timeout is not None:
            raise ValueError(
                f"lock_timeout={lock_timeout!r} was given without a lock: pass"
                " lock=True, or a lock object, too"
            )
        return None
    if lock is True:
        return SidecarLock(timeout)
    if callable(getattr(lock, "acquire", None)) and callable(
        getattr(lock, "release", None)
    ):
        return ExternalLock(lock, timeout)
    raise TypeError(
        f"invalid lock {lock!r}: use True for a lock file next to the target, or"
        " an object with acquire() and release() such as portalocker.RedisLock"
    )


def _check_timeout(lock_timeout: object) -> float | None:
    if lock_timeout is None:
        return None
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, (int, float)):
        raise TypeError(
            f"lock_timeout must be a number of seconds or None, not {lock_timeout!r}"
        )
    if not lock_timeout >= 0:
        raise ValueError(
            f"invalid lock_timeout {lock_timeout!r}: use 0 or more seconds, or"
            " None to wait as long as it takes"
        )
    return float(lock_timeout)


# The sidecar lock file


class SidecarLock:
    """An exclusive lock on ``<target name>.lock`` in the target's directory.

    :param timeout: seconds to wait, or ``None`` to wait as long as it takes.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._fd: int | None = None
        self._identity: FileIdentity | None = None
        self._path = ""

    def __repr__(self) -> str:
        return f"SidecarLock(path={self._path!r}, timeout={self.timeout!r})"

    def acquire(self, directory: Directory, name: str, target_path: str) -> None:
        """Lock the sidecar, retrying if it was replaced while this one waited.

        :raises LockTimeout: when the timeout expires first.
        :raises AtomicOpenError: if the lock path is a symbolic link or not a
            regular file, or the file system cannot lock.
        """
        lock_name = name + LOCK_SUFFIX
        self._path = directory.join(lock_name)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        for attempt in range(1, MAX_LOCK_ATTEMPTS + 1):
            fd = _open_lock_file(directory, lock_name, self._path)
            try:
                identity = _identity(fd, self._path)
                self._lock(fd, identity, deadline, target_path)
            except BaseException:
                os.close(fd)
                raise
            if _identity_at(directory, lock_name) == identity:
                self._fd, self._identity = fd, identity
                logger.debug("locked %s for %s", self._path, target_path)
                return
            _unlock(fd, identity, self._path)
            logger.warning(
                "lock file %s was replaced or removed while this writer waited"
                " (attempt %d of %d); locking the new one",
                self._path,
                attempt,
                MAX_LOCK_ATTEMPTS,
            )
        raise AtomicOpenError(
            errno.EAGAIN,
            f"the lock file {self._path!r} was replaced or removed"
            f" {MAX_LOCK_ATTEMPTS} times while this writer waited; lock files"
            " must never be removed: stop whatever removes it",
            target_path,
        )

    def _lock(
        self, fd: int, identity: FileIdentity, deadline: float | None, target: str
    ) -> None:
        if not _THREAD_LOCKS.acquire(identity, deadline, self._path, target):
            raise LockTimeout(repr(self._path), self.timeout, self._path)
        try:
            locked = _lock_file(fd, deadline, self._path, target)
        except BaseException:
            _THREAD_LOCKS.release(identity)
            raise
        if not locked:
            _THREAD_LOCKS.release(identity)
            raise LockTimeout(repr(self._path), self.timeout, self._path)

    def ensure_held(self, target_path: str) -> None:
        """Do nothing: nothing takes a local flock away from its holder."""

    def release(self) -> None:
        """Unlock and close the lock file, which stays in place for others."""
        if self._fd is None or self._identity is None:
            return
        fd, self._fd = self._fd, None
        _unlock(fd, self._identity, self._path)
        self._identity = None
        logger.debug("unlocked %s", self._path)

    def abandon(self) -> None:
        """Close the inherited descriptor without unlocking.

        The flock belongs to the open file description that parent and child
        share, so unlocking here would release the parent's lock.
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        self._identity = None
        try:
            os.close(fd)
        except OSError:
            logger.exception("cannot close the lock file %s", self._path)


def _open_lock_file(directory: Directory, lock_name: str, lock_path: str) -> int:
    try:
        return directory.open(lock_name, os.O_RDWR | _LOCK_FILE_FLAGS, 0o666)
    except PermissionError:
        # A lock file that another user created may be read-only for this one.
        # flock works on a read-only descriptor of a local file, and on NFS
        # the lock then fails with EBADF, reported below with the path.
        pass
    except OSError as error:
        raise _open_error(error, lock_path) from error
    try:
        return directory.open(lock_name, os.O_RDONLY | _LOCK_FILE_FLAGS, 0o666)
    except OSError as error:
        raise _open_error(error, lock_path) from error


def _open_error(error: OSError, lock_path: str) -> OSError:
    if error.errno == errno.ELOOP:
        return AtomicOpenError(
            errno.ELOOP,
            "the lock file is a symbolic link, which is never followed because it"
            " could redirect the lock anywhere; remove the link, and the next"
            " writer creates a regular lock file",
            lock_path,
        )
    if error.errno == errno.ENAMETOOLONG:
        return type(error)(
            error.errno,
            "File name too long: the directory does not allow the lock file's"
            " name, which adds '.lock' to the target's; use a shorter file name,"
            " or, from Python, pass a lock object such as portalocker.RedisLock"
            " as lock=",
            lock_path,
        )
    reason = error.strerror or str(error)
    return type(error)(
        error.errno,
        f"cannot open the lock file: {reason}; writers need write access to the"
        " target's directory or to this file",
        lock_path,
    )


def _identity(fd: int, lock_path: str) -> FileIdentity:
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        raise AtomicOpenError(
            errno.EINVAL,
            "the lock file is not a regular file (a FIFO, socket, device or"
            " directory is at its path); remove it, and the next writer creates a"
            " regular lock file",
            lock_path,
        )
    return status.st_dev, status.st_ino


def _identity_at(directory: Directory, lock_name: str) -> FileIdentity | None:
    status = directory.lstat(lock_name)
    if status is None:
        return None
    return status.st_dev, status.st_ino


def _lock_file(fd: int, deadline: float | None, lock_path: str, target: str) -> bool:
    """Take the exclusive file lock; return ``False`` when the deadline passes."""
    try:
        if deadline is None:
            portalocker.lock(fd, portalocker.LOCK_EX)
            return True
        delay = _FIRST_POLL
        while True:
            try:
                portalocker.lock(fd, portalocker.LOCK_EX | portalocker.LOCK_NB)
            except portalocker.AlreadyLocked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _MAX_POLL)
            else:
                return True
    except portalocker.LockException as error:
        raise _lock_error(error, lock_path, target) from error


def _lock_error(error: Exception, lock_path: str, target: str) -> AtomicOpenError:
    cause = error.args[0] if error.args else error
    code = cause.errno if isinstance(cause, OSError) and cause.errno else errno.ENOLCK
    return AtomicOpenError(
        code,
        f"locking {lock_path!r} failed: {os.strerror(code)}; the file system may"
        " not support locks (NFS without lockd: mount with local_lock=flock on a"
        " single client, or pass lock=portalocker.RedisLock(...)); the target"
        " was left unchanged",
        target,
    )


def _unlock(fd: int, identity: FileIdentity, lock_path: str) -> None:
    # Unlocking before the close matters where a forked child still holds a
    # copy of the descriptor: the close alone would leave the lock held.
    try:
        portalocker.unlock(fd)
    except portalocker.LockException:
        logger.exception("cannot unlock %s; closing it releases the lock", lock_path)
    finally:
        _THREAD_LOCKS.release(identity)
        try:
            os.close(fd)
        except OSError:
            logger.exception("cannot close the lock file %s", lock_path)


# Exclusion between the threads of one process


@dataclass
class _ThreadLockEntry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    owner: int | None = None
    users: int = 0


class _ThreadLocks:
    """One :class:`threading.Lock` per lock file, by device and inode."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._entries: dict[FileIdentity, _ThreadLockEntry] = {}

    def acquire(
        self,
        identity: FileIdentity,
        deadline: float | None,
        lock_path: str,
        target: str,
    ) -> bool:
        """Take the thread lock; return ``False`` when the deadline passes.

        :raises AtomicOpenError: with ``EDEADLK`` if this thread holds it.
        """
        with self._mutex:
            entry = self._entries.setdefault(identity, _ThreadLockEntry())
            if entry.owner == threading.get_ident():
                raise AtomicOpenError(
                    errno.EDEADLK,
                    f"this thread already holds the lock {lock_path!r}, so waiting"
                    " for it would never end: commit or discard the first locked"
                    " write of this file before starting the next",
                    target,
                )
            entry.users += 1
        if deadline is None:
            acquired = entry.lock.acquire()
        else:
            acquired = entry.lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
        with self._mutex:
            if acquired:
                entry.owner = threading.get_ident()
            else:
                self._forget(identity, entry)
        return acquired

    def release(self, identity: FileIdentity) -> None:
        """Release the thread lock taken by :meth:`acquire`."""
        with self._mutex:
            entry = self._entries.get(identity)
            if entry is None or entry.owner is None:
                # A forked child that inherited a held AtomicFile: the child
                # starts with no thread locks.
                return
            entry.owner = None
            entry.lock.release()
            self._forget(identity, entry)

    def _forget(self, identity: FileIdentity, entry: _ThreadLockEntry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._entries[identity]

    def reset_after_fork(self) -> None:
        """Start over in a forked child, where no other thread exists."""
        self._mutex = threading.Lock()
        self._entries = {}


_THREAD_LOCKS = _ThreadLocks()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_THREAD_LOCKS.reset_after_fork)


# Lock objects such as portalocker.RedisLock


class ExternalLock:
    """A caller's lock object with ``acquire()`` and ``release()``.

    ``lock_timeout`` is passed as ``acquire(timeout=...)``; without it the
    object's own timeout applies. Before the rename, ``ensure_held()`` is
    called where the object has it, as :class:`portalocker.RedisLock` does, so
    that a lock lost meanwhile aborts the commit instead of overwriting
    another writer's update.
    """

    def __init__(self, lock: Any, timeout: float | None) -> None:
        self.lock = lock
        self.timeout = timeout
        self._held = False

    def __repr__(self) -> str:
        return f"ExternalLock({self.lock!r}, timeout={self.timeout!r})"

    def acquire(self, directory: Directory, name: str, target_path: str) -> None:
        """Call the object's ``acquire()``.

        :raises LockTimeout: when it raises
            :class:`portalocker.AlreadyLocked` or returns ``False``.
        """
        try:
            if self.timeout is None:
                result = self.lock.acquire()
            else:
                result = self.lock.acquire(timeout=self.timeout)
        except portalocker.AlreadyLocked as error:
            raise LockTimeout(repr(self.lock), self.timeout, target_path) from error
        except portalocker.LockException as error:
            raise _lock_error(error, repr(self.lock), target_path) from error
        if result is False:
            raise LockTimeout(repr(self.lock), self.timeout, target_path)
        self._held = True
        logger.debug("acquired %r for %s", self.lock, target_path)

    def ensure_held(self, target_path: str) -> None:
        """Raise if the object reports that it lost the lock.

        :raises AtomicOpenError: with ``ENOLCK``; the target is unchanged.
        """
        ensure_held = getattr(self.lock, "ensure_held", None)
        if not callable(ensure_held):
            return
        try:
            ensure_held()
        except portalocker.LockException as error:
            raise AtomicOpenError(
                errno.ENOLCK,
                f"the lock {self.lock!r} was lost before the rename, so another"
                f" writer may have changed the file meanwhile ({error}); the"
                " target was left unchanged: redo the whole update",
                target_path,
            ) from error

    def abandon(self) -> None:
        """Forget the lock in a forked child; the parent still holds it."""
        self._held = False

    def release(self) -> None:
        """Call the object's ``release()``, logging a failure."""
        if not self._held:
            return
        self._held = False
        try:
            self.lock.release()
        except Exception:
            logger.exception("cannot release the lock %r", self.lock)
        else:
            logger.debug("released %r", self.lock)
