"""Every test that the docs and the README cite as proof exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# "tests/test_x.py::test_name", or "::test_name" for another test of the
# module named just before it.
CITATION = re.compile(r"tests/test_\w+\.py(?:::test_\w+)?|::test_\w+")


def cited_tests() -> list[tuple[str, str, str | None]]:
    """Return (page, module, test name or None) for each citation."""
    pages = [ROOT / "README.rst"]
    pages += [p for p in (ROOT / "docs").rglob("*.rst") if "_build" not in p.parts]
    citations = []
    for page in sorted(pages):
        module = None
        for match in CITATION.finditer(page.read_text()):
            text = match.group(0)
            if text.startswith("tests/"):
                module, _, name = text.partition("::")
                citations.append(
                    (page.relative_to(ROOT).as_posix(), module, name or None)
                )
            elif module is not None:
                citations.append((page.relative_to(ROOT).as_posix(), module, text[2:]))
    return citations


CITATIONS = cited_tests()


def test_docs_cite_tests() -> None:
    assert len(CITATIONS) > 50


@pytest.mark.parametrize(
    ("page", "module", "name"),
    CITATIONS,
    ids=[f"{page}:{module}::{name}" for page, module, name in CITATIONS],
)
def test_cited_test_exists(page: str, module: str, name: str | None) -> None:
    path = ROOT / module
    assert path.exists(), f"{page} cites {module}, which does not exist"
    if name is not None:
        assert re.search(rf"^def {name}\(", path.read_text(), re.MULTILINE), (
            f"{page} cites {module}::{name}, which does not exist"
        )
