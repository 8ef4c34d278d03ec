"""Commit stages and their order, failing hooks, validation and atomic_write_json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from pytest_mock import MockerFixture

import atomicopen
from atomicopen import (
    AtomicFile,
    AtomicOpenError,
    PostCommitError,
    ValidationError,
    atomic_open,
    atomic_write_json,
)
from atomicopen.hooks import (
    CommitContext,
    CommitHook,
    DirectorySync,
    FileSync,
    Validate,
)
from tests.conftest import temp_files

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

OLD = b"old content\n"


class Boom(Exception):
    """The error a failing test hook raises."""


class FailAt(CommitHook):
    """Raise :class:`Boom` at one stage."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def _maybe_fail(self, stage: str) -> None:
        if stage == self.stage:
            raise Boom(stage)

    def validate(self, context: CommitContext) -> None:
        self._maybe_fail("validate")

    def before_replace(self, context: CommitContext) -> None:
        self._maybe_fail("before_replace")

    def after_replace(self, context: CommitContext) -> None:
        self._maybe_fail("after_replace")


class Recorder(CommitHook):
    """Record what each stage sees."""

    def __init__(self, fsync_calls: list[int] | None = None) -> None:
        self.events: list[tuple[str, bytes, bytes, bytes]] = []
        self.fsync_calls = fsync_calls

    def _record(self, stage: str, context: CommitContext) -> None:
        # After the rename the temporary name is gone; the descriptor remains.
        by_path = (
            b"" if stage == "after_replace" else Path(context.temp_path).read_bytes()
        )
        by_fd = os.pread(context.fd, 1 << 16, 0)
        target = Path(context.path).read_bytes()
        self.events.append((stage, by_path, by_fd, target))

    def validate(self, context: CommitContext) -> None:
        self._record("validate", context)

    def before_replace(self, context: CommitContext) -> None:
        self._record("before_replace", context)

    def after_replace(self, context: CommitContext) -> None:
        self._record("after_replace", context)


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_bytes(OLD)
    return path


# Stage order


def test_stages_run_in_order(target: Path) -> None:
    recorder = Recorder()
    with atomic_open(target, "wb", hooks=[recorder]) as file:
        file.write(b"new")
    assert [event[0] for event in recorder.events] == [
        "validate",
        "before_replace",
        "after_replace",
    ]


@pytest.mark.parametrize(
    ("stage", "expected_target"),
    [("validate", OLD), ("before_replace", OLD), ("after_replace", b"new")],
    ids=["validate", "before_replace", "after_replace"],
)
def test_stage_sees_target(target: Path, stage: str, expected_target: bytes) -> None:
    recorder = Recorder()
    with atomic_open(target, "wb", hooks=[recorder]) as file:
        file.write(b"new")
    seen = {event[0]: event[3] for event in recorder.events}
    assert seen[stage] == expected_target


def test_validate_sees_bytes_by_path(target: Path) -> None:
    recorder = Recorder()
    with atomic_open(target, "w", newline="\r\n", hooks=[recorder]) as file:
        file.write("a\nb\n")
    assert recorder.events[0][1] == b"a\r\nb\r\n"


def test_validate_sees_bytes_by_fd(target: Path) -> None:
    recorder = Recorder()
    with atomic_open(target, "w", newline="\r\n", hooks=[recorder]) as file:
        file.write("a\nb\n")
    assert recorder.events[0][2] == b"a\r\nb\r\n"


def test_validate_runs_before_any_fsync(target: Path, mocker: MockerFixture) -> None:
    fsync = mocker.spy(os, "fsync")
    counts: dict[str, int] = {}

    class CountFsync(CommitHook):
        def validate(self, context: CommitContext) -> None:
            counts["validate"] = fsync.call_count

        def before_replace(self, context: CommitContext) -> None:
            counts["before_replace"] = fsync.call_count

    with atomic_open(target, "wb", hooks=[CountFsync()]) as file:
        file.write(b"new")
    assert counts == {"validate": 0, "before_replace": 1}


