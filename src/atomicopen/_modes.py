"""Parsing and checking of ``mode`` strings."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

_KINDS = "wxar"


@dataclass(frozen=True)
class Mode:
    """A checked ``mode`` string.

    :ivar kind: ``"w"``, ``"x"``, ``"a"`` or ``"r"``.
    :ivar binary: the file object takes bytes.
    :ivar readable: ``"+"`` was given, so the file object can also read.
    """

    text: str
    kind: str
    binary: bool
    readable: bool
    # Derived once here, because every commit reads them.
    copies_existing: bool = field(init=False)
    """Whether the temporary file starts as a copy of the current content."""
    raw_mode: str = field(init=False)
    """The mode of the :class:`io.FileIO` under the file object."""
    file_object_mode: str = field(init=False)
    """The mode that :func:`io.open` gets for the temporary file's descriptor."""

    def __post_init__(self) -> None:
        kind = "w" if self.kind == "x" else self.kind
        raw_mode = kind + ("+" if self.readable else "")
        derived = {
            "copies_existing": self.kind in "ar",
            "raw_mode": raw_mode,
            "file_object_mode": raw_mode + ("b" if self.binary else ""),
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def parse_mode(mode: object) -> Mode:
    """Check ``mode`` and split it into its parts.

    Accepts what :func:`open` accepts for writing: ``"w"``, ``"x"``, ``"a"`` or
    ``"r+"``, each with optional ``"b"`` or ``"t"`` and ``"+"``, in any order.

    :raises TypeError: if ``mode`` is not a string.
    :raises ValueError: if ``mode`` is malformed or does not allow writing.
    """
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str such as 'w' or 'wb', not {mode!r}")
    return _parse_mode_text(mode)


# A program uses a handful of mode strings, and Mode is immutable, so each
# string is parsed once.
@functools.lru_cache(maxsize=64)
def _parse_mode_text(mode: str) -> Mode:
    letters = set(mode)
    kinds = [letter for letter in mode if letter in _KINDS]
    malformed = (
        len(letters) != len(mode)
        or not letters <= set(_KINDS + "bt+")
        or len(kinds) != 1
        or {"b", "t"} <= letters
    )
    if malformed:
        raise ValueError(
            f"invalid mode {mode!r}: use 'w', 'x', 'a' or 'r+', optionally with"
            " 'b' for bytes and '+' for reading too"
        )
    kind = kinds[0]
    readable = "+" in letters
    if kind == "r" and not readable:
        raise ValueError(
            f"mode {mode!r} is read-only, and atomic_open only writes: use 'r+' to"
            " edit the current content, or plain open() to read"
        )
    return Mode(text=mode, kind=kind, binary="b" in letters, readable=readable)
