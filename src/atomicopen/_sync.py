"""fsync of files and directories, with the platform's strongest flush."""

from __future__ import annotations

import errno
import logging
import os
import sys

logger = logging.getLogger(__name__)

# macOS fsync() only hands data to the drive, which may keep it in a volatile
# cache. F_FULLFSYNC asks the drive to flush that cache too. Some volumes, such
# as network shares and some external drives, reject it with one of these.
_FULLFSYNC_UNSUPPORTED = frozenset({errno.ENOTSUP, errno.EINVAL, errno.ENOTTY})
if sys.platform != "win32":
    import fcntl

_F_FULLFSYNC: int | None = None
if sys.platform == "darwin":  # pragma: no cover - no macOS machine in CI
    _F_FULLFSYNC = getattr(fcntl, "F_FULLFSYNC", None)


def full_fsync(fd: int) -> None:
    """Flush ``fd``'s data and metadata to stable storage.

    Uses ``F_FULLFSYNC`` on macOS, and ``fsync`` where the volume rejects it or
    elsewhere. A failure is raised and never retried: after a failed fsync
    the kernel may already have dropped the dirty pages, so a second fsync can
    succeed without the data.
    """
    if _F_FULLFSYNC is not None:  # pragma: no cover - macOS only
        try:
            fcntl.fcntl(fd, _F_FULLFSYNC)
        except OSError as error:
            if error.errno not in _FULLFSYNC_UNSUPPORTED:
                raise
            logger.debug("F_FULLFSYNC rejected (%s); using fsync", error)
        else:
            return
    os.fsync(fd)
