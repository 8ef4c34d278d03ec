"""The functions most callers use: atomic_open() and the one-shot writers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ._core import AtomicFile, PathLike
from ._locking import Lockable
from ._validators import Validator
from .hooks import CommitHook

__all__ = [
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
]

# Keyword arguments of json.dumps() that atomic_write_json() passes on; the
# others go to atomic_open().
_JSON_OPTIONS = frozenset(
    {"skipkeys", "ensure_ascii", "check_circular", "allow_nan", "cls", "separators"}
    | {"default"}
)


def atomic_open(
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
) -> AtomicFile:
    """Open ``file`` for an atomic replace; use the result in a ``with`` block.

    The ``with`` statement yields a writable file object on a temporary file in
    the target's directory. A clean exit flushes, syncs and renames it over
    ``file``, then syncs the directory. An exception, :class:`KeyboardInterrupt`
    included, removes the temporary file, leaves ``file`` as it was and
    propagates. The options are those of :class:`AtomicFile`; ``lock=True``
    makes a read-modify-write in mode ``"r+"`` or ``"a"`` exclusive.

    :returns: an :class:`AtomicFile` that is not opened yet.

    Example::

        with atomic_open("state.txt") as f:
            f.write("ready\\n")
    """
    # Calling the class with keywords packs them into a dictionary for
    # type.__call__(), about 0.8 us of 2.7 us on CPython 3.11. The bound
    # __init__() takes them as they are.
    atomic = AtomicFile.__new__(AtomicFile)
    atomic.__init__(  # type: ignore[misc]
        file,
        mode,
        buffering=buffering,
        encoding=encoding,
        errors=errors,
        newline=newline,
        durability=durability,
        permissions=permissions,
        follow_symlinks=follow_symlinks,
        allow_hard_links=allow_hard_links,
        on_dir_sync_unsupported=on_dir_sync_unsupported,
        replace_timeout=replace_timeout,
        hooks=hooks,
        lock=lock,
        lock_timeout=lock_timeout,
        backups=backups,
        validate=validate,
    )
    return atomic


def atomic_write_text(
    path: PathLike, text: str, *, encoding: str = "utf-8", **options: Any
) -> None:
    """Replace ``path``'s content with ``text`` atomically.

    :param options: the keyword options of :func:`atomic_open`.
    :raises TypeError: if ``text`` is not a :class:`str`.

    Example::

        atomic_write_text("motd.txt", "Maintenance at 18:00 UTC\\n")
    """
    if not isinstance(text, str):
        raise TypeError(
            f"text must be a str, not {type(text).__name__}; use"
            " atomic_write_bytes() for bytes"
        )
    with atomic_open(path, "w", encoding=encoding, **options) as file:
        file.write(text)


def atomic_write_bytes(path: PathLike, data: bytes, **options: Any) -> None:
    """Replace ``path``'s content with ``data`` atomically.

    :param data: a bytes-like object.
    :param options: the keyword options of :func:`atomic_open`.

    Example::

        atomic_write_bytes("blob.bin", b"\\x00\\x01")
    """
    if isinstance(data, str):  # type: ignore[unreachable]
        raise TypeError("data must be bytes, not str; use atomic_write_text() for text")
    with atomic_open(path, "wb", **options) as file:
        file.write(data)


def atomic_write_json(
    path: PathLike,
    obj: Any,
    *,
    indent: int | str | None = 2,
    sort_keys: bool = False,
    **options: Any,
) -> None:
    """Replace ``path`` with ``obj`` serialized as JSON, atomically.

    The whole object is serialized before any file is created, so an object
    that :mod:`json` cannot encode raises and leaves nothing behind. The file
    is UTF-8 and ends with a newline.

    :param indent: as for :func:`json.dumps`; ``None`` for one line.
    :param sort_keys: as for :func:`json.dumps`.
    :param options: ``skipkeys``, ``ensure_ascii``, ``check_circular``,
        ``allow_nan``, ``cls``, ``separators`` and ``default`` go to
        :func:`json.dumps`; the others are the keyword options of
        :func:`atomic_open`, such as ``backups=3``.
    :raises TypeError: if ``obj`` contains a value that JSON cannot encode.
    :raises ValueError: for a circular reference, or for NaN and infinite
        floats, which JSON has no form for, unless ``allow_nan=True``.

    Example::

        atomic_write_json("config.json", {"debug": False}, backups=3)
    """
    json_options = {key: options.pop(key) for key in _JSON_OPTIONS & options.keys()}
    # NaN and Infinity are not JSON (RFC 8259), and strict parsers reject them.
    json_options.setdefault("allow_nan", False)
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, **json_options)
    atomic_write_text(path, text + "\n", **options)