@pytest.mark.parametrize(
    ("durability", "expected"),
    [
        ("full", [FileSync, DirectorySync]),
        ("file", [FileSync]),
        ("none", []),
    ],
    ids=["full", "file", "none"],
)
def test_durability_selects_sync_hooks(
    target: Path, durability: str, expected: list[type]
) -> None:
    atomic = AtomicFile(target, durability=durability, hooks=[Recorder()])
    kinds = [type(hook) for hook in atomic._options.hooks]
    assert kinds == [*expected, Recorder]


def test_own_sync_policy_replaces_builtin(target: Path, mocker: MockerFixture) -> None:
    fsync = mocker.spy(os, "fsync")
    synced: list[int] = []

    class SyncOnlyTheFile(CommitHook):
        def before_replace(self, context: CommitContext) -> None:
            os.fsync(context.fd)
            synced.append(context.fd)

    with atomic_open(target, "wb", durability="none", hooks=[SyncOnlyTheFile()]) as f:
        f.write(b"new")
    assert fsync.call_count == len(synced) == 1


# Failing hooks

ABORTING_STAGES = ["validate", "before_replace"]


@pytest.mark.parametrize("stage", ABORTING_STAGES)
def test_failing_hook_reraises(target: Path, stage: str) -> None:
    with (
        pytest.raises(Boom, match=stage),
        atomic_open(target, "wb", hooks=[FailAt(stage)]) as file,
    ):
        file.write(b"new")


@pytest.mark.parametrize("stage", ABORTING_STAGES)
def test_failing_hook_leaves_target(target: Path, stage: str) -> None:
    with pytest.raises(Boom), atomic_open(target, "wb", hooks=[FailAt(stage)]) as f:
        f.write(b"new")
    assert target.read_bytes() == OLD


@pytest.mark.parametrize("stage", ABORTING_STAGES)
def test_failing_hook_removes_temp(target: Path, stage: str) -> None:
    with pytest.raises(Boom), atomic_open(target, "wb", hooks=[FailAt(stage)]) as f:
        f.write(b"new")
    assert os.listdir(target.parent) == [target.name]


@pytest.mark.parametrize("stage", ABORTING_STAGES)
def test_failing_hook_not_committed(target: Path, stage: str) -> None:
    atomic = AtomicFile(target, "wb", hooks=[FailAt(stage)])
    atomic.open().write(b"new")
    with pytest.raises(Boom):
        atomic.commit()
    assert not atomic.committed


def test_failing_after_replace_is_post_commit(target: Path) -> None:
    with (
        pytest.raises(PostCommitError, match="has the new content") as caught,
        atomic_open(target, "wb", hooks=[FailAt("after_replace")]) as file,
    ):
        file.write(b"new")
    assert isinstance(caught.value.__cause__, Boom)


def test_failing_after_replace_keeps_new(target: Path) -> None:
    with (
        pytest.raises(PostCommitError),
        atomic_open(target, "wb", hooks=[FailAt("after_replace")]) as file,
    ):
        file.write(b"new")
    assert target.read_bytes() == b"new"


def test_failing_after_replace_no_temp(target: Path) -> None:
    with (
        pytest.raises(PostCommitError),
        atomic_open(target, "wb", hooks=[FailAt("after_replace")]) as file,
    ):
        file.write(b"new")
    assert temp_files(target.parent) == []


def test_post_commit_error_names_path(target: Path) -> None:
    with (
        pytest.raises(PostCommitError) as caught,
        atomic_open(target, "wb", hooks=[FailAt("after_replace")]) as file,
    ):
        file.write(b"new")
    assert caught.value.filename == str(target)


# validate=

INVALID = {
    "json": (b'{"port": 80,}', json.JSONDecodeError),
    "toml": (b"port = = 80\n", tomllib.TOMLDecodeError),
}


@pytest.mark.parametrize("kind", sorted(INVALID))
def test_invalid_content_raises(target: Path, kind: str) -> None:
    content, _ = INVALID[kind]
    with (
        pytest.raises(ValidationError, match=kind.upper()),
        atomic_open(target, "wb", validate=kind) as file,
    ):
        file.write(content)


