"""Sphinx configuration of the atomicopen documentation.

Build it with ``nox -s docs`` or ``tox -e docs``. Both run the HTML and the
doctest builders with ``-W -n``, so a warning or a broken cross-reference
fails the build.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "src"))

import atomicopen  # noqa: E402 - needs the path above when not installed

project = "atomicopen"
author = "The atomicopen developers"
copyright = "the atomicopen developers"
release = atomicopen.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinxarg.ext",
]

exclude_patterns = ["_build"]
nitpicky = True
# Names in signatures that have no page to link to: private modules' type
# aliases and classes that the public API mentions but does not export.
nitpick_ignore = [
    ("py:class", "atomicopen._core.PathLike"),
    ("py:class", "PathLike"),
    ("py:class", "Directory"),
    ("py:class", "atomicopen._directory.Directory"),
    # atomicopen.hooks's module docstring names CommitContext's fields, which
    # the class documents as :ivar: fields, and those have no link targets.
    ("py:attr", "CommitContext.temp_path"),
    ("py:attr", "CommitContext.fd"),
    # portalocker publishes no Sphinx inventory that this offline build could
    # load, so its names in docstrings and pages stay unlinked text.
    ("py:class", "portalocker.RedisLock"),
]

html_theme = "furo"
html_title = f"atomicopen {release}"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

# Intersphinx without the network. This machine and CI reach package
# registries only, so objects.inv cannot be fetched from docs.python.org.
# _inventories/python3.11.inv is the inventory that Debian's python3.11-doc
# package (3.11.2) installs as /usr/share/doc/python3.11/html/objects.inv,
# committed so that the build needs no package and no network. Links still
# point to docs.python.org. To refresh it, install a newer pythonX.Y-doc and
# copy that file over this one.
intersphinx_mapping = {
    "python": (
        "https://docs.python.org/3",
        str(DOCS / "_inventories" / "python3.11.inv"),
    ),
}

# Every doctest group runs in a fresh empty directory, so examples can write
# relative paths such as "config.ini" and leave nothing behind.
doctest_global_setup = f"""
import os as _os
import tempfile as _tempfile
from pathlib import Path

EXAMPLES = Path({str(DOCS / "examples")!r})
_previous_directory = _os.getcwd()
_scratch = _tempfile.TemporaryDirectory(prefix="atomicopen-docs-")
_os.chdir(_scratch.name)
"""
doctest_global_cleanup = """
_os.chdir(_previous_directory)
_scratch.cleanup()
"""
# Sphinx's default flags include IGNORE_EXCEPTION_DETAIL; without it, an
# example's error message is checked too, so a changed message fails the build.
doctest_default_flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
