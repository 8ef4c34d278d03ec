"""Checks of a temporary file's content for ``validate=``: JSON, TOML or a callable."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

__all__ = ["VALIDATOR_NAMES", "Validator", "load_validator"]

# A validator takes the temporary file's path and raises, or returns False, to
# reject the content.
Validator = Callable[[str], object]

VALIDATOR_NAMES = ("json", "toml")


def load_validator(spec: object) -> tuple[str, Validator]:
    """Return a description and the function that checks a file for ``spec``.

    :param spec: ``"json"``, ``"toml"`` or a callable that takes a path.
    :raises ValueError: for an unknown name.
    :raises TypeError: for anything else that is not callable.
    :raises ModuleNotFoundError: for ``"toml"`` without :mod:`tomllib` or tomli.
    """
    if isinstance(spec, str):
        if spec == "json":
            return "JSON", _check_json
        if spec == "toml":
            return "TOML", _toml_checker()
        raise ValueError(
            f"invalid validate value {spec!r}: use 'json', 'toml' or a callable"
            " that takes the temporary file's path"
        )
    if callable(spec):
        return f"validator {spec!r}", spec
    raise TypeError(
        f"validate must be 'json', 'toml' or a callable that takes a path, not {spec!r}"
    )


def _check_json(path: str) -> None:
    # json.loads detects UTF-8, UTF-16 and UTF-32 in bytes, as RFC 8259 allows.
    with open(path, "rb") as file:
        json.loads(file.read(), parse_constant=_reject_constant)


def _reject_constant(name: str) -> None:
    # Python's json module accepts NaN, Infinity and -Infinity, but RFC 8259
    # has no such values and strict parsers such as jq and JavaScript reject them.
    raise ValueError(f"{name} is not valid JSON: use null or a finite number")


def _toml_checker() -> Validator:
    parser = _toml_module()

    def check_toml(path: str) -> None:
        with open(path, "rb") as file:
            parser.load(file)

    return check_toml


def _toml_module() -> Any:
    # tomllib is in the standard library from Python 3.11; tomli is the same
    # parser packaged for older versions.
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ModuleNotFoundError(
        "validate='toml' needs tomllib (Python 3.11 or later) or the tomli"
        " package: install it with 'pip install tomli'",
        name="tomli",
    )
