"""Numbered backups ``<name>.1`` (newest) to ``<name>.N``: rotation and restore.

Every step is a rename or a hard link inside one directory, ordered so that a
crash at any point leaves each earlier version under one of the backup names
or at the target itself:

1. The backups shift up by one, oldest first, by renames: ``.N-1`` replaces
   ``.N`` (the oldest version rotates out), then ``.N-2`` becomes ``.N-1``,
   and so on. The shift stops at the first missing index, so a gap that an
   earlier crash left is filled instead of dropping the oldest backup.
2. The current target is hard-linked to a temporary name, which is renamed to
   ``.1``. The link shares the inode, so there is no copy and no moment when
   the content exists only half-written, and the backup keeps the file's mode,
   owner and group. Where the file system rejects hard links, the content is
   copied instead.
3. The directory is synced, so that the backup is on disk before the commit's
   rename over the target.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from ._checksum import rewrite_existing_checksums
from ._copy import copy_content
from ._directory import _LINK_UNSUPPORTED, Directory, resolve_target
from ._errors import AtomicOpenError
from ._locking import LOCK_SUFFIX, make_lock_request
from ._names import make_temp_name
from ._sync import full_fsync
from ._tempfile import apply_metadata, create_temp, initial_mode

__all__ = ["backup_name", "make_backup", "restore_backup"]

logger = logging.getLogger(__name__)

_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_LINK_ATTEMPTS = 10


def backup_name(name: str, index: int) -> str:
    """Return the name of backup ``index`` of ``name``, such as ``config.json.1``."""
    return f"{name}.{index}"


def check_keep(keep: object) -> int:
    """Check the number of backups to keep.

    :raises TypeError: if ``keep`` is not an int.
    :raises ValueError: if ``keep`` is less than 1.
    """
    if isinstance(keep, bool) or not isinstance(keep, int):
        raise TypeError(f"the number of backups must be an int such as 3, not {keep!r}")
    if keep < 1:
        raise ValueError(
            f"invalid number of backups {keep!r}: keep 1 or more, or pass"
            " backups=0 for none"
        )
    return keep


def make_backup(directory: Directory, name: str, keep: int, *, sync: bool) -> None:
    """Rotate the backups of ``name`` and make its current content ``.1``.

    Does nothing if ``name`` does not exist yet.

    :param sync: fsync a copied backup and the directory, so that the backup
        is durable before the commit's rename.
    """
    status = directory.lstat(name)
    if status is None:
        logger.debug("no backup of %s: it does not exist yet", directory.join(name))
        return
    _shift(directory, name, keep)
    temp_name = _snapshot(directory, name, status, sync=sync)
    directory.replace(temp_name, backup_name(name, 1), retry_timeout=1.0)
    logger.debug("backed up %s as %s", name, backup_name(name, 1))
    if sync:
        directory.fsync()


def _shift(directory: Directory, name: str, keep: int) -> None:
    """Rename ``.i`` to ``.i+1``, from the first missing index (or ``.N``) down."""
    gap = keep
    for index in range(1, keep + 1):
        if directory.lstat(backup_name(name, index)) is None:
            gap = index
            break
    for index in range(gap - 1, 0, -1):
        source, target = backup_name(name, index), backup_name(name, index + 1)
        directory.replace(source, target, retry_timeout=1.0)
        logger.debug("rotated %s to %s", source, target)


def _snapshot(
    directory: Directory, name: str, status: os.stat_result, *, sync: bool
) -> str:
    """Give the current content of ``name`` a new temporary name and return it."""
    for _ in range(_LINK_ATTEMPTS):
        temp_name = make_temp_name(backup_name(name, 1))
        try:
            directory.link(name, temp_name)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in _LINK_UNSUPPORTED:
                raise
            logger.debug("hard links rejected (%s); copying %s instead", error, name)
            return _copy_to_temp(directory, name, status, sync=sync)
        return temp_name
    raise FileExistsError(
        errno.EEXIST,
        f"no free temporary name in {_LINK_ATTEMPTS} attempts; remove stale"
        " temporary files with 'atomicopen clean'",
        directory.join(name),
    )


def _copy_to_temp(
    directory: Directory, name: str, status: os.stat_result, *, sync: bool
) -> str:
    """Copy ``name`` into a new temporary file with its owner, group and mode."""
    path = directory.join(name)
    if not stat.S_ISREG(status.st_mode):
        raise AtomicOpenError(
            errno.EINVAL,
            "cannot back up a file that is not a regular file where the file"
            " system rejects hard links; pass backups=0",
            path,
        )
    fd, temp_name = create_temp(
        directory, backup_name(name, 1), initial_mode(status, None), path
    )
    try:
        apply_metadata(fd, status, None, path)
        source_fd = directory.open(name, _READ_FLAGS, 0)
        try:
            copy_content(source_fd, fd)
        finally:
            os.close(source_fd)
        if sync:
            full_fsync(fd)
    except BaseException:
        directory.unlink(temp_name)
        raise
    finally:
        os.close(fd)
    return temp_name


def restore_backup(
    path: str | os.PathLike[str],
    index: int = 1,
    *,
    lock: object = None,
    lock_timeout: float | None = None,
) -> None:
    """Put backup ``index`` of ``path`` back as the live file, atomically.

    The current file takes the backup's place, so a second call with the same
    index undoes the first. Where the kernel swaps the two names atomically
    (``renameat2(RENAME_EXCHANGE)`` on Linux), readers see one version or the
    other at every moment, and a crash leaves both. If ``path`` itself is
    missing, the backup's content is copied there and the backup is kept. A
    checksum file written by :class:`~atomicopen.hooks.Checksum` is updated.

    :param path: the live file, such as ``"config.json"``.
    :param index: ``1`` for the newest backup, ``"<path>.1"``.
    :param lock: ``None`` takes the sidecar lock ``<path>.lock`` only where
        that file exists, as writers with ``lock=True`` leave it, so that a
        restore never lands in the middle of their read-modify-write. ``True``
        always takes it, ``False`` never does, and a lock object is used as
        with :func:`~atomicopen.atomic_open`.
    :param lock_timeout: seconds to wait for the lock; ``None`` waits as long
        as it takes. Giving it with ``lock=None`` takes the lock.
    :raises FileNotFoundError: if the backup does not exist.
    :raises ValueError: if ``index`` is less than 1.
    :raises LockTimeout: if the lock was not acquired in time.

    Example::

        restore_backup("config.json")  # config.json.1 becomes config.json
    """
    check_index(index)
    directory_path, name = resolve_target(os.fspath(path), follow_symlinks=True)
    directory = Directory(directory_path)
    try:
        if lock is None:
            lock = lock_timeout is not None or (
                directory.lstat(name + LOCK_SUFFIX) is not None
            )
        request = make_lock_request(lock, lock_timeout)
        if request is not None:
            request.acquire(directory, name, directory.join(name))
        try:
            _restore(directory, name, backup_name(name, index))
            directory.fsync()
        finally:
            if request is not None:
                request.release()
    finally:
        directory.close()
    logger.debug("restored %s from backup %d", os.fspath(path), index)


def check_index(index: object) -> None:
    """Check a backup index for :func:`restore_backup`."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"the backup index must be an int such as 1, not {index!r}")
    if index < 1:
        raise ValueError(
            f"invalid backup index {index!r}: use 1 for the newest backup, 2 for"
            " the one before, and so on"
        )


