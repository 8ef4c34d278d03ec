"""Checks of the file that a commit replaces, made before any temporary file exists."""

from __future__ import annotations

import errno
import os
import stat

from ._errors import AtomicOpenError, HardLinkError
from ._modes import Mode
from ._options import Options


def check_target(
    status: os.stat_result | None, mode: Mode, options: Options, path: str
) -> os.stat_result | None:
    """Check that ``mode`` may replace the file with ``status`` at ``path``.

    Returns ``status`` for an existing regular file, whose mode and owner the
    new file takes, and ``None`` for a new file or a link to replace.

    :raises FileNotFoundError: for ``"r+"`` without a file.
    :raises FileExistsError: for ``"x"`` with one.
    :raises IsADirectoryError: for a directory.
    :raises AtomicOpenError: for a FIFO, socket or device.
    :raises HardLinkError: for a file with other hard links when they are not
        allowed.
    """
    if status is None:
        if mode.kind == "r":
            raise FileNotFoundError(
                errno.ENOENT,
                "No such file; mode 'r+' edits an existing file, use 'w' to create one",
                path,
            )
        return None
    if mode.kind == "x":
        raise FileExistsError(
            errno.EEXIST, "File exists, and mode 'x' only creates files", path
        )
    if stat.S_ISREG(status.st_mode):
        if status.st_nlink > 1 and not options.allow_hard_links:
            raise HardLinkError(path, status.st_nlink)
        return status
    if stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if stat.S_ISLNK(status.st_mode):
        # Only with follow_symlinks=False: the link itself is replaced by a
        # new regular file.
        return None
    raise AtomicOpenError(
        errno.EINVAL,
        "Not a regular file: replacing a FIFO, socket or device would"
        " replace the special file itself; write to it with open()",
        path,
    )