@pytest.mark.parametrize("kind", sorted(INVALID))
def test_invalid_content_never_live(target: Path, kind: str) -> None:
    content, _ = INVALID[kind]
    with pytest.raises(ValidationError), atomic_open(target, "wb", validate=kind) as f:
        f.write(content)
    assert target.read_bytes() == OLD


@pytest.mark.parametrize("kind", sorted(INVALID))
def test_invalid_content_no_files_left(target: Path, kind: str) -> None:
    content, _ = INVALID[kind]
    with (
        pytest.raises(ValidationError),
        atomic_open(target, "wb", validate=kind, backups=2) as file,
    ):
        file.write(content)
    assert os.listdir(target.parent) == [target.name]


@pytest.mark.parametrize("kind", sorted(INVALID))
def test_invalid_content_chains_parser_error(target: Path, kind: str) -> None:
    content, parser_error = INVALID[kind]
    with (
        pytest.raises(ValidationError) as caught,
        atomic_open(target, "wb", validate=kind) as file,
    ):
        file.write(content)
    assert isinstance(caught.value.__cause__, parser_error)


def test_validation_error_names_path(target: Path) -> None:
    with (
        pytest.raises(ValidationError) as caught,
        atomic_open(target, validate="json") as file,
    ):
        file.write("{")
    assert caught.value.filename == str(target)


@pytest.mark.parametrize(
    "base", [ValueError, AtomicOpenError, OSError], ids=lambda base: base.__name__
)
def test_validation_error_bases(base: type) -> None:
    assert issubclass(ValidationError, base)


@pytest.mark.parametrize(
    ("kind", "content"),
    [("json", '{"port": 80}\n'), ("toml", "port = 80\n")],
    ids=["json", "toml"],
)
def test_valid_content_commits(target: Path, kind: str, content: str) -> None:
    with atomic_open(target, validate=kind) as file:
        file.write(content)
    assert target.read_text() == content


def test_json_validation_of_new_file(tmp_path: Path) -> None:
    path = tmp_path / "new.json"
    with pytest.raises(ValidationError), atomic_open(path, validate="json") as file:
        file.write("nope")
    assert not path.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_validation_rejects_non_finite(target: Path, constant: str) -> None:
    with (
        pytest.raises(ValidationError, match=f"{constant} is not valid JSON"),
        atomic_open(target, "w", validate="json") as file,
    ):
        file.write(f'{{"value": {constant}}}')
    assert target.read_bytes() == OLD


def test_callable_validator_rejects_by_false(target: Path) -> None:
    with (
        pytest.raises(ValidationError, match="rejected"),
        atomic_open(target, "wb", validate=lambda path: False) as file,
    ):
        file.write(b"new")
    assert target.read_bytes() == OLD


def test_callable_validator_error_chained(target: Path) -> None:
    def no_tabs(path: str) -> None:
        if b"\t" in Path(path).read_bytes():
            raise ValueError("tabs are not allowed")

    with (
        pytest.raises(ValidationError, match="tabs are not allowed") as caught,
        atomic_open(target, "wb", validate=no_tabs) as file,
    ):
        file.write(b"a\tb")
    assert isinstance(caught.value.__cause__, ValueError)


def test_callable_validator_error_message(target: Path) -> None:
    def no_tabs(path: str) -> None:
        raise ValueError("tabs are not allowed")

    with (
        pytest.raises(ValidationError) as caught,
        atomic_open(target, "wb", validate=no_tabs) as file,
    ):
        file.write(b"a\tb")
    message = str(caught.value)
    assert "rejected the new content" in message
    assert "with ValueError: tabs are not allowed" in message
    assert "invalid validator" not in message


def test_callable_validator_gets_temp_path(target: Path) -> None:
    seen: list[str] = []
    with atomic_open(target, "wb", validate=seen.append) as file:
        file.write(b"new")
    assert os.path.basename(seen[0]).startswith(".atomicopen.")


