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

Built-in hooks for the other stages: :class:`Validate` (what ``validate=``
adds), :class:`Backups` (what ``backups=`` adds) and :class:`Checksum`.
Within a stage, hooks run in this order: the ``durability`` hooks, then
``validate=``, then ``backups=``, then the ``hooks=`` argument in its order.
"""

from __future__ import annotations

import errno
import logging
import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._backups import backup_name, check_keep, make_backup
from ._checksum import check_algorithm, checksum_name, write_checksum
from ._errors import (
    DirectorySyncUnsupportedError,
    DirectorySyncWarning,
    ValidationError,
    annotate,
)
from ._sync import full_fsync
from ._tempfile import check_name_fits
from ._validators import Validator, load_validator

if TYPE_CHECKING:
    from ._directory import Directory

__all__ = [
    "Backups",
    "Checksum",
    "CommitContext",
    "CommitHook",
    "DirectorySync",
    "FileSync",
    "Validate",
]

logger = logging.getLogger(__name__)

STAGES = ("validate", "before_replace", "after_replace")

# What DirectorySync does when the file system rejects a directory fsync.
ON_UNSUPPORTED_CHOICES = frozenset({"raise", "warn"})


@dataclass(frozen=True, init=False)
class CommitContext:
    """What a hook may use during one commit.

    :ivar path: the path that the commit replaces, after following symbolic
        links when ``follow_symlinks=True``.
    :ivar temp_path: the temporary file's path, in the same directory.
    :ivar fd: a descriptor of the temporary file, open for reading and
        writing. It stays open until the end of ``after_replace``, where it
        refers to the committed file, and a hook must not close it. Its offset
        is shared with the caller's file object, so read it with
        :func:`os.pread`.
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

    def __init__(  # noqa: PLR0917 - the fields of a dataclass, as before
        self,
        path: str,
        temp_path: str,
        fd: int,
        dir_fd: int | None,
        name: str,
        temp_name: str,
        directory: Directory,
    ) -> None:
        # Every commit builds one. A single update of the instance dictionary
        # takes about two thirds of the time of the generated frozen
        # __init__, which calls object.__setattr__() once for each field.
        self.__dict__.update(
            path=path,
            temp_path=temp_path,
            fd=fd,
            dir_fd=dir_fd,
            name=name,
            temp_name=temp_name,
            directory=directory,
        )


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
        sync_temp_file(context.fd, context.temp_path, context.path)

    def __repr__(self) -> str:
        return "FileSync()"


def sync_temp_file(fd: int, temp_path: str, path: str) -> None:
    """Fsync the temporary file ``fd`` at ``temp_path``, which will replace ``path``.

    :meth:`FileSync.before_replace` calls it, and so does a commit that has
    no other hooks and therefore builds no :class:`CommitContext`.
    """
    try:
        full_fsync(fd)
    except OSError as error:
        raise annotate(
            error,
            f"fsync of the temporary file {temp_path!r}",
            path,
            "the target was left unchanged",
        ) from error


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
        if on_unsupported not in ON_UNSUPPORTED_CHOICES:
            raise ValueError(
                f"invalid on_unsupported value {on_unsupported!r}: use 'raise' or"
                " 'warn'"
            )
        self.on_unsupported = on_unsupported

    def after_replace(self, context: CommitContext) -> None:
        """Fsync the directory that contains the target."""
        self.sync_directory(context.directory, context.path)

    def sync_directory(self, directory: Directory, path: str) -> None:
        """Fsync ``directory``, where ``path`` was just replaced.

        This is the work of :meth:`after_replace`, for callers without a
        :class:`CommitContext`.
        """
        try:
            directory.fsync()
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            message = (
                f"{path!r} has the new content, but its directory"
                f" {directory.path!r} rejected fsync with EINVAL, as some"
                " network and shared-folder file systems do, so the rename may not"
                " survive a power loss; do not retry the write"
            )
            if self.on_unsupported == "raise":
                raise DirectorySyncUnsupportedError(message, path) from error
            warnings.warn(message, DirectorySyncWarning, stacklevel=2)
            return

    def __repr__(self) -> str:
        return f"DirectorySync(on_unsupported={self.on_unsupported!r})"


class Validate(CommitHook):
    """Check the new content before it is synced; reject it to abort the commit.

    ``validate="json"`` on :func:`~atomicopen.atomic_open` adds
    ``Validate("json")``.

    :param validator: ``"json"`` (parsed with :mod:`json`), ``"toml"`` (parsed
        with :mod:`tomllib`, or tomli before Python 3.11) or a callable that
        takes the temporary file's path and raises, or returns ``False``, to
        reject the content.
    :raises ValueError: for an unknown name.
    :raises ModuleNotFoundError: for ``"toml"`` without tomllib or tomli.

    Example::

        with atomic_open("app.toml", hooks=[Validate("toml")]) as f:
            f.write(text)
    """

    def __init__(self, validator: str | Validator) -> None:
        self.validator = validator
        self._description, self._check = load_validator(validator)

    def validate(self, context: CommitContext) -> None:
        """Run the validator on the temporary file.

        :raises ValidationError: chained to the validator's error.
        """
        path = context.path
        try:
            result = self._check(_anchored_temp_path(context))
        except ValidationError:
            raise
        except Exception as error:
            if callable(self.validator):
                # A caller's validator raises to reject the content.
                reason = (
                    f"{self._description} rejected the new content of {path!r}"
                    f" with {type(error).__name__}: {error}"
                )
            else:
                reason = (
                    f"invalid {self._description} in the new content of {path!r}:"
                    f" {error}"
                )
            raise ValidationError(
                f"{reason}; the target was left unchanged", path
            ) from error
        if result is False:
            raise ValidationError(
                f"{self._description} rejected the new content of {path!r};"
                " the target was left unchanged",
                path,
            )
        logger.debug("validated %s as %s", context.temp_path, self._description)

    def __repr__(self) -> str:
        return f"Validate({self.validator!r})"


