"""Checksum files next to the file they describe, in the format of sha256sum.

``<name>.sha256`` contains one line, ``<hex digest>  <name>``, so that
``sha256sum -c config.json.sha256`` run in the same directory checks it too. As
GNU coreutils does, a name that contains a backslash, a carriage return or a
newline is written with those escaped and the line starts with a backslash.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat

from ._directory import Directory, resolve_target
from ._errors import AtomicOpenError
from ._sync import full_fsync
from ._tempfile import create_temp

__all__ = [
    "ALGORITHMS",
    "check_algorithm",
    "digest_of",
    "rewrite_existing_checksums",
    "verify",
    "write_checksum",
]

logger = logging.getLogger(__name__)

# The hashlib algorithms that every Python has, minus SHAKE, whose digest
# length would have to be stored as well.
ALGORITHMS = tuple(
    sorted(
        name for name in hashlib.algorithms_guaranteed if not name.startswith("shake_")
    )
)
DEFAULT_ALGORITHM = "sha256"

_CHUNK = 1 << 20
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_ESCAPES = (("\\", "\\\\"), ("\n", "\\n"), ("\r", "\\r"))


def check_algorithm(algorithm: object) -> str:
    """Check a checksum algorithm's name.

    :raises ValueError: for a name outside :data:`ALGORITHMS`.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"invalid checksum algorithm {algorithm!r}: use one of"
            f" {', '.join(ALGORITHMS)}"
        )
    assert isinstance(algorithm, str)
    return algorithm


def checksum_name(name: str, algorithm: str) -> str:
    """Return the name of the checksum file of ``name``, such as ``a.json.sha256``."""
    return f"{name}.{algorithm}"


def digest_of(fd: int, algorithm: str) -> str:
    """Return the hex digest of the whole content of ``fd``, read with pread."""
    hasher = hashlib.new(algorithm)
    offset = 0
    while chunk := os.pread(fd, _CHUNK, offset):
        hasher.update(chunk)
        offset += len(chunk)
    return hasher.hexdigest()


def format_line(digest: str, name: str) -> str:
    """Return the checksum line for ``name`` as sha256sum writes it."""
    escaped = name
    for character, escape in _ESCAPES:
        escaped = escaped.replace(character, escape)
    prefix = "\\" if escaped != name else ""
    return f"{prefix}{digest}  {escaped}\n"


def parse_line(text: str, checksum_path: str) -> tuple[str, str]:
    """Return the digest and the file name that a checksum file's first line records.

    :raises AtomicOpenError: with ``EINVAL`` for a malformed line.
    """
    line = text.split("\n", 1)[0]
    escaped = line.startswith("\\")
    line = line.removeprefix("\\")
    digest, separator, rest = line.partition(" ")
    valid = (
        separator
        and digest
        and all(c in "0123456789abcdef" for c in digest)
        and rest[:1] in {" ", "*"}
    )
    if not valid:
        raise AtomicOpenError(
            errno.EINVAL,
            "Malformed checksum file: expected '<hex digest>  <name>' on the first"
            " line; write it again with atomicopen.hooks.Checksum or"
            " 'atomicopen write --checksum'",
            checksum_path,
        )
    name = rest[1:]
    if escaped:
        name = _unescape(name)
    return digest, name


def _unescape(name: str) -> str:
    """Undo the escapes of ``format_line()``: backslash, newline and return."""
    replacements = {"\\": "\\", "n": "\n", "r": "\r"}
    parts = []
    characters = iter(name)
    for character in characters:
        if character == "\\":
            following = next(characters, "")
            parts.append(replacements.get(following, "\\" + following))
        else:
            parts.append(character)
    return "".join(parts)


def write_checksum(
    directory: Directory, name: str, fd: int, algorithm: str, *, sync: bool
) -> None:
    """Replace ``<name>.<algorithm>`` atomically with the digest of ``fd``.

    The checksum file gets the read and write bits of ``fd``'s mode, so it is
    never readable by more users than the file it describes.
    """
    target = checksum_name(name, algorithm)
    # fsencode() gives back the bytes of a name that is not valid UTF-8, as
    # sha256sum writes them.
    line = os.fsencode(format_line(digest_of(fd, algorithm), name))
    mode = stat.S_IMODE(os.fstat(fd).st_mode) & 0o666
    temp_fd, temp_name = create_temp(directory, target, mode, directory.join(target))
    try:
        try:
            os.write(temp_fd, line)
            if sync:
                full_fsync(temp_fd)
        finally:
            os.close(temp_fd)
        directory.replace(temp_name, target, retry_timeout=1.0)
    except BaseException:
        _remove_quietly(directory, temp_name)
        raise
    if sync:
        directory.fsync()
    logger.debug("wrote %s", directory.join(target))


def rewrite_existing_checksums(directory: Directory, name: str) -> None:
    """Bring every existing checksum file of ``name`` up to date with its content."""
    existing = [
        algorithm
        for algorithm in ALGORITHMS
        if directory.lstat(checksum_name(name, algorithm)) is not None
    ]
    if not existing:
        return
    fd = directory.open(name, _READ_FLAGS, 0)
    try:
        for algorithm in existing:
            write_checksum(directory, name, fd, algorithm, sync=True)
    finally:
        os.close(fd)


def verify(path: str | os.PathLike[str], algorithm: str = DEFAULT_ALGORITHM) -> bool:
    """Check ``path`` against the checksum in ``<path>.sha256``.

    The checksum file is the one :class:`~atomicopen.hooks.Checksum` writes
    after each commit, in the format of ``sha256sum``.

    :param algorithm: the algorithm, which is also the checksum file's suffix.
    :returns: ``True`` if the content matches, ``False`` if it was changed
        since the checksum was written.
    :raises FileNotFoundError: if ``path`` or its checksum file is missing.
    :raises AtomicOpenError: if the checksum file is malformed.

    Example::

        if not verify("config.json"):
            restore_backup("config.json")
    """
    check_algorithm(algorithm)
    directory_path, name = resolve_target(os.fspath(path), follow_symlinks=True)
    file_path = os.path.join(directory_path, name)
    if not os.path.lexists(file_path):
        raise FileNotFoundError(errno.ENOENT, "No such file to verify", file_path)
    checksum_path = os.path.join(directory_path, checksum_name(name, algorithm))
    try:
        with open(checksum_path, "rb") as file:
            text = os.fsdecode(file.read())
    except FileNotFoundError as error:
        raise FileNotFoundError(
            errno.ENOENT,
            f"No checksum file for {os.fspath(path)!r}; write one with"
            " atomicopen.hooks.Checksum() or 'atomicopen write --checksum'",
            checksum_path,
        ) from error
    expected, recorded_name = parse_line(text, checksum_path)
    if recorded_name != name:
        raise AtomicOpenError(
            errno.EINVAL,
            f"the checksum file records {recorded_name!r}, not {name!r}, so it"
            f" belongs to another file; write it again with 'atomicopen write"
            " --checksum'",
            checksum_path,
        )
    fd = os.open(os.path.join(directory_path, name), _READ_FLAGS)
    try:
        actual = digest_of(fd, algorithm)
    finally:
        os.close(fd)
    logger.debug("%s: expected %s, found %s", os.fspath(path), expected, actual)
    return actual == expected


def _remove_quietly(directory: Directory, name: str) -> None:
    try:
        directory.unlink(name)
    except FileNotFoundError:
        pass
    except OSError:
        logger.exception("cannot remove the temporary file %s", directory.join(name))