def _restore(directory: Directory, name: str, backup: str) -> None:
    backup_status = directory.lstat(backup)
    if backup_status is None:
        raise FileNotFoundError(
            errno.ENOENT,
            "No such backup; list the backups with 'ls' and pass the index of an"
            " existing one",
            directory.join(backup),
        )
    if not stat.S_ISREG(backup_status.st_mode):
        raise AtomicOpenError(
            errno.EINVAL,
            "The backup is not a regular file; restore it by hand",
            directory.join(backup),
        )
    if directory.lstat(name) is None:
        temp_name = _copy_to_temp(directory, backup, backup_status, sync=True)
        directory.replace(temp_name, name, retry_timeout=1.0)
    elif not directory.exchange(name, backup):
        _swap_by_renames(directory, name, backup)
    rewrite_existing_checksums(directory, name)


def _swap_by_renames(directory: Directory, name: str, backup: str) -> None:
    """Swap ``name`` and ``backup`` where the kernel cannot exchange them."""
    status = directory.lstat(name)
    assert status is not None
    # NOTE: between the second and the third step the previous live content
    # exists only under the hidden temporary name, so a crash there leaves it as
    # .atomicopen.<hex>.<name>.1 instead of at the backup's name.
    temp_name = _snapshot(directory, name, status, sync=True)
    directory.replace(backup, name, retry_timeout=1.0)
    directory.replace(temp_name, backup, retry_timeout=1.0)