def _anchored_temp_path(context: CommitContext) -> str:
    """Return a path to the temporary file that goes through the directory's descriptor.

    The commit renames relative to that descriptor, so a validator that opened
    ``temp_path`` could read another file after a ``chdir()`` or a rename of the
    directory. On Linux, ``/proc/self/fd/<dir_fd>/<name>`` reaches the very file
    that will be renamed; elsewhere ``temp_path`` is the best there is.
    """
    if context.dir_fd is not None:
        anchored = f"/proc/self/fd/{context.dir_fd}/{context.temp_name}"
        if os.path.exists(anchored):
            return anchored
    return context.temp_path


class Backups(CommitHook):
    """Keep the previous versions as ``<name>.1`` (newest) to ``<name>.<keep>``.

    Before each rename over the target, the backups shift up by one, the
    oldest beyond ``keep`` is removed, and the current target becomes
    ``<name>.1`` by a hard link, or by a copy where the file system rejects
    hard links. A crash at any point leaves the newest backup under a backup
    name. ``backups=3`` on :func:`~atomicopen.atomic_open` adds
    ``Backups(keep=3)``. Use :func:`~atomicopen.restore_backup` to roll back.

    :param keep: how many backups to keep, 1 or more. Backups with a higher
        index, left from a larger ``keep``, are never touched.
    :param sync: sync the directory after the backup, so that the backup is
        durable before the new content replaces the target. ``backups=`` sets
        it to ``False`` for ``durability="none"``.
    :raises ValueError: if ``keep`` is less than 1.

    Example::

        with atomic_open("config.json", hooks=[Backups(keep=5)]) as f:
            json.dump(config, f)
    """

    def __init__(self, keep: int, *, sync: bool = True) -> None:
        self.keep = check_keep(keep)
        self.sync = bool(sync)

    def validate(self, context: CommitContext) -> None:
        """Check that the directory allows the names of the backups."""
        # The newest backup has the shortest name: if it does not fit, no
        # number of backups does.
        check_name_fits(
            context.directory,
            backup_name(context.name, 1),
            "backup",
            context.path,
            "or keep no backups",
        )
        check_name_fits(
            context.directory,
            backup_name(context.name, self.keep),
            "backup",
            context.path,
            "or keep fewer backups",
        )

    def before_replace(self, context: CommitContext) -> None:
        """Rotate the backups and link the current target as ``<name>.1``."""
        try:
            make_backup(context.directory, context.name, self.keep, sync=self.sync)
        except OSError as error:
            raise annotate(
                error,
                f"backing up the current content as {context.name + '.1'!r}",
                context.path,
                "the target was left unchanged",
            ) from error

    def __repr__(self) -> str:
        return f"Backups(keep={self.keep!r}, sync={self.sync!r})"


class Checksum(CommitHook):
    """Write ``<name>.sha256`` after each commit, in the format of ``sha256sum``.

    The checksum file is replaced atomically and gets the target's read and
    write bits. Check a file against it with :func:`~atomicopen.verify`, or
    with ``sha256sum -c <name>.sha256`` in its directory.

    :param algorithm: a :mod:`hashlib` name such as ``"sha256"`` or
        ``"sha512"``, which is also the checksum file's suffix.
    :param sync: sync the checksum file and the directory.
    :raises ValueError: for an unknown algorithm.

    Example::

        with atomic_open("model.bin", "wb", hooks=[Checksum()]) as f:
            f.write(weights)
    """

    def __init__(self, algorithm: str = "sha256", *, sync: bool = True) -> None:
        self.algorithm = check_algorithm(algorithm)
        self.sync = bool(sync)

    def validate(self, context: CommitContext) -> None:
        """Check that the directory allows the checksum file's name.

        The checksum file is written after the rename, when a failure can no
        longer keep the old content, so its name is checked before.
        """
        check_name_fits(
            context.directory,
            checksum_name(context.name, self.algorithm),
            "checksum file",
            context.path,
            "or write no checksum",
        )

    def after_replace(self, context: CommitContext) -> None:
        """Write the checksum of the committed content."""
        write_checksum(
            context.directory, context.name, context.fd, self.algorithm, sync=self.sync
        )

    def __repr__(self) -> str:
        return f"Checksum({self.algorithm!r}, sync={self.sync!r})"
