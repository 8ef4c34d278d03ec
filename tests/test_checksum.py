"""The Checksum hook, verify() and 'atomicopen verify'."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

from atomicopen import AtomicOpenError, atomic_write_bytes, restore_backup, verify
from atomicopen._checksum import format_line
from atomicopen._cli import main
from atomicopen.hooks import Checksum
from tests.conftest import require_tool, temp_files

CONTENT = b'{"port": 8080}\n'


@pytest.fixture
def checked(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    atomic_write_bytes(path, CONTENT, hooks=[Checksum()])
    return path


def test_checksum_file_content(checked: Path) -> None:
    digest = hashlib.sha256(CONTENT).hexdigest()
    text = checked.with_name("config.json.sha256").read_text()
    assert text == f"{digest}  config.json\n"


def test_checksum_accepted_by_sha256sum(checked: Path) -> None:
    tool = require_tool("sha256sum")
    result = subprocess.run(
        [tool, "-c", "config.json.sha256"], cwd=checked.parent, check=False
    )
    assert result.returncode == 0


def test_checksum_leaves_no_temp(checked: Path) -> None:
    assert temp_files(checked.parent) == []


def test_verify_matches(checked: Path) -> None:
    assert verify(checked) is True


def test_verify_detects_change_behind_back(checked: Path) -> None:
    with checked.open("r+b") as file:
        file.write(b"[")
    assert verify(checked) is False


def test_verify_after_next_commit(checked: Path) -> None:
    atomic_write_bytes(checked, b"{}", hooks=[Checksum()])
    assert verify(checked) is True


def test_commit_without_hook_makes_stale(checked: Path) -> None:
    atomic_write_bytes(checked, b"{}")
    assert verify(checked) is False


def test_verify_missing_checksum_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="No checksum file") as caught:
        verify(path)
    assert caught.value.filename == str(path) + ".sha256"


def test_verify_malformed_checksum_file(checked: Path) -> None:
    checked.with_name("config.json.sha256").write_text("not a checksum\n")
    with pytest.raises(AtomicOpenError, match="Malformed checksum file"):
        verify(checked)


@pytest.mark.parametrize("mode", [0o600, 0o640], ids=oct)
def test_checksum_file_never_wider(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret"
    atomic_write_bytes(path, b"x", permissions=mode, hooks=[Checksum()])
    checksum_mode = stat.S_IMODE(path.with_name("secret.sha256").stat().st_mode)
    assert checksum_mode & ~mode == 0


def test_other_algorithm(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    atomic_write_bytes(path, b"x", hooks=[Checksum("sha512")])
    assert verify(path, "sha512") is True


def test_invalid_algorithm() -> None:
    with pytest.raises(ValueError, match=r"'crc32'.*sha256"):
        Checksum("crc32")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain.txt", "abc  plain.txt\n"),
        ("new\nline", "\\abc  new\\nline\n"),
        ("back\\slash", "\\abc  back\\\\slash\n"),
    ],
    ids=["plain", "newline", "backslash"],
)
def test_line_format_escapes(name: str, expected: str) -> None:
    assert format_line("abc", name) == expected


def test_escaped_name_accepted_by_sha256sum(tmp_path: Path) -> None:
    tool = require_tool("sha256sum")
    path = tmp_path / "odd\\name"
    atomic_write_bytes(path, b"x", hooks=[Checksum()])
    result = subprocess.run([tool, "-c", "odd\\name.sha256"], cwd=tmp_path, check=False)
    assert result.returncode == 0


@pytest.mark.parametrize(
    "name",
    ["new\nline", "back\\slash", "caf\u00e9", os.fsdecode(b"x\xff\xfey")],
    ids=["newline", "backslash", "utf-8", "not-utf-8"],
)
def test_odd_name_checksum_verifies(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    atomic_write_bytes(path, b"x", hooks=[Checksum()])
    assert verify(path)


def test_not_utf8_name_accepted_by_sha256sum(tmp_path: Path) -> None:
    tool = require_tool("sha256sum")
    name = b"x\xff\xfey"
    atomic_write_bytes(
        os.path.join(os.fsencode(tmp_path), name), b"x", hooks=[Checksum()]
    )
    result = subprocess.run([tool, "-c", name + b".sha256"], cwd=tmp_path, check=False)
    assert result.returncode == 0


def test_checksum_of_other_file_rejected(tmp_path: Path) -> None:
    other = tmp_path / "other"
    atomic_write_bytes(other, b"same", hooks=[Checksum()])
    path = tmp_path / "v"
    path.write_bytes(b"same")
    (tmp_path / "v.sha256").write_bytes((tmp_path / "other.sha256").read_bytes())
    with pytest.raises(AtomicOpenError, match="records 'other', not 'v'"):
        verify(path)


def test_restore_updates_checksum(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    for content in (b"1", b"2"):
        atomic_write_bytes(path, content, backups=1, hooks=[Checksum()])
    restore_backup(path)
    assert verify(path) is True


# Command line


def test_cli_verify_match(checked: Path) -> None:
    assert main(["verify", str(checked)]) == 0


def test_cli_verify_mismatch(checked: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checked.write_bytes(b"changed")
    status = main(["verify", str(checked)])
    assert status == 1
    assert "does not match" in capsys.readouterr().err


def test_cli_verify_missing(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"x")
    assert main(["verify", str(path)]) == 1


def test_cli_write_checksum(tmp_path: Path) -> None:
    path = tmp_path / "x"
    main(["write", str(path), "--checksum"], stdin=io.BytesIO(b"data"))
    assert verify(path) is True


def test_verify_missing_file_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.txt"
    with pytest.raises(FileNotFoundError, match="No such file to verify") as caught:
        verify(path)
    assert caught.value.filename == str(path)


# Names the directory rejects


def test_long_name_checksum_rejected_before_replace(tmp_path: Path) -> None:
    target = tmp_path / ("a" * 255)
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="checksum file") as raised:
        atomic_write_bytes(target, b"new", hooks=[Checksum()])
    assert raised.value.errno == errno.ENAMETOOLONG
    assert raised.value.filename == str(target)
    assert target.read_bytes() == b"old"
    assert temp_files(tmp_path) == []


def test_cli_long_name_checksum_exits_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / ("a" * 255)
    target.write_bytes(b"old")
    assert main(["write", "--checksum", str(target)], stdin=io.BytesIO(b"new")) == 1
    assert "use a shorter file name" in capsys.readouterr().err
    assert target.read_bytes() == b"old"
