"""The directory that a commit happens in, and the system calls made in it.

On POSIX systems the directory is opened once, and every later step works
relative to that descriptor (``dir_fd``), so renaming the directory while the
caller writes cannot redirect the commit. Windows has no ``dir_fd``, so there
the steps use paths.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import stat
import sys
import time

from ._sync import full_fsync

logger = logging.getLogger(__name__)

WINDOWS = sys.platform == "win32"

# Linux follows at most 40 symbolic links while resolving a path.
MAX_SYMLINK_HOPS = 40

_OPEN_DIRECTORY_FLAGS = (
    os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
)

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# Errors with which renameat2() reports that the kernel or the file system lacks
# RENAME_NOREPLACE, as opposed to a failure of the rename itself.
_NOREPLACE_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.ENOTSUP})
# Errors with which link() reports that the file system has no hard links.
_LINK_UNSUPPORTED = frozenset(
    {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)


def resolve_target(path: str, follow_symlinks: bool) -> tuple[str, str]:
    """Split ``path`` into the directory and the name that a commit replaces.

    With ``follow_symlinks`` the chain of symbolic links at the final component
    is followed, relative links from the directory of each link, so the commit
    replaces the file that the links point to and the links survive. A dangling
    link resolves to its missing destination, which the commit then creates,
    as :func:`open` would.

    :raises OSError: with ``ELOOP`` after more than 40 links.
    :raises IsADirectoryError: if ``path`` names a directory by its form.
    """
    current = path
    if follow_symlinks:
        for _ in range(MAX_SYMLINK_HOPS + 1):
            try:
                is_link = stat.S_ISLNK(os.lstat(current).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                break
            if not is_link:
                break
            current = os.path.join(os.path.dirname(current), os.readlink(current))
        else:
            raise OSError(
                errno.ELOOP,
                "Too many levels of symbolic links: the link chain loops or is"
                f" longer than {MAX_SYMLINK_HOPS}; fix the links, or pass"
                " follow_symlinks=False (--no-follow-symlinks on the command line)"
                " to replace the link itself",
                path,
            )
    if WINDOWS:  # pragma: no cover - drives and two separators
        directory, name = os.path.split(current)
    else:
        cut = current.rfind("/") + 1
        # Trailing slashes go, unless the directory is nothing but slashes.
        directory, name = current[:cut].rstrip("/") or current[:cut], current[cut:]
    if name in {"", ".", ".."}:
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    return directory, name


class Directory:
    """An open directory in which a temporary file is created and renamed.

    :ivar path: the directory's path, for messages and for Windows; ``""``
        for the current directory, so that joined paths stay as given.
    :ivar fd: the directory's descriptor, or ``None`` on Windows.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None
        # What join() puts before a name: on POSIX os.path.join() of a
        # directory and a bare name is this concatenation.
        self._prefix = path if not path or path.endswith(os.sep) else path + os.sep
        if WINDOWS:  # pragma: no cover - Windows only
            if not os.path.isdir(path or os.curdir):
                raise FileNotFoundError(
                    errno.ENOENT, "Directory not found; create it first", path
                )
            return
        try:
            self.fd = os.open(path or os.curdir, _OPEN_DIRECTORY_FLAGS)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                errno.ENOENT, "Parent directory not found; create it first", path
            ) from error
        except NotADirectoryError as error:
            raise NotADirectoryError(
                errno.ENOTDIR, "Parent path is not a directory", path
            ) from error

    def join(self, name: str) -> str:
        """Return the path of ``name`` in this directory."""
        if WINDOWS:  # pragma: no cover - drives such as "C:" join differently
            return os.path.join(self.path, name)
        return self._prefix + name

    def _at(self, name: str) -> str:
        return name if self.fd is not None else self.join(name)

    def lstat(self, name: str) -> os.stat_result | None:
        """Return the status of ``name`` without following a link, or ``None``."""
        try:
            # _at() written out here and in open(): every commit calls both.
            at = name if self.fd is not None else self.join(name)
            return os.stat(at, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def open(self, name: str, flags: int, mode: int) -> int:
        """Open ``name`` in this directory and return the descriptor."""
        at = name if self.fd is not None else self.join(name)
        return os.open(at, flags, mode, dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        """Remove ``name`` from this directory."""
        os.unlink(self._at(name), dir_fd=self.fd)

    def replace(self, source: str, target: str, *, retry_timeout: float) -> None:
        """Rename ``source`` over ``target``, replacing it if it exists.

        On Windows a rename fails with :class:`PermissionError` while another
        program, typically an antivirus scanner or an indexer, has the target
        open. There the rename is retried with exponential backoff for up to
        ``retry_timeout`` seconds.
        """
        if WINDOWS:
            self._replace_with_retry(source, target, retry_timeout)
            return
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def _replace_with_retry(self, source: str, target: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.001
        attempt = 1
        while True:
            try:
                os.replace(self.join(source), self.join(target))
            except PermissionError as error:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                delay = min(delay * 2, remaining, 0.5)
                logger.warning(
                    "replace of %s failed on attempt %d (%s); retrying in %.3f s",
                    self.join(target),
                    attempt,
                    error,
                    delay,
                )
                time.sleep(delay)
                attempt += 1
            else:
                return

    def rename_noreplace(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target`` only if ``target`` does not exist.

        Uses ``renameat2(RENAME_NOREPLACE)`` where the kernel and the file system
        have it, otherwise ``link()`` followed by ``unlink()``.

        :raises FileExistsError: if ``target`` exists.
        :raises OSError: with ``ENOTSUP`` if the file system has neither.
        """
        if self.fd is not None and _renameat2 is not None:
            result = _renameat2(
                self.fd,
                os.fsencode(source),
                self.fd,
                os.fsencode(target),
                RENAME_NOREPLACE,
            )
            if result == 0:
                return
            code = ctypes.get_errno()
            if code not in _NOREPLACE_UNSUPPORTED:
                raise OSError(code, os.strerror(code), self.join(target))
            logger.debug(
                "renameat2(RENAME_NOREPLACE) unsupported here: %s", os.strerror(code)
            )
        self._link_then_unlink(source, target)

    def link(self, source: str, target: str) -> None:
        """Create ``target`` as another hard link to ``source``, not following links.

        :raises FileExistsError: if ``target`` exists.
        """
        os.link(
            self._at(source),
            self._at(target),
            src_dir_fd=self.fd,
            dst_dir_fd=self.fd,
            follow_symlinks=False,
        )

    def exchange(self, first: str, second: str) -> bool:
        """Swap ``first`` and ``second`` atomically with ``RENAME_EXCHANGE``.

        Returns ``False``, changing nothing, where the kernel or the file system
        lacks ``renameat2(RENAME_EXCHANGE)`` (Linux before 3.15, non-Linux
        systems, some network file systems).

        :raises OSError: if the swap itself failed, such as for a missing name.
        """
        if self.fd is None or _renameat2 is None:
            return False
        result = _renameat2(
            self.fd, os.fsencode(first), self.fd, os.fsencode(second), RENAME_EXCHANGE
        )
        if result == 0:
            return True
        code = ctypes.get_errno()
        if code in _NOREPLACE_UNSUPPORTED:
            logger.debug(
                "renameat2(RENAME_EXCHANGE) unsupported: %s", os.strerror(code)
            )
            return False
        raise OSError(code, os.strerror(code), self.join(second))

    def _link_then_unlink(self, source: str, target: str) -> None:
        try:
            self.link(source, target)
        except OSError as error:
            if error.errno not in _LINK_UNSUPPORTED:
                raise
            raise OSError(
                errno.ENOTSUP,
                "cannot create the file without the risk of replacing one that"
                " another process created meanwhile: this file system supports"
                " neither renameat2(RENAME_NOREPLACE) nor hard links; use mode 'w'"
                " to replace unconditionally",
                self.join(target),
            ) from error
        # The link was the commit: the target exists with the new content, so
        # a failure to remove the temporary name must not be reported as a
        # failed commit. A cleanup removes the leftover name later.
        try:
            self.unlink(source)
        except OSError:
            logger.exception(
                "%s has the new content, but its temporary name %s could not be"
                " removed",
                self.join(target),
                self.join(source),
            )

    def fsync(self) -> None:
        """Flush the directory's entries to stable storage; nothing on Windows."""
        if self.fd is not None:
            full_fsync(self.fd)

    def close(self) -> None:
        """Close the directory's descriptor; a second call does nothing."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


def _load_renameat2() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):  # glibc before 2.28, or musl before 1.2.4
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_renameat2 = _load_renameat2()
