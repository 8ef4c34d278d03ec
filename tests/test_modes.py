"""Mode strings: what atomic_open accepts, and what it rejects before any I/O."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atomicopen import atomic_open
from atomicopen._modes import parse_mode


@pytest.mark.parametrize(
    ("mode", "kind", "binary", "readable", "file_object_mode"),
    [
        ("w", "w", False, False, "w"),
        ("wt", "w", False, False, "w"),
        ("wb", "w", True, False, "wb"),
        ("bw", "w", True, False, "wb"),
        ("w+", "w", False, True, "w+"),
        ("wb+", "w", True, True, "w+b"),
        ("w+b", "w", True, True, "w+b"),
        ("x", "x", False, False, "w"),
        ("xb", "x", True, False, "wb"),
        ("a", "a", False, False, "a"),
        ("ab", "a", True, False, "ab"),
        ("a+", "a", False, True, "a+"),
        ("r+", "r", False, True, "r+"),
        ("rb+", "r", True, True, "r+b"),
    ],
)
def test_parse_mode_accepts(
    mode: str, kind: str, binary: bool, readable: bool, file_object_mode: str
) -> None:
    parsed = parse_mode(mode)
    assert parsed.kind == kind
    assert parsed.binary is binary
    assert parsed.readable is readable
    assert sorted(parsed.file_object_mode) == sorted(file_object_mode)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("r", "read-only"),
        ("rb", "read-only"),
        ("rt", "read-only"),
        ("", "invalid mode"),
        ("q", "invalid mode"),
        ("ww", "invalid mode"),
        ("wa", "invalid mode"),
        ("rw", "invalid mode"),
        ("wbt", "invalid mode"),
        ("w++", "invalid mode"),
        ("U", "invalid mode"),
        ("wU", "invalid mode"),
    ],
)
def test_bad_mode_rejected_before_disk(tmp_path: Path, mode: str, message: str) -> None:
    target = tmp_path / "file.txt"
    with pytest.raises(ValueError, match=message) as raised:
        atomic_open(target, mode).open()
    assert repr(mode) in str(raised.value)
    assert os.listdir(tmp_path) == []


def test_non_string_mode_rejected(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="mode must be a str"):
        atomic_open(tmp_path / "file", 0o644)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"durability": "always"}, ValueError, "invalid durability 'always'"),
        ({"permissions": 0o10000}, ValueError, "invalid permissions"),
        ({"permissions": -1}, ValueError, "invalid permissions"),
        ({"permissions": "644"}, TypeError, "permissions must be an int"),
        ({"encoding": "no-such-codec"}, LookupError, "no-such-codec"),
        ({"newline": "\t"}, ValueError, "invalid newline"),
        ({"buffering": 0}, ValueError, "cannot be unbuffered"),
        ({"buffering": "big"}, TypeError, "buffering must be an int"),
        ({"replace_timeout": -1}, ValueError, "invalid replace_timeout"),
        (
            {"on_dir_sync_unsupported": "ignore"},
            ValueError,
            "invalid on_dir_sync_unsupported 'ignore'",
        ),
        ({"hooks": "fsync"}, TypeError, "hooks must be an iterable"),
        ({"hooks": [object()]}, TypeError, "invalid commit hook"),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else None,
)
def test_bad_option_rejected_before_disk(
    tmp_path: Path, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        atomic_open(tmp_path / "file.txt", "w", **options).open()  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("option", ["encoding", "errors", "newline"])
def test_text_option_rejected_in_binary_mode(tmp_path: Path, option: str) -> None:
    values = {"newline": "\n", "encoding": "utf-8", "errors": "strict"}
    value = values[option]
    with pytest.raises(ValueError, match=f"takes no {option} argument"):
        atomic_open(tmp_path / "file.bin", "wb", **{option: value})  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []
