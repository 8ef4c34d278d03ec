"""The README's commands and the CI script agree, so CI runs what users run."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

import atomicopen

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: sh\n\n((?:    .*\n)+)", text)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_ci_runs_readme_test_command() -> None:
    test_commands = [command for command in readme_commands() if "pytest" in command]
    assert len(test_commands) == 1
    assert test_commands[0] in (ROOT / ".ci" / "run").read_text()


def test_ci_installs_readme_system_packages() -> None:
    install_commands = [c for c in readme_commands() if c.startswith("apt-get")]
    assert len(install_commands) == 1
    assert install_commands[0] in (ROOT / ".ci" / "run").read_text()


def test_readme_quick_start_uses_write_command() -> None:
    assert any("atomicopen write" in command for command in readme_commands())


def test_public_names_sorted_and_present() -> None:
    assert atomicopen.__all__ == sorted(atomicopen.__all__)
    for name in atomicopen.__all__:
        assert hasattr(atomicopen, name), name


def test_typed_marker_shipped() -> None:
    assert (Path(atomicopen.__file__).parent / "py.typed").exists()


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [textwrap.dedent(block) for block in blocks]


def test_readme_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = readme_python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "README.rst", "exec"), {})  # noqa: S102 - our own README
    assert (tmp_path / "config.ini").read_text() == "[server]\nport = 8080\n"
    assert json.loads((tmp_path / "counters.json").read_text()) == {"runs": 1}
