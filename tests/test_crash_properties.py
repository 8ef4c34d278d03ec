"""Property-based tests: random sequences of commits against a model.

A hypothesis state machine writes, appends, edits, creates with ``"x"`` and
aborts commits on a few files in one directory, with random durability levels
and text or binary modes, and after every step compares each file with a
dictionary of the expected contents and checks that no temporary file and no
descriptor is left. Profiles in conftest.py set the number of examples.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from atomicopen import AtomicFile, atomic_open
from tests.conftest import open_fds, temp_files

NAMES = st.sampled_from(["a.txt", "b.bin", "ü.dat"])
DATA = st.binary(max_size=300)
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=100)
DURABILITY = st.sampled_from(["full", "file", "none"])


class Aborted(Exception):
    """Raised by a rule in the middle of a write."""


def write_then_raise(path: Path, mode: str, data: bytes) -> None:
    with atomic_open(path, mode) as file:
        file.write(data)
        raise Aborted


class CommitSequence(RuleBasedStateMachine):
    """Files in one directory and the contents they must have."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="atomicopen-model-"))
        self.model: dict[str, bytes] = {}
        self.fds = open_fds()

    def teardown(self) -> None:
        shutil.rmtree(self.directory)

    def path(self, name: str) -> Path:
        return self.directory / name

    @rule(name=NAMES, data=DATA, durability=DURABILITY)
    def write(self, name: str, data: bytes, durability: str) -> None:
        with atomic_open(self.path(name), "wb", durability=durability) as file:
            file.write(data)
        self.model[name] = data

    @rule(name=NAMES, text=TEXT, durability=DURABILITY)
    def write_text(self, name: str, text: str, durability: str) -> None:
        path = self.path(name)
        with atomic_open(
            path, "w", encoding="utf-8", newline="", durability=durability
        ) as file:
            file.write(text)
        self.model[name] = text.encode("utf-8")

    @rule(name=NAMES, data=DATA, durability=DURABILITY)
    def append(self, name: str, data: bytes, durability: str) -> None:
        with atomic_open(self.path(name), "ab", durability=durability) as file:
            file.write(data)
        self.model[name] = self.model.get(name, b"") + data

    @rule(name=NAMES, data=DATA, offset=st.integers(0, 400))
    def edit(self, name: str, data: bytes, offset: int) -> None:
        if name not in self.model:
            with pytest.raises(FileNotFoundError):
                atomic_open(self.path(name), "r+b").open()
            return
        with atomic_open(self.path(name), "r+b") as file:
            file.seek(offset)
            file.write(data)
        old = self.model[name]
        if not data:  # seeking alone does not extend a file
            return
        padded = old + b"\0" * max(0, offset - len(old))
        self.model[name] = padded[:offset] + data + padded[offset + len(data) :]

    @rule(name=NAMES, data=DATA)
    def create_exclusive(self, name: str, data: bytes) -> None:
        if name in self.model:
            with pytest.raises(FileExistsError):
                atomic_open(self.path(name), "xb").open()
            return
        with atomic_open(self.path(name), "xb") as file:
            file.write(data)
        self.model[name] = data

    @rule(name=NAMES, data=DATA, mode=st.sampled_from(["wb", "ab", "r+b", "xb"]))
    def raise_mid_write(self, name: str, data: bytes, mode: str) -> None:
        exists = name in self.model
        if (mode == "r+b" and not exists) or (mode == "xb" and exists):
            return
        with pytest.raises(Aborted):
            write_then_raise(self.path(name), mode, data)

    @rule(name=NAMES, data=DATA)
    def discard(self, name: str, data: bytes) -> None:
        atomic = AtomicFile(self.path(name), "wb")
        atomic.open().write(data)
        atomic.discard()

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.model)))
        self.path(name).unlink()
        del self.model[name]

    @invariant()
    def contents_match_model(self) -> None:
        on_disk = {
            entry.name: entry.read_bytes()
            for entry in self.directory.iterdir()
            if not entry.name.startswith(".atomicopen.")
        }
        assert on_disk == self.model

    @invariant()
    def no_temp_files(self) -> None:
        assert temp_files(self.directory) == []

    @invariant()
    def no_leaked_descriptors(self) -> None:
        assert open_fds() == self.fds


TestCommitSequence = CommitSequence.TestCase