@pytest.mark.parametrize("move", ["chdir", "rename-directory"])
def test_validator_reads_file_being_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, move: str
) -> None:
    # The rename goes through the directory's descriptor, so the validator
    # must read through it too, not through a path that may now lead elsewhere.
    directory = tmp_path / "config"
    directory.mkdir()
    monkeypatch.chdir(tmp_path)
    atomic = AtomicFile(os.path.join("config", "app.json"), validate="json")
    atomic.open().write("{broken")
    temp_path = str(atomic.temp_path)
    if move == "chdir":
        (tmp_path / "elsewhere" / "config").mkdir(parents=True)
        monkeypatch.chdir(tmp_path / "elsewhere")
    else:
        directory.rename(tmp_path / "moved")
        directory.mkdir()
    # A valid decoy at the path the temporary file had when it was opened.
    with open(temp_path, "w") as decoy:
        decoy.write("{}")
    with pytest.raises(ValidationError, match="invalid JSON"):
        atomic.commit()
    assert not (tmp_path / "moved" / "app.json").exists()
    assert not (tmp_path / "config" / "app.json").exists()


def test_callable_validator_accepts(target: Path) -> None:
    with atomic_open(target, "wb", validate=lambda path: True) as file:
        file.write(b"new")
    assert target.read_bytes() == b"new"


def test_unknown_validator_names_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'yaml'.*'json', 'toml'"):
        atomic_open(tmp_path / "a.yaml", validate="yaml")


def test_unknown_validator_touches_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="yaml"):
        atomic_open(tmp_path / "a.yaml", validate="yaml")
    assert os.listdir(tmp_path) == []


def test_validator_of_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="42"):
        AtomicFile(tmp_path / "a", validate=42)  # type: ignore[arg-type]


def test_toml_without_parser(mocker: MockerFixture) -> None:
    mocker.patch.dict(sys.modules, {"tomllib": None, "tomli": None})
    with pytest.raises(ModuleNotFoundError, match="pip install tomli"):
        Validate("toml")


def test_validate_hook_repr() -> None:
    assert repr(Validate("json")) == "Validate('json')"


# atomic_write_json


def test_write_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    atomic_write_json(path, {"b": [1, 2], "a": None})
    assert json.loads(path.read_text()) == {"b": [1, 2], "a": None}


def test_write_json_format(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    atomic_write_json(path, {"b": 1, "a": 2}, sort_keys=True)
    assert path.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'


def test_write_json_passes_dumps_options(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    atomic_write_json(path, {"when": {1, 2}}, indent=None, default=sorted)
    assert path.read_text() == '{"when": [1, 2]}\n'


def test_write_json_passes_open_options(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    atomic_write_json(path, 1)
    atomic_write_json(path, 2, backups=1, permissions=0o600)
    assert (tmp_path / "data.json.1").read_text() == "1\n"


def test_write_json_unencodable_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="set"):
        atomic_write_json(tmp_path / "data.json", {"a": {1}})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_write_json_non_finite_leaves_nothing(tmp_path: Path, value: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        atomic_write_json(tmp_path / "data.json", {"value": value})
    assert os.listdir(tmp_path) == []


def test_write_json_allow_nan_opt_in(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "data.json", [float("nan")], allow_nan=True)
    assert (tmp_path / "data.json").read_text() == "[\n  NaN\n]\n"


def test_write_json_circular_leaves_target(target: Path) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"[Cc]ircular"):
        atomic_write_json(target, loop)
    assert os.listdir(target.parent) == [target.name]


def test_public_names_exported() -> None:
    names = {"ValidationError", "atomic_write_json", "restore_backup", "verify"}
    assert names <= set(atomicopen.__all__)


def test_post_commit_error_message_readable(target: Path) -> None:
    with (
        pytest.raises(PostCommitError) as caught,
        atomic_open(target, "wb", hooks=[FailAt("after_replace")]) as file,
    ):
        file.write(b"new")
    assert str(caught.value).startswith(repr(str(target)) + " has the new content")
