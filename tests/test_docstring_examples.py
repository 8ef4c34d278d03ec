"""The ``Example::`` blocks of the public docstrings run as written.

The Sphinx doctest builder runs the ``>>>`` examples; these are the plain
code blocks, which read better for multi-line code, so the suite runs them.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import textwrap
from pathlib import Path

import pytest

import atomicopen
from atomicopen import hooks

EXAMPLE = re.compile(r"Example::\n\n((?:[ \t]+.*\n|\n)+)")


def public_objects() -> list[tuple[str, object]]:
    objects: list[tuple[str, object]] = []
    for module, names in ((atomicopen, atomicopen.__all__), (hooks, hooks.__all__)):
        for name in names:
            value = getattr(module, name)
            objects.append((f"{module.__name__}.{name}", value))
            if inspect.isclass(value):
                for member_name, member in vars(value).items():
                    if callable(member) and not member_name.startswith("_"):
                        objects.append(
                            (f"{module.__name__}.{name}.{member_name}", member)
                        )
    return objects


def examples() -> list[tuple[str, str]]:
    found = []
    for name, value in public_objects():
        for block in EXAMPLE.findall((inspect.getdoc(value) or "") + "\n"):
            found.append((name, textwrap.dedent(block)))
    return found


EXAMPLES = examples()


def test_examples_found() -> None:
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_docstring_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: str
) -> None:
    monkeypatch.chdir(tmp_path)
    # What the examples take for granted: a config file with a backup and a
    # checksum, and directories to write into.
    atomicopen.atomic_write_json("config.json", {"debug": True})
    atomicopen.atomic_write_json(
        "config.json", {"debug": False}, backups=1, hooks=[hooks.Checksum()]
    )
    (tmp_path / "site").mkdir()
    (tmp_path / "data").mkdir()
    namespace: dict[str, object] = {
        **{key: getattr(atomicopen, key) for key in atomicopen.__all__},
        **{key: getattr(hooks, key) for key in hooks.__all__},
        "json": json,
        "os": os,
        "pages": {"index.html": "<h1>Hello</h1>\n"},
        "text": "title = 'example'\n",
        "config": {"debug": False},
        "weights": b"\x00\x01",
    }
    exec(compile(code, name, "exec"), namespace)  # noqa: S102 - our own docstrings
