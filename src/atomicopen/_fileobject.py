"""The buffered file object that a caller writes the new content through."""

from __future__ import annotations

import io
import os
import sys
from typing import IO, Any

from ._modes import Mode
from ._options import Options

# Up to Python 3.13, open() sizes the default buffer by FileIO._blksize, which
# _build_file_object() copies. NOTE: 3.14 changed how open() sizes it, so
# there the file object comes from open() itself until the copy follows.
_BUILD_FILE_OBJECTS = sys.version_info < (3, 14)


def open_file_object(fd: int, mode: Mode, options: Options, name: str) -> IO[Any]:
    """Return a buffered file object on a duplicate of ``fd``, as :func:`open` would.

    :param name: the ``name`` attribute of the file object.
    """
    # The file object owns a duplicate of the locked descriptor. Closing it
    # before the rename reports the errors that a file system such as NFS
    # only reports at close(), while the original keeps the flock until
    # after the rename.
    file_fd = os.dup(fd)
    if options.buffering == -1 and _BUILD_FILE_OBJECTS:
        return _build_file_object(file_fd, mode, options, name)
    try:
        file_object = open(  # noqa: SIM115 - closed by commit() or discard()
            file_fd,
            mode.file_object_mode,
            buffering=options.buffering,
            encoding=options.encoding,
            errors=options.errors,
            newline=options.newline,
        )
    except BaseException:
        os.close(file_fd)
        raise
    raw: Any = file_object
    while not isinstance(raw, io.FileIO):
        raw = raw.buffer if isinstance(raw, io.TextIOWrapper) else raw.raw
    raw.name = name
    return file_object


def _build_file_object(
    file_fd: int, mode: Mode, options: Options, name: str
) -> IO[Any]:
    """Stack the layers that open() would, for the default buffering.

    open() calls isatty() on the descriptor, an ioctl, to choose line
    buffering; a new regular file is never a terminal, so the layers are
    built here without that system call, with the same buffer size.
    """
    try:
        raw = io.FileIO(file_fd, mode.raw_mode)
    except BaseException:
        os.close(file_fd)
        raise
    # From here on, closing raw closes file_fd.
    try:
        raw.name = name
        buffer_class = io.BufferedRandom if mode.readable else io.BufferedWriter
        buffer = buffer_class(raw, raw._blksize)  # type: ignore[attr-defined]
        if mode.binary:
            return buffer
        text = io.TextIOWrapper(
            buffer,
            encoding=options.encoding,
            errors=options.errors,
            newline=options.newline,
        )
        text.mode = mode.file_object_mode  # type: ignore[misc]
    except BaseException:
        raw.close()
        raise
    return text
