"""AtomicFile: one atomic replace of a file, from open() to commit() or discard()."""

from __future__ import annotations

import errno
import logging
import os
import stat
import warnings
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Any

from ._copy import copy_content
from ._directory import Directory, resolve_target
from ._errors import PostCommitError, annotate
from ._fileobject import open_file_object
from ._locking import Lockable, make_lock_request
from ._options import check_options_cached
from ._target import check_target
from ._tempfile import apply_metadata, create_temp, initial_mode
from ._validators import Validator
from .hooks import CommitContext, CommitHook, sync_temp_file

__all__ = ["AtomicFile"]

logger = logging.getLogger(__name__)

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

# How much of the current content one read(2) takes in _read_target().
_READ_CHUNK = 1 << 16

# Errors of write(2) that a caller's f.write() raises without a file name.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

# What stat.S_IMODE() keeps, and the bits that a write by a process without
# CAP_FSETID clears.
_PERMISSION_BITS = 0o7777
_PRIVILEGED_BITS = stat.S_ISUID | stat.S_ISGID

PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]

# The process ID, kept up to date across os.fork() so that the checks of
# which process owns an AtomicFile cost no getpid() system call.
_pid = os.getpid()


def _update_pid_after_fork() -> None:
    global _pid  # noqa: PLW0603 - one value per process
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_update_pid_after_fork)


