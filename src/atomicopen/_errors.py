"""Exceptions raised by atomicopen.

Every error is an :class:`OSError`, so code that already handles a failed
``open()`` handles a failed atomic write too. Each one keeps the ``errno`` and
the path it is about.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "AtomicOpenError",
    "DirectorySyncUnsupportedError",
    "DirectorySyncWarning",
    "HardLinkError",
    "InvalidJSONError",
    "LockTimeout",
    "PostCommitError",
    "ValidationError",
]


class AtomicOpenError(OSError):
    """Base class of the errors that atomicopen raises itself.

    Errors of the system calls, such as :class:`FileNotFoundError`, keep their
    own class. Catch :class:`OSError` for both.

    >>> import errno, os
    >>> from atomicopen import AtomicOpenError, atomic_write_text
    >>> os.mkfifo("pipe")
    >>> try:
    ...     atomic_write_text("pipe", "data\\n")
    ... except AtomicOpenError as error:
    ...     print(error.errno == errno.EINVAL, error.filename)
    True pipe
    """


class HardLinkError(AtomicOpenError):
    """The target has other hard links, and ``allow_hard_links=False`` was given.

    An atomic replace puts a new inode at the path, so the other names of the old
    file keep the old content.

    >>> import os
    >>> from atomicopen import HardLinkError, atomic_write_text
    >>> atomic_write_text("linked.txt", "one\\n")
    >>> os.link("linked.txt", "second-name.txt")
    >>> try:
    ...     atomic_write_text("linked.txt", "two\\n", allow_hard_links=False)
    ... except HardLinkError as error:
    ...     print(error.link_count)
    2
    """

    def __init__(self, path: str, link_count: int) -> None:
        super().__init__(
            errno.EMLINK,
            f"{path!r} has {link_count} hard links and a replace would leave the"
            " other names with the old content; pass allow_hard_links=True to"
            " replace it anyway, or write through the file in place",
            path,
        )
        self.link_count = link_count


class PostCommitError(AtomicOpenError):
    """A step after the rename failed: the new content is already live at the path.

    Do not retry the write because of this error. The rename may not be durable
    yet, so it may not survive a power loss. ``errno`` is the failed step's, or
    ``None`` when that step raised something other than an :class:`OSError`.

    >>> from atomicopen import PostCommitError, atomic_write_text
    >>> class Notify:
    ...     def after_replace(self, context):
    ...         raise ConnectionError("the cache server is down")
    >>> try:
    ...     atomic_write_text("live.txt", "new\\n", hooks=[Notify()])
    ... except PostCommitError as error:
    ...     print(open(error.filename).read(), end="")
    new
    """

    def __init__(self, message: str, path: str, code: int | None = None) -> None:
        super().__init__(code, message, path)

    def __str__(self) -> str:
        # OSError would print "[Errno None] ..." for a step that raised
        # something other than an OSError; the message names the path already.
        if self.errno is None:
            return str(self.strerror)
        return super().__str__()


class LockTimeout(AtomicOpenError, TimeoutError):
    """The lock was not acquired within ``lock_timeout`` seconds.

    Nothing was written: no temporary file exists and the target is unchanged.

    :ivar lock: the lock file's path, or the ``repr`` of a lock object.
    :ivar timeout: the seconds waited, or ``None`` when a lock object's own
        timeout expired.
    """

    def __init__(self, lock: str, timeout: float | None, path: str | None) -> None:
        waited = "its own timeout" if timeout is None else f"{timeout:g} s"
        super().__init__(
            errno.ETIMEDOUT,
            f"timed out after {waited} waiting for the lock {lock}, which another"
            " writer holds; nothing was written: retry later or give a longer"
            " lock_timeout (--lock-timeout on the command line)",
            path,
        )
        self.lock = lock
        self.timeout = timeout

    def __reduce__(self) -> tuple[type[LockTimeout], tuple[str, float | None, str]]:
        return type(self), (self.lock, self.timeout, self.filename)


class InvalidJSONError(AtomicOpenError, ValueError):
    """The file to update exists but does not hold valid JSON; it was left as is.

    :ivar reason: what the decoder reported, with the line and column.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            errno.EINVAL,
            f"not valid JSON ({reason}); the file was left unchanged: fix it,"
            " or move it away to start from the default document",
            path,
        )
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidJSONError], tuple[str, str]]:
        return type(self), (self.filename, self.reason)


class DirectorySyncUnsupportedError(PostCommitError):
    """The file system rejected fsync of a directory with ``EINVAL``.

    Some network and shared-folder file systems do this. The new content is live,
    but nothing guarantees that the rename survives a power loss.

    >>> import logging
    >>> from atomicopen import DirectorySyncUnsupportedError, atomic_write_text
    >>> def save(path, text):
    ...     try:
    ...         atomic_write_text(path, text)
    ...     except DirectorySyncUnsupportedError:
    ...         logging.warning("%s is live but may not survive a power loss", path)
    >>> save("notes.txt", "hello\\n")
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message, path, errno.EINVAL)


class ValidationError(AtomicOpenError, ValueError):
    """The new content failed validation, so the commit was aborted.

    The target is unchanged and the temporary file is removed. ``filename`` is
    the target's path, and ``__cause__`` is the parser's or validator's error.
    """

    def __init__(self, message: str, path: str) -> None:
        super().__init__(errno.EINVAL, message, path)


class DirectorySyncWarning(UserWarning):
    """Issued instead of :class:`DirectorySyncUnsupportedError` when
    ``on_dir_sync_unsupported="warn"``.

    >>> import warnings
    >>> from atomicopen import DirectorySyncWarning, atomic_write_text
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DirectorySyncWarning)
    ...     atomic_write_text("share.txt", "x\\n", on_dir_sync_unsupported="warn")
    """


def annotate(error: OSError, doing: str, path: str, consequence: str) -> OSError:
    """Build an error of the same class and errno that names the step that failed.

    :param error: the error raised by the system call.
    :param doing: the step, such as ``"fsync of the temporary file"``.
    :param path: the target path, stored as the new error's ``filename``.
    :param consequence: what the failure means for the target.
    """
    reason = error.strerror or str(error)
    if error.filename is not None and os.fspath(error.filename) != os.fspath(path):
        # The failed call was about another file, such as an older backup, or
        # for a rename about two: the source and the destination.
        names = repr(os.fsdecode(error.filename))
        if error.filename2 is not None:
            names += f" -> {os.fsdecode(error.filename2)!r}"
        reason = f"{reason} ({names})"
    message = f"{doing} failed: {reason}; {consequence}"
    if error.errno is None:
        return type(error)(message)
    return OSError(error.errno, message, os.fspath(path))
