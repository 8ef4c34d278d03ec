"""Locked read-modify-write of a whole file: update_json() and update_text()."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from ._core import AtomicFile, PathLike
from ._errors import InvalidJSONError
from ._locking import Lockable

__all__ = ["update_json", "update_text"]

logger = logging.getLogger(__name__)

# A file that appears or vanishes between two attempts to open it is the work
# of a writer that does not take the lock; a few attempts separate that race
# from a real fault.
_MAX_OPEN_ATTEMPTS = 10


@contextmanager
def update_json(
    path: PathLike,
    *,
    default: Callable[[], Any] = dict,
    lock: bool | Lockable | None = True,
    indent: int | None = 2,
    **options: Any,
) -> Iterator[Any]:
    """Load a JSON document under the lock, let the caller change it, commit it.

    The ``with`` block receives the decoded document, or ``default()`` when
    the file does not exist, and changes it in place. A clean exit writes it
    back atomically as UTF-8 before the lock is released, so concurrent
    updates never lose each other's changes. An exception leaves the file as
    it was.

    :param path: the JSON file.
    :param default: called for the document when the file does not exist.
    :param lock: as for :func:`atomic_open`: ``True`` locks ``<path>.lock``.
    :param indent: passed to :func:`json.dumps`; ``None`` writes one line.
    :param options: other keyword options of :func:`atomic_open`, such as
        ``lock_timeout`` or ``durability``.
    :raises InvalidJSONError: if the file exists but is not valid UTF-8 JSON;
        it is left unchanged.
    :raises TypeError: if the changed document cannot be encoded as JSON;
        the file is left unchanged.

    Example::

        with update_json("counters.json") as counters:
            counters["runs"] = counters.get("runs", 0) + 1
    """
    _reject_options(
        "update_json",
        options,
        ("mode", "encoding", "newline"),
        "it reads and writes UTF-8 JSON, which RFC 8259 requires, in text mode",
    )
    atomic, stream, content = _open_for_update(path, "", lock, "utf-8", options)
    try:
        document = default() if content is None else _decode(content, atomic)
        yield document
        # allow_nan=False: NaN and Infinity are not JSON, so they raise
        # ValueError here and the file keeps its old content.
        try:
            new_text = (
                json.dumps(document, indent=indent, ensure_ascii=False, allow_nan=False)
                + "\n"
            )
        except (TypeError, ValueError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(
                f"{error}; the new content of {os.fsdecode(atomic.path)!r} cannot be"
                " written as JSON, so the file was left unchanged"
            ) from error
        stream.write(new_text)
    except BaseException:
        atomic.discard()
        raise
    atomic.commit()


def update_text(
    path: PathLike,
    function: Callable[[str | None], str],
    *,
    lock: bool | Lockable | None = True,
    **options: Any,
) -> str:
    """Replace a text file's content with ``function(old content)`` under the lock.

    ``function`` receives the current text, or ``None`` when the file does
    not exist, and returns the new text. Line endings reach it as they are in
    the file (``newline=""``), and the text is UTF-8 unless ``encoding`` names
    another codec. If ``function`` raises, the file is left as it was.

    :param options: other keyword options of :func:`atomic_open`.
    :returns: the new text.
    :raises TypeError: if ``function`` returns something other than a
        :class:`str`; the file is left unchanged.

    Example::

        update_text("hosts.allow", lambda old: (old or "") + "ALL: 10.0.0.0/8\\n")
    """
    _reject_options(
        "update_text", options, ("mode",), "it reads and writes text, in mode 'w'"
    )
    encoding = options.pop("encoding", None) or "utf-8"
    newline = options.pop("newline", "")
    atomic, stream, content = _open_for_update(path, newline, lock, encoding, options)
    try:
        old_text = None
        if content is not None:
            old_text = _read_text(content, atomic, encoding, newline)
        new_text = function(old_text)
        if not isinstance(new_text, str):
            raise TypeError(
                f"the update function {function!r} returned"
                f" {type(new_text).__name__}, not str; {atomic.path!r} was left"
                " unchanged"
            )
        stream.write(new_text)
    except BaseException:
        atomic.discard()
        raise
    atomic.commit()
    return new_text


def _reject_options(
    function: str, options: dict[str, Any], names: tuple[str, ...], reason: str
) -> None:
    rejected = [name for name in names if name in options]
    if rejected:
        raise TypeError(
            f"{function}() takes no {' or '.join(rejected)} option: {reason};"
            f" drop {', '.join(f'{name}=' for name in rejected)}"
        )


def _open_for_update(
    path: PathLike,
    newline: str | None,
    lock: bool | Lockable | None,
    encoding: str,
    options: dict[str, Any],
) -> tuple[AtomicFile, IO[str], bytes | None]:
    """Open ``path`` for an update and return its current content, if any.

    An existing file is read under the lock, and the new content is written
    to an empty temporary file. A missing one is created with mode ``"x"``,
    which fails rather than replace a file that another program created
    meanwhile without taking the lock.
    """
    for _ in range(_MAX_OPEN_ATTEMPTS):
        atomic = AtomicFile(
            path, "w", encoding=encoding, newline=newline, lock=lock, **options
        )
        stream = atomic.open()
        try:
            content = atomic._read_target()
        except BaseException:
            atomic.discard()
            raise
        if content is not None:
            return atomic, stream, content
        atomic.discard()
        atomic = AtomicFile(
            path, "x", encoding=encoding, newline=newline, lock=lock, **options
        )
        try:
            stream = atomic.open()
        except FileExistsError:
            logger.debug("%r appeared while this update started; retrying", path)
            continue
        return atomic, stream, None
    raise FileExistsError(
        f"{path!r} kept appearing and vanishing while the update started;"
        " another program changes it without taking the lock"
    )


def _read_text(
    content: bytes, atomic: AtomicFile, encoding: str, newline: str | None
) -> str:
    """Decode ``content`` as a file object with these settings would read it."""
    errors = atomic._options.errors
    reader = io.TextIOWrapper(
        io.BytesIO(content), encoding=encoding, errors=errors, newline=newline
    )
    try:
        return reader.read()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{atomic.path!r} is not valid {encoding} text ({error}); it was left"
            " unchanged: pass the file's encoding, or errors='surrogateescape'"
        ) from error


def _decode(content: bytes, atomic: AtomicFile) -> Any:
    errors = atomic._options.errors or "strict"
    try:
        # utf-8-sig skips a byte order mark, which RFC 8259 lets parsers
        # ignore and which the "json" validator accepts too.
        return json.loads(content.decode("utf-8-sig", errors))
    except ValueError as error:
        # Invalid UTF-8, invalid JSON, or an integer longer than Python
        # converts (sys.get_int_max_str_digits()): all are ValueErrors.
        raise InvalidJSONError(os.fsdecode(atomic.path), str(error)) from error