class AtomicFile:
    """A write to a temporary file that replaces ``file`` atomically on commit.

    Readers of ``file`` see its old content or the new one, never a mix, and a
    crash at any moment leaves one of the two. :meth:`open` creates the
    temporary file in the target's own directory and returns a writable file
    object. :meth:`commit` syncs it and renames it over the target, and
    :meth:`discard` removes it. Used as a context manager, a clean exit commits
    and an exception, :class:`KeyboardInterrupt` included, discards.

    :param file: the path to replace: a :class:`str`, :class:`bytes` or
        :class:`os.PathLike`.
    :param mode: ``"w"`` (replace), ``"x"`` (create, and fail if the file
        exists), ``"a"`` (append to a copy of the current content) or ``"r+"``
        (edit a copy of it), each with optional ``"b"`` and ``"+"``.
    :param buffering: as for :func:`open`. With ``0``, ``write()`` may write
        less than it is given and return the count, as for :func:`open`.
    :param encoding: as for :func:`open`, in text modes only.
    :param errors: as for :func:`open`, in text modes only.
    :param newline: as for :func:`open`, in text modes only.
    :param durability: ``"full"`` syncs the file before the rename and the
        directory after it, so a returned commit survives power loss.
        ``"file"`` syncs only the file, so after a power loss the path contains
        the old or the new content, complete. ``"none"`` syncs nothing and
        survives a crash of the process, not of the machine.
    :param permissions: the new file's mode, such as ``0o600``. By default an
        existing file keeps its mode, owner and group, and a new file gets
        ``0o666`` less the umask, as with :func:`open`.
    :param follow_symlinks: replace the file that a symbolic link points to,
        keeping the link, instead of the link itself.
    :param allow_hard_links: with ``False``, raise :class:`HardLinkError`
        instead of replacing a file that has other hard links, which would
        keep the old content.
    :param on_dir_sync_unsupported: ``"raise"`` or ``"warn"`` when the file
        system rejects fsync of a directory with ``EINVAL``.
    :param replace_timeout: on Windows, how many seconds to retry a rename that
        another program's open handle blocks.
    :param hooks: extra :class:`~atomicopen.hooks.CommitHook` objects.
    :param lock: ``True`` takes an exclusive lock on ``<target name>.lock`` in
        the target's directory before the temporary file is created or the
        current content is read, and holds it until after the rename and the
        directory fsync, so concurrent read-modify-write cycles never lose an
        update. Another object with ``acquire()`` and ``release()``, such as
        :class:`portalocker.RedisLock`, is used instead of the lock file.
    :param lock_timeout: seconds to wait for the lock, or ``None`` to wait as
        long as it takes; then :class:`LockTimeout` is raised.
    :param backups: keep this many previous versions as ``<name>.1`` (newest)
        to ``<name>.<backups>``, as :class:`~atomicopen.hooks.Backups` does;
        ``0`` keeps none.
    :param validate: ``"json"``, ``"toml"`` or a callable that takes the
        temporary file's path, run before anything is synced, as
        :class:`~atomicopen.hooks.Validate` does. Invalid content raises
        :class:`~atomicopen.ValidationError` and the target stays unchanged.
    :raises ValueError: for a malformed or read-only ``mode`` or an invalid
        option, such as an unknown ``validate`` name, before anything touches
        the disk.

    Example::

        with AtomicFile("settings.ini") as f:
            f.write("[main]\\nverbose = yes\\n")
    """

    # The state that open() and commit() change starts from these class
    # attributes, so that a new instance stores none of them.
    _state = "new"
    _directory: Directory | None = None
    _name = ""
    _temp_name: str | None = None
    # The joined paths, built once each: messages and hooks use them often.
    _target_path = ""
    _temp_path = ""
    _fd: int | None = None
    _privileged_mode: int | None = None
    _file: IO[Any] | None = None

    def __init__(
        self,
        file: PathLike,
        mode: str = "w",
        *,
        buffering: int = -1,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
        durability: str = "full",
        permissions: int | None = None,
        follow_symlinks: bool = True,
        allow_hard_links: bool = True,
        on_dir_sync_unsupported: str = "raise",
        replace_timeout: float = 1.0,
        hooks: Iterable[CommitHook] = (),
        lock: bool | Lockable | None = None,
        lock_timeout: float | None = None,
        backups: int = 0,
        validate: str | Validator | None = None,
    ) -> None:
        self._given_path = os.fspath(file)
        given = self._given_path
        self._path = given if isinstance(given, str) else os.fsdecode(given)
        if not self._path:
            raise ValueError("invalid path '': give the path of the file to write")
        self._options = check_options_cached(
            mode,
            buffering,
            encoding,
            errors,
            newline,
            durability,
            permissions,
            follow_symlinks,
            allow_hard_links,
            on_dir_sync_unsupported,
            replace_timeout,
            hooks,
            validate,
            backups,
        )
        self._mode = self._options.mode
        self._lock = (
            None
            if lock is None and lock_timeout is None
            else make_lock_request(lock, lock_timeout)
        )
        self._owner_pid = _pid

    # Properties

    @property
    def path(self) -> str | bytes:
        """The path that was given, as :func:`os.fspath` returns it."""
        return self._given_path

    @property
    def temp_path(self) -> str | bytes | None:
        """The temporary file's path while it exists, else ``None``."""
        if self._directory is None or self._temp_name is None:
            return None
        if isinstance(self._given_path, bytes):
            return os.fsencode(self._temp_path)
        return self._temp_path

    @property
    def committed(self) -> bool:
        """Whether the new content has replaced the target."""
        return self._state == "committed"

    def __repr__(self) -> str:
        return (
            f"<AtomicFile path={self._given_path!r} mode={self._mode.text!r}"
            f" state={self._state}>"
        )

    # Context manager

    def __enter__(self) -> IO[Any]:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
            return
        self.discard()
        if (
            isinstance(exc_value, OSError)
            and exc_value.filename is None
            and exc_value.errno in _WRITE_ERRNOS
            and self._directory is not None
        ):
            # A write through the file object failed, and the file object only
            # has a descriptor: name the file that was left unchanged, as the
            # errors that commit() raises do.
            exc_value.filename = self._target_path
            exc_value.strerror = f"{exc_value.strerror}; the target was left unchanged"

    def __del__(self) -> None:
        if self._state == "open":
            description = repr(self)
            inherited = self._owner_pid != _pid
            # Discard first: with warnings turned into errors, warn() raises.
            self._abort()
            if inherited:
                return
            warnings.warn(
                f"{description} was neither committed nor discarded; discarded it",
                ResourceWarning,
                stacklevel=2,
            )

    # Opening

    def open(self) -> IO[Any]:
        """Create the temporary file and return a file object that writes to it.

        The file object is an ordinary buffered file, as :func:`open` returns
        it for the same mode, and its ``name`` is the temporary file's path.

        >>> from atomicopen import AtomicFile
        >>> atomic = AtomicFile("draft.txt")
        >>> f = atomic.open()
        >>> f.name.startswith(".atomicopen.")
        True
        >>> atomic.discard()

        :raises ValueError: if this :class:`AtomicFile` was opened before.
        :raises FileNotFoundError: if the parent directory is missing, or for
            ``"r+"`` the file itself.
        :raises FileExistsError: for ``"x"`` if the file exists.
        :raises IsADirectoryError: if the path is a directory.
        :raises LockTimeout: if ``lock_timeout`` expired first.
        :raises OSError: for any other failure, with the target's path. No
            temporary file is left behind.
        """
        if self._state != "new":
            raise ValueError(
                f"{self!r} can be opened only once; create a new AtomicFile"
            )
        # The path is split without following links: the lstat that inspects
        # the target shows whether it is a link, so the common case of a
        # regular file costs one lstat, not two.
        directory_path, self._name = resolve_target(self._path, False)
        self._directory = Directory(directory_path)
        self._target_path = self._directory.join(self._name)
        self._owner_pid = _pid
        self._state = "open"
        try:
            status = self._lstat_target()
            if (
                status is not None
                and stat.S_ISLNK(status.st_mode)
                and self._options.follow_symlinks
            ):
                status = self._follow_links()
            if self._lock is not None:
                self._lock.acquire(self._directory, self._name, self._target_path)
                # Another holder of the lock may have replaced the file.
                status = self._lstat_target()
            existing = check_target(
                status, self._mode, self._options, self._target_path
            )
            fd = self._create_temp(existing)
            if self._mode.copies_existing and existing is not None:
                self._copy_existing()
            self._file = open_file_object(
                fd, self._mode, self._options, self._temp_path
            )
        except BaseException:
            self._abort()
            raise
        return self._file

    def _target_key(self) -> tuple[object, ...]:
        """Identify the replaced directory entry, whatever path led to it.

        Two paths name the same entry when they lead, through links, ``..`` or
        an absolute form, to the same name in the same directory inode.
        """
        assert self._directory is not None
        if self._directory.fd is None:  # pragma: no cover - Windows
            path = os.path.normcase(os.path.abspath(self._target_path))
            return (path,)
        status = os.fstat(self._directory.fd)
        return (status.st_dev, status.st_ino, self._name)

    def _lstat_target(self) -> os.stat_result | None:
        assert self._directory is not None
        try:
            return self._directory.lstat(self._name)
        except OSError as error:
            raise OSError(error.errno, error.strerror, self._target_path) from error

    def _follow_links(self) -> os.stat_result | None:
        """Move to the directory and name that the link chain points to."""
        assert self._directory is not None
        directory_path, name = resolve_target(self._path, True)
        directory = Directory(directory_path)
        self._directory.close()
        self._directory, self._name = directory, name
        self._target_path = directory.join(name)
        return self._lstat_target()

    def _create_temp(self, existing: os.stat_result | None) -> int:
        """Create the temporary file with its final metadata; return its descriptor."""
        assert self._directory is not None
        permissions = self._options.permissions
        fd, self._temp_name = create_temp(
            self._directory,
            self._name,
            initial_mode(existing, permissions),
            self._target_path,
        )
        self._fd = fd
        self._temp_path = self._directory.join(self._temp_name)
        # Guarded: a debug() call that logs nothing costs twice the check.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("created %s for %s", self._temp_path, self._target_path)
        if existing is None and permissions is None:
            # A new file: the create gave it the mode that open() would.
            return fd
        apply_metadata(fd, existing, permissions, self._target_path)
        final_mode = permissions
        if final_mode is None and existing is not None:
            final_mode = existing.st_mode & _PERMISSION_BITS
        if final_mode is not None and final_mode & _PRIVILEGED_BITS:
            self._privileged_mode = final_mode
        return fd

    def _open_target(self) -> int:
        """Open the target for reading, by its name in the directory.

        With ``follow_symlinks`` the name is the end of the link chain, and
        ``O_NOFOLLOW`` makes sure it is still no link.
        """
        assert self._directory is not None
        flags = _READ_FLAGS
        if self._options.follow_symlinks:
            flags |= getattr(os, "O_NOFOLLOW", 0)
        return self._directory.open(self._name, flags, 0)

    def _copy_existing(self) -> None:
        assert self._fd is not None
        try:
            source_fd = self._open_target()
            try:
                copy_content(source_fd, self._fd)
            finally:
                os.close(source_fd)
        except OSError as error:
            raise annotate(
                error,
                "copying the current content into the temporary file",
                self._target_path,
                "the target was left unchanged",
            ) from error
        os.lseek(self._fd, 0, os.SEEK_SET)

    def _read_target(self) -> bytes | None:
        """Return the target's current content, or ``None`` if it has none.

        After :meth:`open`, under its lock: update_json() and update_text()
        read the content this way and write the new content from scratch,
        instead of copying it into the temporary file as mode ``"r+"`` does.
        """
        chunks = []
        try:
            fd = self._open_target()
            try:
                while chunk := os.read(fd, _READ_CHUNK):
                    chunks.append(chunk)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._unchanged_error(error, "reading the current content") from error
        return b"".join(chunks)

    # Ending

    def commit(self) -> None:
        """Sync the temporary file and rename it over the target.

        A second call does nothing. After any failure before the rename, the
        target is untouched, the temporary file is removed and the error is
        raised with the target's path.

        :raises ValueError: if :meth:`open` was not called, or after
            :meth:`discard`.
        :raises FileExistsError: for mode ``"x"`` if another process created
            the file meanwhile; that file is left as it is.
        :raises PostCommitError: if a step after the rename failed. The new
            content is live then, so do not retry the write.

        Without a ``with`` block, call :meth:`open`, write, then
        :meth:`commit`, or :meth:`discard` on failure:

        >>> from atomicopen import AtomicFile
        >>> atomic = AtomicFile("report.txt")
        >>> f = atomic.open()
        >>> _ = f.write("done\\n")
        >>> atomic.commit()
        >>> atomic.committed
        True
        """
        if self._state == "committed":
            return
        context = self._prepare_commit()
        self._replace_target()
        self._finish_commit(context)

    # The three phases of commit(). AtomicGroup runs each phase for all of its
    # files before the next, so that one directory fsync serves them all.

    def _prepare_commit(self) -> CommitContext | None:
        """Flush, validate and sync the temporary file; abort on any failure.

        Returns the context for the hooks of the later stages, or ``None`` if
        there are none.
        """
        if self._state != "open":
            raise ValueError(
                f"cannot commit {self!r}: call open() first, and commit at most"
                " once before discard()"
            )
        if self._owner_pid != _pid:
            raise ValueError(
                f"cannot commit {self!r} in process {_pid}: process"
                f" {self._owner_pid} opened it and must commit or discard it"
            )
        options = self._options
        context = self._context() if options.uses_context else None
        try:
            self._flush()
            if self._privileged_mode is not None:
                self._restore_privileged_mode()
            if context is not None:
                for hook in options.validate_hooks:
                    hook.validate(context)
            if options.sync_file:
                assert self._fd is not None
                sync_temp_file(self._fd, self._temp_path, self._target_path)
            if context is not None:
                for hook in options.before_replace_hooks:
                    hook.before_replace(context)
            self._close_file_object()
        except BaseException:
            self._abort()
            raise
        return context

    def _replace_target(self) -> None:
        """Rename the temporary file over the target; abort on failure."""
        try:
            if self._lock is not None:
                self._lock.ensure_held(self._target_path)
            self._rename()
        except BaseException:
            self._abort()
            raise
        self._state = "committed"
        self._temp_name = None
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "replaced %s (durability %r)",
                self._target_path,
                self._options.durability,
            )

    def _finish_commit(self, context: CommitContext | None) -> None:
        """Run the after_replace stage and close the descriptors."""
        try:
            directory_sync = self._options.directory_sync
            if directory_sync is not None:
                assert self._directory is not None
                try:
                    directory_sync.sync_directory(self._directory, self._target_path)
                except PostCommitError:
                    raise
                except Exception as error:
                    raise self._post_commit_error(directory_sync, error) from error
            if context is not None:
                for hook in self._options.after_replace_hooks:
                    try:
                        hook.after_replace(context)
                    except PostCommitError:
                        raise
                    except Exception as error:
                        raise self._post_commit_error(hook, error) from error
        finally:
            self._release()

    def discard(self) -> None:
        """Remove the temporary file and leave the target as it is.

        Does nothing after :meth:`commit` or a previous :meth:`discard`. A
        failure to remove the temporary file is logged, never raised, so that
        it cannot hide the error that led to the discard.

        >>> from atomicopen import AtomicFile, atomic_write_text
        >>> atomic_write_text("report.txt", "old\\n")
        >>> atomic = AtomicFile("report.txt")
        >>> _ = atomic.open().write("never mind\\n")
        >>> atomic.discard()
        >>> open("report.txt").read()
        'old\\n'
        """
        if self._state == "open":
            self._abort()
            logger.debug("discarded the new content of %s", self._path)
        elif self._state == "new":
            self._state = "discarded"

    def _context(self) -> CommitContext:
        assert self._directory is not None
        assert self._fd is not None
        assert self._temp_name is not None
        # By position: keywords to a class call are packed into a dictionary.
        return CommitContext(
            self._target_path,
            self._temp_path,
            self._fd,
            self._directory.fd,
            self._name,
            self._temp_name,
            self._directory,
        )

    def _flush(self) -> None:
        assert self._file is not None
        if self._file.closed:
            return
        try:
            self._file.flush()
        except OSError as error:
            raise self._unchanged_error(
                error, "writing to the temporary file"
            ) from error

    def _restore_privileged_mode(self) -> None:
        # The kernel clears setuid and setgid when a process without
        # CAP_FSETID writes to the file, so they are set again after the writes.
        if self._privileged_mode is not None and self._fd is not None:
            os.fchmod(self._fd, self._privileged_mode)

    def _close_file_object(self) -> None:
        assert self._file is not None
        try:
            self._file.close()
        except OSError as error:
            raise self._unchanged_error(error, "closing the temporary file") from error

    def _rename(self) -> None:
        assert self._directory is not None
        assert self._temp_name is not None
        try:
            if self._mode.kind == "x":
                self._directory.rename_noreplace(self._temp_name, self._name)
            else:
                self._directory.replace(
                    self._temp_name,
                    self._name,
                    retry_timeout=self._options.replace_timeout,
                )
        except FileExistsError as error:
            raise FileExistsError(
                errno.EEXIST,
                "File exists: another process created it while this one wrote;"
                " their file was left as it is and the new content discarded",
                self._target_path,
            ) from error
        except OSError as error:
            doing = "renaming the temporary file over the target"
            if error.errno == errno.EBUSY:
                doing += (
                    " (EBUSY: the target is a mount point, as a single file"
                    " bind-mounted into a container is, and only writing it in"
                    " place can change it)"
                )
            raise self._unchanged_error(error, doing) from error

    def _post_commit_error(self, hook: CommitHook, error: Exception) -> PostCommitError:
        path = self._target_path
        return PostCommitError(
            f"{path!r} has the new content, but the step after the rename"
            f" {hook!r} failed ({error}); do not retry the write",
            path,
            error.errno if isinstance(error, OSError) else None,
        )

    def _unchanged_error(self, error: OSError, doing: str) -> OSError:
        path = self._target_path
        return annotate(error, doing, path, "the target was left unchanged")

    def _abort(self) -> None:
        """Close everything and remove the temporary file, logging any failure."""
        self._state = "discarded"
        if self._owner_pid != _pid:
            self._abandon()
            return
        try:
            if self._file is not None:
                try:
                    self._file.close()
                except Exception as error:
                    # Its buffered data was being discarded anyway, and a
                    # detached or broken file object must not stop the cleanup.
                    logger.debug("closing the discarded file object failed: %s", error)
            if self._directory is not None and self._temp_name is not None:
                temp_path = self._temp_path
                try:
                    self._directory.unlink(self._temp_name)
                except FileNotFoundError:
                    pass
                except OSError:
                    logger.exception("cannot remove the temporary file %s", temp_path)
                self._temp_name = None
        finally:
            self._release()

    def _abandon(self) -> None:
        """Let go of what a forked child inherited, without touching the parent's.

        The temporary file, its flock and the ``lock=`` lock belong to the
        process that opened them: the child only closes its own copies of the
        descriptors, and leaves the file object, whose buffer it shares with
        the parent's, alone.
        """
        self._temp_name = None
        for fd in (self._fd, self._directory.fd if self._directory else None):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    logger.exception("cannot close an inherited descriptor")
        self._fd = None
        if self._directory is not None:
            self._directory.fd = None
        if self._lock is not None:
            self._lock.abandon()
        logger.debug("dropped the inherited AtomicFile for %s", self._path)

    def _release(self) -> None:
        """Close the descriptors, then release the lock of ``lock=``.

        Closing the temporary file's descriptor releases its own flock.
        """
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError:
                logger.exception("cannot close the temporary file's descriptor")
        if self._directory is not None:
            try:
                self._directory.close()
            except OSError:
                logger.exception("cannot close the directory %s", self._directory.path)
        if self._lock is not None:
            self._lock.release()
