"""Temporary file names: form, length limits and uniqueness."""

from __future__ import annotations

import os

import pytest

from atomicopen._names import TEMP_PREFIX, is_temp_name, make_temp_name


@pytest.mark.parametrize(
    ("target", "name_max"),
    [
        ("config.json", 255),
        ("n" * 255, 255),
        ("é" * 127 + "x", 255),
        ("☃" * 85, 255),
        ("😀" * 63 + "abc", 255),
        ("n" * 200, 143),
        ("é" * 100, 143),
    ],
    ids=["short", "ascii-255", "2-byte", "3-byte", "4-byte", "ascii-143", "2-byte-143"],
)
def test_temp_name_fits_name_max(target: str, name_max: int) -> None:
    name = make_temp_name(target, name_max)
    encoded = os.fsencode(name)
    assert len(encoded) <= name_max
    assert name.startswith(TEMP_PREFIX)
    assert is_temp_name(name)
    # The cut never splits a character, so the name is valid UTF-8.
    encoded.decode("utf-8")
    assert target.startswith(name.split(".", 3)[3])


def test_temp_name_too_small_name_max() -> None:
    with pytest.raises(ValueError, match="NAME_MAX of 20 bytes"):
        make_temp_name("x", 20)


@pytest.mark.parametrize(
    "name",
    [
        ".atomicopen.",
        ".atomicopen.0123456789ab",
        ".atomicopen.0123456789AB.x",
        ".atomicopen.0123456789a.x",
        "atomicopen.0123456789ab.x",
        ".atomicopen-0123456789ab.x",
        ".atomicopen.0123456789abc.x",
    ],
)
def test_look_alike_names_not_temp(name: str) -> None:
    assert not is_temp_name(name)


def test_temp_names_unique() -> None:
    names = {make_temp_name("x") for _ in range(20000)}
    assert len(names) == 20000


def test_forked_child_draws_other_names() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write_end, " ".join(make_temp_name("x") for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_names = set(os.read(read_end, 1 << 16).decode().split())
    os.close(read_end)
    parent_names = {make_temp_name("x") for _ in range(50)}
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child_names) == 50
    assert child_names.isdisjoint(parent_names)
