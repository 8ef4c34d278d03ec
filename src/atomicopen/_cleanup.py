"""Removal of the temporary files that killed writers leave behind.

A writer holds an exclusive ``flock`` on its temporary file from creation until
the rename or the discard, and the kernel drops that lock when the writer dies.
The cleanup takes the same lock without blocking before it removes a file, so
the temporary file of a live writer, however slow, is never removed. The age
limit is a second guard for file systems where ``flock`` fails (``ENOLCK`` on
an NFS mount without a lock daemon, say).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import stat
import sys
import time
from dataclasses import dataclass, field

from ._names import is_temp_name

if sys.platform != "win32":
    import fcntl

__all__ = ["DEFAULT_OLDER_THAN", "remove_stale_temp_files"]

logger = logging.getLogger(__name__)

DEFAULT_OLDER_THAN = 3600.0
"""Seconds since the last modification after which a temporary file may be
removed: an hour, far longer than any commit takes."""

_DIRECTORY_FLAGS = (
    os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
)
# O_NOFOLLOW fails with ELOOP on a symbolic link instead of opening its target,
# and O_NONBLOCK keeps open() of a FIFO from waiting for a writer.
_CANDIDATE_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


@dataclass
class CleanupResult:
    """The outcome of one cleanup of a directory.

    :ivar removed: paths of the stale temporary files removed, or that would
        be removed with ``dry_run``, sorted.
    :ivar failed: the errors that kept stale temporary files in place.
    :ivar kept: paths with temporary names that were left alone: too recent,
        held by a live writer, or not regular files.
    """

    removed: list[str] = field(default_factory=list)
    failed: list[OSError] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def remove_stale_temp_files(
    directory: str | os.PathLike[str],
    *,
    older_than: float = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
) -> list[str]:
    """Remove the temporary files that writers killed mid-write left in ``directory``.

    Only regular files whose names have the form of atomicopen's temporary
    names (``.atomicopen.<12 hex digits>.<name>``) are candidates. A candidate
    is removed when its last change, of content (mtime) or of status (ctime),
    is at least ``older_than`` seconds old and no live writer holds its lock.
    Symbolic links, FIFOs and other special files with such names, and every
    other file, are left alone.
    Subdirectories are not searched. A candidate that cannot be removed is
    logged at ERROR and skipped.

    :param directory: the directory to clean.
    :param older_than: minimum age in seconds, by the later of the
        modification and status change times; ``0``
        removes every unlocked temporary file.
    :param dry_run: only list what would be removed.
    :returns: the paths removed (or, with ``dry_run``, that would be), sorted.
    :raises TypeError: if ``older_than`` is not a number.
    :raises ValueError: if ``older_than`` is negative or not finite.
    :raises FileNotFoundError: if ``directory`` does not exist.
    :raises NotADirectoryError: if ``directory`` is not a directory.

    Example::

        for path in remove_stale_temp_files("data", older_than=600):
            print("removed", path)
    """
    return clean_directory(directory, older_than=older_than, dry_run=dry_run).removed


def clean_directory(
    directory: str | os.PathLike[str], *, older_than: float, dry_run: bool
) -> CleanupResult:
    """Remove stale temporary files and return what was removed and what failed.

    The arguments and errors are those of :func:`remove_stale_temp_files`.
    """
    limit = _check_older_than(older_than)
    path = os.fsdecode(os.fspath(directory))
    dir_fd = _open_directory(path)
    result = CleanupResult()
    try:
        now = time.time()
        for name in sorted(os.listdir(dir_fd)):
            if not is_temp_name(name):
                continue
            try:
                stale = _remove_if_stale(dir_fd, name, now - limit, dry_run)
            except OSError as error:
                failure = OSError(
                    error.errno,
                    f"cannot remove the stale temporary file: {error.strerror};"
                    " check its permissions and the file system",
                    os.path.join(path, name),
                )
                logger.error("%s", failure)
                result.failed.append(failure)
                continue
            if stale:
                result.removed.append(os.path.join(path, name))
            else:
                result.kept.append(os.path.join(path, name))
    finally:
        os.close(dir_fd)
    return result


def _check_older_than(older_than: object) -> float:
    if isinstance(older_than, bool) or not isinstance(older_than, (int, float)):
        raise TypeError(
            f"older_than must be a number of seconds such as 3600, not {older_than!r}"
        )
    if not (math.isfinite(older_than) and older_than >= 0):
        raise ValueError(
            f"invalid older_than {older_than!r}: use 0 or more seconds, such as 3600"
        )
    return float(older_than)


def _open_directory(path: str) -> int:
    try:
        return os.open(path, _DIRECTORY_FLAGS)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            errno.ENOENT,
            "Directory not found: give the directory that holds the files written"
            " with atomicopen",
            path,
        ) from error
    except NotADirectoryError as error:
        raise NotADirectoryError(
            errno.ENOTDIR,
            "Not a directory: give the directory that holds the temporary files,"
            " not a file in it",
            path,
        ) from error


def _remove_if_stale(dir_fd: int, name: str, cutoff: float, dry_run: bool) -> bool:
    """Remove ``name`` if it is an old, unlocked regular file; return whether it was.

    The file is opened without following links and locked before the name is
    checked again, so a name that another process replaced meanwhile is kept.
    """
    status = _lstat(dir_fd, name)
    if not _is_old_regular_file(name, status, cutoff):
        return False
    assert status is not None
    fd = _open_candidate(dir_fd, name)
    if fd is None:
        return False
    try:
        if not _same_regular_file(os.fstat(fd), status):
            return False
        if not _try_lock(fd, name):
            logger.debug("skipping %s: a live writer holds its lock", name)
            return False
        # The writer may have renamed its file away and a new one may have taken
        # the name between the lstat and the lock.
        if not _same_regular_file(_lstat(dir_fd, name), status):
            return False
        if not dry_run:
            os.unlink(name, dir_fd=dir_fd)
            logger.debug("removed the stale temporary file %s", name)
    finally:
        os.close(fd)
    return True


def _is_old_regular_file(
    name: str, status: os.stat_result | None, cutoff: float
) -> bool:
    if status is None or not stat.S_ISREG(status.st_mode):
        logger.debug("skipping %s: not a regular file", name)
        return False
    # ctime counts too: link() and rename() update it but not the mtime, and
    # a backup in the making is a fresh hard link to an old file.
    if max(status.st_mtime, status.st_ctime) > cutoff:
        logger.debug("skipping %s: changed within the age limit", name)
        return False
    return True


def _open_candidate(dir_fd: int, name: str) -> int | None:
    """Open ``name`` for locking, or return ``None`` if it vanished or became a link."""
    try:
        return os.open(name, _CANDIDATE_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None
        raise


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _same_regular_file(current: os.stat_result | None, seen: os.stat_result) -> bool:
    return (
        current is not None
        and stat.S_ISREG(current.st_mode)
        and (current.st_dev, current.st_ino) == (seen.st_dev, seen.st_ino)
    )


def _try_lock(fd: int, name: str) -> bool:
    """Take the writer's lock without waiting; return ``False`` if it is held."""
    if sys.platform == "win32":  # pragma: no cover - Windows keeps open files
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno not in {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP}:
            raise
        # Writers on this file system cannot lock either, so the age limit
        # is the only guard.
        logger.debug("cannot lock %s (%s); relying on its age", name, error)
    return True
