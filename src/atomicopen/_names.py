"""Names of temporary files.

A temporary file is called ``.atomicopen.<12 hex digits>.<target name>``. The
leading dot hides it from ``ls`` and shell globs, the fixed prefix lets a cleanup
tool recognise it, and the random part keeps writers from colliding. The target
name is cut so that the whole name fits in the directory's ``NAME_MAX``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

TEMP_PREFIX = ".atomicopen."
RANDOM_HEX_DIGITS = 12
TEMP_NAME_PATTERN = re.compile(
    r"\A" + re.escape(TEMP_PREFIX) + rf"[0-9a-f]{{{RANDOM_HEX_DIGITS}}}\.", re.DOTALL
)

# The random part comes from os.urandom(), read 1 KiB at a time and cut into
# names ahead of use, so a name costs one next() and no system call. The next
# names stay unpredictable, because a local user who could predict them could
# create them first and make every attempt of a writer fail. next() on a list
# iterator needs no lock: under the GIL no two threads draw the same digits,
# and where a free-threaded build lets them, the second create fails with
# EEXIST and draws again. A forked child drops the pool it inherited, so that
# parent and child never draw the same digits.
_POOL_BYTES = 1024  # 170 names, about 10 KiB of strings
_pool: Iterator[str] = iter(())


def _reset_pool_after_fork() -> None:
    global _pool  # noqa: PLW0603 - the pool is per process
    _pool = iter(())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_pool_after_fork)


def _random_hex() -> str:
    try:
        return next(_pool)
    except StopIteration:
        return _refill_pool()


def _refill_pool() -> str:
    """Fill the pool anew and return its first digits.

    Threads that find the pool empty at once each fill one; the pool that is
    stored last stays, and the others' unused digits are dropped.
    """
    global _pool  # noqa: PLW0603 - the pool is per process
    digits = os.urandom(_POOL_BYTES).hex()
    width = RANDOM_HEX_DIGITS
    names = [digits[i : i + width] for i in range(0, len(digits) - width + 1, width)]
    _pool = iter(names)
    return next(_pool)


# NAME_MAX of ext4, XFS, Btrfs, tmpfs and most others. A file system with a
# smaller limit (eCryptfs has 143) makes the create fail with ENAMETOOLONG, and
# only then is the directory's real limit looked up.
COMMON_NAME_MAX = 255


# A character encodes to at most 4 bytes in UTF-8 and in GB18030, the widest
# locale encodings, so a name this short fits without encoding it to measure.
_MAX_BYTES_PER_CHARACTER = 4


def make_temp_name(target_name: str, name_max: int = COMMON_NAME_MAX) -> str:
    """Return a new random temporary name for ``target_name``.

    The name is ``name_max`` bytes long at most.

    :raises ValueError: if ``name_max`` leaves no room for the prefix.
    """
    head = TEMP_PREFIX + _random_hex() + "."
    room = name_max - len(head)
    if room < 0:
        raise ValueError(
            f"the directory's NAME_MAX of {name_max} bytes cannot hold a temporary"
            f" name, which needs at least {len(head)} bytes"
        )
    if len(target_name) * _MAX_BYTES_PER_CHARACTER <= room:
        return head + target_name
    return head + _truncate(target_name, room)


def is_temp_name(name: str) -> bool:
    """Tell whether ``name`` has the form of an atomicopen temporary file name."""
    return TEMP_NAME_PATTERN.match(name) is not None


def _truncate(name: str, max_bytes: int) -> str:
    """Cut ``name`` to at most ``max_bytes`` bytes in the file system encoding.

    The cut never splits a UTF-8 sequence, so the result stays readable.
    """
    encoded = os.fsencode(name)
    if len(encoded) <= max_bytes:
        return name
    cut = encoded[:max_bytes]
    # Drop a multi-byte UTF-8 sequence that the cut left incomplete.
    end = len(cut)
    while end > 0 and 0x80 <= cut[end - 1] <= 0xBF:
        end -= 1
    if end > 0 and cut[end - 1] >= 0xC0:
        lead = cut[end - 1]
        if lead >= 0xF0:
            sequence_length = 4
        elif lead >= 0xE0:
            sequence_length = 3
        else:
            sequence_length = 2
        if len(cut) - (end - 1) < sequence_length:
            cut = cut[: end - 1]
    return os.fsdecode(cut)
