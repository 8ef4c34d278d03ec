"""AtomicGroup: several atomic replaces that share one directory fsync."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Any

from ._core import AtomicFile, PathLike
from ._errors import AtomicOpenError, PostCommitError
from .hooks import CommitContext, CommitHook, DirectorySync

__all__ = ["AtomicGroup", "GroupCommitError"]

logger = logging.getLogger(__name__)

# Options that belong to the group as a whole, because the group and not each
# file syncs the directory.
_GROUP_ONLY_OPTIONS = frozenset({"durability", "on_dir_sync_unsupported"})


class GroupCommitError(AtomicOpenError):
    """A rename failed partway through a group commit.

    Each file has either its old content or its new content, complete. The
    files in ``replaced`` have the new content, the directory was synced
    for them as ``durability`` asked, and the others kept the old content.
    Retrying the whole group writes the replaced files again with the same
    content, so it is safe.

    :ivar replaced: the paths that have the new content, in commit order.
    :ivar not_replaced: the paths that kept the old content, the failed one
        first.
    """

    def __init__(
        self,
        failed: str,
        error: OSError,
        replaced: tuple[str, ...],
        not_replaced: tuple[str, ...],
    ) -> None:
        reason = error.strerror or str(error)
        super().__init__(
            error.errno,
            f"group commit stopped at {failed!r}: {reason}. Replaced with the new"
            f" content: {list(replaced)!r}; left with the old content:"
            f" {list(not_replaced)!r}. Fix the cause and write the group again",
            failed,
        )
        self.replaced = replaced
        self.not_replaced = not_replaced


class AtomicGroup:
    """Commit several files with one directory fsync for the whole group.

    Each :meth:`open` returns a file object, as :func:`~atomicopen.atomic_open`
    does. On a clean exit of the ``with`` block every file is flushed, validated
    and synced; only when all of them succeeded are they renamed over their
    targets, in the order they were opened, and then each directory that holds
    one of them is synced once. An exception in the block, or a failure
    before the first rename, discards every file and leaves all targets as they
    were.

    The group is atomic per file, not across files: a reader or a crash in the
    middle of the renames can see some files new and others old. Every file
    is always old or new and complete, never torn. Files may lie in different
    directories, and each directory is then synced once.

    :param directory: the directory that relative names in :meth:`open` are
        relative to, or ``None`` for the current directory.
    :param options: the keyword options of :class:`~atomicopen.AtomicFile`,
        used for every file. :meth:`open` may override any of them except
        ``durability`` and ``on_dir_sync_unsupported``, which apply to the
        group's directory sync.
    :raises ValueError: for an invalid ``durability`` or
        ``on_dir_sync_unsupported``.

    Example::

        with AtomicGroup("site") as group:
            for name, page in pages.items():
                with group.open(name) as f:
                    f.write(page)
    """

    def __init__(self, directory: PathLike | None = None, **options: Any) -> None:
        self._directory = None if directory is None else os.fsdecode(directory)
        self._durability = options.pop("durability", "full")
        on_unsupported = options.pop("on_dir_sync_unsupported", "raise")
        # Checks every option, as AtomicFile does, before anything is opened.
        AtomicFile(
            os.curdir,
            durability=self._durability,
            on_dir_sync_unsupported=on_unsupported,
            **options,
        )
        self._directory_sync = DirectorySync(on_unsupported)
        self._options = options
        self._files: list[AtomicFile] = []
        self._targets: set[tuple[object, ...]] = set()
        self._state = "open"

    def __repr__(self) -> str:
        return (
            f"<AtomicGroup directory={self._directory!r} files={len(self._files)}"
            f" state={self._state}>"
        )

    @property
    def paths(self) -> tuple[str | bytes, ...]:
        """The paths opened so far, in commit order."""
        return tuple(file.path for file in self._files)

    def __enter__(self) -> AtomicGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()

    def open(
        self,
        file: PathLike,
        mode: str = "w",
        *,
        hooks: Iterable[CommitHook] = (),
        **options: Any,
    ) -> IO[Any]:
        """Create the temporary file for ``file`` and return its file object.

        Closing the file object, or leaving a ``with`` block on it, does not
        commit it: the group commits all files when it ends.

        :param file: the target path, relative to the group's directory.
        :param mode: as for :class:`~atomicopen.AtomicFile`.
        :param hooks: commit hooks for this file, run after the group's.
        :param options: the group's options to override for this file.
        :raises ValueError: if the group has ended, if ``file`` is already in
            the group, or for an invalid option.
        :raises TypeError: for ``durability`` or ``on_dir_sync_unsupported``.
        :raises OSError: as :meth:`AtomicFile.open` raises it.
        """
        if self._state != "open":
            raise ValueError(f"{self!r} has ended; start a new AtomicGroup")
        group_only = sorted(_GROUP_ONLY_OPTIONS.intersection(options))
        if group_only:
            raise TypeError(
                f"{', '.join(group_only)} applies to the whole group: pass it to"
                " AtomicGroup(), not to open()"
            )
        atomic_file = self._new_file(file, mode, hooks, options)
        file_object = atomic_file.open()
        key = atomic_file._target_key()
        if key in self._targets:
            atomic_file.discard()
            raise ValueError(
                f"{atomic_file._target_path!r} is already in this group, perhaps"
                " under another path; write it through one file object"
            )
        self._targets.add(key)
        self._files.append(atomic_file)
        return file_object

    def _new_file(
        self,
        file: PathLike,
        mode: str,
        hooks: Iterable[CommitHook],
        options: dict[str, Any],
    ) -> AtomicFile:
        path = os.fspath(file)
        if self._directory is not None:
            path = os.path.join(self._directory, os.fsdecode(path))
        merged = {**self._options, **options}
        group_hooks = tuple(merged.pop("hooks", ()))
        # The file syncs its own content ("file"); the group syncs the
        # directories once, after every rename.
        durability = "none" if self._durability == "none" else "file"
        return AtomicFile(
            path,
            mode,
            durability=durability,
            hooks=(*group_hooks, *hooks),
            **merged,
        )

    def commit(self) -> None:
        """Sync every file, rename each over its target, then sync the directories.

        A second call does nothing.

        :raises ValueError: after :meth:`discard`.
        :raises GroupCommitError: if a rename failed; it names the replaced
            files and the others.
        :raises PostCommitError: if the directory fsync or an ``after_replace``
            hook failed. Every file has the new content then.
        :raises OSError: if writing, validating or syncing a file failed
            before the renames. Every target was left unchanged.
        """
        if self._state == "committed":
            return
        if self._state != "open":
            reason = (
                "its commit failed" if self._state == "failed" else "it was discarded"
            )
            raise ValueError(f"cannot commit {self!r}: {reason}; start a new group")
        self._state = "committing"
        try:
            contexts = self._prepare_all()
        except BaseException:
            self._state = "discarded"
            raise
        try:
            self._replace_all(contexts)
        except BaseException:
            # Some files may have the new content: a retry would not be atomic
            # per group either, so the group stays failed.
            self._state = "failed"
            raise
        self._state = "committed"
        self._sync_directories(contexts)
        self._finish_all(contexts)

    def discard(self) -> None:
        """Remove every temporary file and leave every target as it was.

        Does nothing after :meth:`commit` or a previous :meth:`discard`.
        """
        if self._state != "open":
            return
        self._state = "discarded"
        self._discard_files(self._files)
        logger.debug("discarded a group of %d files", len(self._files))

    def _prepare_all(self) -> list[CommitContext]:
        contexts = []
        for index, atomic_file in enumerate(self._files):
            try:
                context = atomic_file._prepare_commit()
                contexts.append(context or atomic_file._context())
            except BaseException:
                # The failed file discarded itself.
                self._discard_files(self._files[:index] + self._files[index + 1 :])
                raise
        return contexts

    def _replace_all(self, contexts: list[CommitContext]) -> None:
        for index, (atomic_file, context) in enumerate(
            zip(self._files, contexts, strict=True)
        ):
            try:
                atomic_file._replace_target()
            except OSError as error:
                self._discard_files(self._files[index + 1 :])
                self._settle_replaced(contexts[:index])
                raise GroupCommitError(
                    context.path,
                    error,
                    tuple(c.path for c in contexts[:index]),
                    tuple(c.path for c in contexts[index:]),
                ) from error
            except BaseException:
                self._discard_files(self._files[index + 1 :])
                self._release_all(self._files[:index])
                raise
        logger.debug("replaced a group of %d files", len(contexts))

    def _settle_replaced(self, contexts: list[CommitContext]) -> None:
        """Sync and finish the files that a failed rename left replaced.

        Their failures are logged, not raised, so that the GroupCommitError
        that names every file reaches the caller.
        """
        try:
            self._sync_directories(contexts)
            self._finish_all(contexts)
        except Exception:
            logger.exception("finishing the replaced files of a failed group failed")
        finally:
            self._release_all(self._files)

    def _sync_directories(self, contexts: list[CommitContext]) -> None:
        if self._durability != "full":
            return
        synced: set[object] = set()
        for context in contexts:
            directory = os.path.normpath(context.directory.path or os.curdir)
            # By inode: "link/.." and the path it resolves to name one directory.
            identity: object = directory
            if context.dir_fd is not None:
                status = os.fstat(context.dir_fd)
                identity = (status.st_dev, status.st_ino)
            if identity in synced:
                continue
            synced.add(identity)
            try:
                self._directory_sync.after_replace(context)
            except PostCommitError:
                self._release_all(self._files)
                raise
            except OSError as error:
                self._release_all(self._files)
                raise PostCommitError(
                    f"every file of the group has the new content, but the fsync"
                    f" of the directory {directory!r} failed ({error}), so the"
                    " renames may not survive a power loss; do not retry the write",
                    context.path,
                    error.errno,
                ) from error

    def _finish_all(self, contexts: list[CommitContext]) -> None:
        first_error: BaseException | None = None
        # The contexts belong to the first len(contexts) files.
        files = self._files[: len(contexts)]
        for atomic_file, context in zip(files, contexts, strict=True):
            try:
                atomic_file._finish_commit(context)
            except BaseException as error:
                if first_error is None:
                    first_error = error
        if first_error is not None:
            raise first_error

    @staticmethod
    def _discard_files(files: list[AtomicFile]) -> None:
        for atomic_file in files:
            atomic_file.discard()

    @staticmethod
    def _release_all(files: list[AtomicFile]) -> None:
        for atomic_file in files:
            atomic_file._release()
