"""The functions most callers use: atomic_open() and the one-shot writers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._core import AtomicFile, PathLike
from ._locking import Lockable
from .hooks import CommitHook

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text"]


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
    return AtomicFile(
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
    )


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
