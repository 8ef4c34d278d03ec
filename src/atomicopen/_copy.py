"""Copying the current content into a temporary file, for modes "a" and "r+"."""

from __future__ import annotations

import errno
import logging
import os
import sys

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger(__name__)

# ioctl FICLONE from linux/fs.h: share the source's blocks copy-on-write, on
# Btrfs, XFS with reflink and bcachefs. Elsewhere it fails, and the bytes are
# copied. copy_file_range() then lets the kernel copy, or reflink on NFS 4.2 and
# some others, without passing the data through this process.
_FICLONE = 0x40049409
_CHUNK = 1 << 20
_UNSUPPORTED = frozenset(
    {
        errno.EXDEV,
        errno.ENOSYS,
        errno.EINVAL,
        errno.ENOTSUP,
        errno.EOPNOTSUPP,
        errno.ENOTTY,
        errno.EBADF,
        errno.EPERM,
    }
)


def copy_content(source_fd: int, target_fd: int) -> None:
    """Copy all of ``source_fd``'s content into the empty ``target_fd``.

    Both offsets are left at the end of what was copied, or where they were
    after a clone.
    """
    if (
        fcntl is not None
        and sys.platform.startswith("linux")
        and _try_clone(source_fd, target_fd)
    ):
        return
    if hasattr(os, "copy_file_range") and _try_copy_file_range(source_fd, target_fd):
        return
    while chunk := os.read(source_fd, _CHUNK):
        view = memoryview(chunk)
        while view:
            written = os.write(target_fd, view)
            view = view[written:]


def _try_clone(source_fd: int, target_fd: int) -> bool:
    try:
        fcntl.ioctl(target_fd, _FICLONE, source_fd)
    except OSError as error:
        if error.errno not in _UNSUPPORTED:
            raise
        return False
    logger.debug("cloned the current content copy-on-write")
    return True


def _try_copy_file_range(source_fd: int, target_fd: int) -> bool:
    copied = 0
    try:
        while count := os.copy_file_range(source_fd, target_fd, _CHUNK):
            copied += count
    except OSError as error:
        # Nothing was written when the first call fails, so a plain copy can
        # start from the same offsets.
        if copied or error.errno not in _UNSUPPORTED:
            raise
        return False
    return True
