"""Commit hooks: steps that run at fixed points of every commit.

A commit runs three stages, in this order:

1. ``validate``: after the caller's data is flushed to the temporary file and
   before any fsync. The hook sees exactly the bytes that will be committed,
   through :attr:`CommitContext.temp_path` or :attr:`CommitContext.fd`.
   Raising aborts the commit.
2. ``before_replace``: after the temporary file is synced and before it is
   renamed over the target. Raising aborts the commit.
3. ``after_replace``: after the rename and the directory fsync. The new content
   is live by then, so an exception here is raised as
   :class:`~atomicopen.PostCommitError`.

An aborted commit leaves the target untouched, removes the temporary file and
re-raises the hook's exception.

The fsync steps are hooks too: ``durability`` selects :class:`FileSync` (first
in ``before_replace``) and :class:`DirectorySync` (first in ``after_replace``).
A caller who wants another policy passes ``durability="none"`` and hooks of
its own.
"""

from __future__ import annotations

import errno
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._errors import DirectorySyncUnsupportedError, DirectorySyncWarning, annotate
from ._sync import full_fsync

if TYPE_CHECKING:
    from ._directory import Directory

__all__ = ["CommitContext", "CommitHook", "DirectorySync", "FileSync"]

logger = logging.getLogger(__name__)

STAGES = ("validate", "before_replace", "after_replace")


@dataclass(frozen=True)
class CommitContext:
    """What a hook may use during one commit.

    :ivar path: the path that the commit replaces, after following symbolic
        links when ``follow_symlinks=True``.
    :ivar temp_path: the temporary file's path, in the same directory.
    :ivar fd: a descriptor of the temporary file, open for reading and
        writing. It stays open until the end of ``before_replace``, and a hook
        must not close it.
    :ivar dir_fd: the descriptor of the directory, or ``None`` on Windows.
    :ivar name: the target's name in that directory.
    :ivar temp_name: the temporary file's name in that directory.
    """

    path: str
    temp_path: str
    fd: int
    dir_fd: int | None
    name: str
    temp_name: str
    directory: Directory


@runtime_checkable
class CommitHook(Protocol):
    """A step that runs at fixed stages of a commit.

    Subclass it and override the stages you need; the others do nothing. An
    object with any of the three methods works too, without subclassing.

    Example::

        class RejectEmpty(CommitHook):
            def validate(self, context: CommitContext) -> None:
                if os.fstat(context.fd).st_size == 0:
                    raise ValueError(f"refusing to commit an empty {context.path}")
    """

    def validate(self, context: CommitContext) -> None:
        """Check the temporary file's content; raise to abort the commit."""
        return

    def before_replace(self, context: CommitContext) -> None:
        """Run after the temporary file is synced and before the rename."""
        return

    def after_replace(self, context: CommitContext) -> None:
        """Run after the rename and the directory fsync."""
        return


class FileSync(CommitHook):
    """Flush the temporary file to stable storage before the rename.

    A failed fsync is raised and never retried, because the kernel may already
    have dropped the data it could not write.

    ``durability="file"`` and ``"full"`` add it for you. With your own hooks,
    put it where the file must be synced:

    >>> from atomicopen import atomic_write_text
    >>> from atomicopen.hooks import FileSync
    >>> atomic_write_text("synced.txt", "x\\n", durability="none", hooks=[FileSync()])
    """

    def before_replace(self, context: CommitContext) -> None:
        """Fsync the temporary file."""
        try:
            full_fsync(context.fd)
        except OSError as error:
            raise annotate(
                error,
                f"fsync of the temporary file {context.temp_path!r}",
                context.path,
                f"{context.path!r} was left unchanged",
            ) from error
        logger.debug("synced %s", context.temp_path)

    def __repr__(self) -> str:
        return "FileSync()"


class DirectorySync(CommitHook):
    """Flush the directory after the rename, so that the rename survives a power loss.

    Some network and shared-folder file systems reject fsync of a directory with
    ``EINVAL``. The new content is live by then, so this hook raises
    :class:`~atomicopen.DirectorySyncUnsupportedError`, or with
    ``on_unsupported="warn"`` issues :class:`~atomicopen.DirectorySyncWarning`
    and returns. Any other failure, such as ``EIO``, propagates.

    :param on_unsupported: ``"raise"`` or ``"warn"``.

    ``durability="full"`` adds it, with ``on_dir_sync_unsupported`` as
    ``on_unsupported``. Built by hand:

    >>> from atomicopen import atomic_write_text
    >>> from atomicopen.hooks import DirectorySync, FileSync
    >>> hooks = [FileSync(), DirectorySync(on_unsupported="warn")]
    >>> atomic_write_text("durable.txt", "x\\n", durability="none", hooks=hooks)
    """

    def __init__(self, on_unsupported: str = "raise") -> None:
        if on_unsupported not in {"raise", "warn"}:
            raise ValueError(
                f"invalid on_unsupported value {on_unsupported!r}: use 'raise' or"
                " 'warn'"
            )
        self.on_unsupported = on_unsupported

    def after_replace(self, context: CommitContext) -> None:
        """Fsync the directory that contains the target."""
        try:
            context.directory.fsync()
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            message = (
                f"{context.path!r} has the new content, but its directory"
                f" {context.directory.path!r} rejected fsync with EINVAL, as some"
                " network and shared-folder file systems do, so the rename may not"
                " survive a power loss; do not retry the write"
            )
            if self.on_unsupported == "raise":
                raise DirectorySyncUnsupportedError(message, context.path) from error
            warnings.warn(message, DirectorySyncWarning, stacklevel=2)
            return
        logger.debug("synced directory %s", context.directory.path)

    def __repr__(self) -> str:
        return f"DirectorySync(on_unsupported={self.on_unsupported!r})"
