"""Creating a temporary file next to the target, with the target's metadata."""

from __future__ import annotations

import errno
import logging
import os
import stat
import sys

from ._directory import Directory
from ._errors import annotate
from ._names import COMMON_NAME_MAX, make_temp_name

logger = logging.getLogger(__name__)

if sys.platform != "win32":
    import fcntl

TEMP_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
MAX_NAME_ATTEMPTS = 100


def initial_mode(existing: os.stat_result | None, permissions: int | None) -> int:
    """Return the mode to create the temporary file with.

    It is never wider than the final mode, so the content is never readable by
    more users than the finished file. The kernel also applies the umask to it.
    """
    if permissions is not None:
        return permissions & 0o777
    if existing is not None:
        return stat.S_IMODE(existing.st_mode) & 0o777
    # With 0o666 the kernel leaves exactly the mode that open() gives a new
    # file, honouring the umask and default ACLs without calling os.umask().
    return 0o666


def create_temp(
    directory: Directory, target_name: str, mode: int, target_path: str
) -> tuple[int, str]:
    """Create and lock a new temporary file and return its descriptor and name.

    The file is created with ``O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC``, so an
    existing file or a planted symbolic link is never opened. Its name fits the
    directory's ``NAME_MAX``.

    :raises OSError: with ``target_path`` if the directory rejects the file.
    """
    name_max = COMMON_NAME_MAX
    for _ in range(MAX_NAME_ATTEMPTS):
        name = make_temp_name(target_name, name_max)
        try:
            fd = directory.open(name, TEMP_FLAGS, mode)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG and name_max == COMMON_NAME_MAX:
                name_max = _name_max(directory)
                if name_max < COMMON_NAME_MAX:
                    continue
            raise annotate(
                error,
                f"creating a temporary file in {directory.path or os.curdir!r}",
                target_path,
                "the target was left unchanged",
            ) from error
        if _lock(fd):
            return fd, name
        # A cleanup holds the lock of this brand-new file. Remove the name
        # here, because a dry run of the cleanup would leave it behind, then
        # draw another.
        try:
            directory.unlink(name)
        except OSError as error:
            logger.debug(
                "cannot remove the contended temporary file %s: %s", name, error
            )
        os.close(fd)
    raise FileExistsError(
        errno.EEXIST,
        f"no free temporary name in {MAX_NAME_ATTEMPTS} attempts; remove stale"
        " temporary files with 'atomicopen clean'",
        target_path,
    )


# No file system in common use allows fewer bytes in a name (eCryptfs allows
# 143), so names up to this length are never looked up.
_MIN_NAME_MAX = 143


def check_name_fits(
    directory: Directory, name: str, what: str, target_path: str, remedy: str
) -> None:
    """Raise ``ENAMETOOLONG`` if ``name`` is too long for ``directory``.

    Commits call it before the rename for the names of the files they create
    next to the target, so that a name the directory rejects stops the commit
    while the target is unchanged.

    :param what: what the file is, such as ``"checksum file"``.
    :param remedy: the end of the advice, after "use a shorter file name".
    """
    length = len(os.fsencode(name))
    if length <= _MIN_NAME_MAX:
        return
    limit = _name_max(directory)
    if length > limit:
        raise OSError(
            errno.ENAMETOOLONG,
            f"File name too long: the {what} {name!r} would need {length} bytes,"
            f" and the directory allows {limit}; use a shorter file name {remedy}",
            target_path,
        )


def _name_max(directory: Directory) -> int:
    try:
        if directory.fd is not None:
            return os.fpathconf(directory.fd, "PC_NAME_MAX")
        return os.pathconf(directory.path or os.curdir, "PC_NAME_MAX")
    except (OSError, ValueError):
        return COMMON_NAME_MAX


def _lock(fd: int) -> bool:
    """Take an flock on the temporary file, held for as long as it exists.

    A cleanup of stale temporary files takes a non-blocking lock before it
    removes one, so it never removes the file of a live writer. Returns ``False``
    if someone else holds the lock.
    """
    if sys.platform == "win32":  # pragma: no cover - Windows keeps open files
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        # Without lock support (ENOLCK on NFS without lockd, say), a cleanup
        # still skips files younger than its age limit.
        logger.debug("cannot lock the temporary file: %s", error)
    return True


def apply_metadata(
    fd: int, existing: os.stat_result | None, permissions: int | None, target_path: str
) -> None:
    """Give the temporary file the final owner, group and mode, by descriptor.

    An existing target's owner and group are kept where the process may set
    them: root may set any, another user only a group it belongs to.
    """
    if existing is not None:
        created = os.fstat(fd)
        mode = stat.S_IMODE(existing.st_mode) if permissions is None else permissions
        if (
            created.st_uid == existing.st_uid
            and created.st_gid == existing.st_gid
            and stat.S_IMODE(created.st_mode) == mode
        ):
            # The usual case of a file that this user replaced before: the
            # create already gave the owner, group and mode, and one fstat()
            # replaces an fchown() and an fchmod().
            return
        _copy_owner(fd, existing, target_path)
    if permissions is not None:
        os.fchmod(fd, permissions)
    elif existing is not None:
        # Also restores the setuid and setgid bits, which fchown clears.
        os.fchmod(fd, stat.S_IMODE(existing.st_mode))


def _copy_owner(fd: int, existing: os.stat_result, target_path: str) -> None:
    if not hasattr(os, "fchown"):  # pragma: no cover - Windows
        return
    try:
        os.fchown(fd, existing.st_uid, existing.st_gid)
    except PermissionError:
        pass
    else:
        return
    lost = []
    if existing.st_uid != os.geteuid():
        lost.append(f"owner {existing.st_uid}")
    try:
        os.fchown(fd, -1, existing.st_gid)
    except PermissionError:
        lost.append(f"group {existing.st_gid}")
    if lost:
        # A rename cannot keep another user's ownership: only root may give a
        # file away, so the new file belongs to the writing user.
        logger.warning(
            "%s will lose its %s: only root may set them; run as root or as the"
            " owner to keep them",
            target_path,
            " and ".join(lost),
        )
