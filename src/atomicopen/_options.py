"""Checks of the keyword options, made before anything touches the disk."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._modes import Mode, parse_mode
from .hooks import (
    ON_UNSUPPORTED_CHOICES,
    STAGES,
    Backups,
    CommitHook,
    DirectorySync,
    FileSync,
    Validate,
)

DURABILITY_LEVELS = ("full", "file", "none")
_NEWLINES = (None, "", "\n", "\r", "\r\n")


@dataclass(frozen=True)
class Options:
    """The checked options of one :class:`~atomicopen.AtomicFile`."""

    mode: Mode
    buffering: int
    encoding: str | None
    errors: str | None
    newline: str | None
    durability: str
    permissions: int | None
    follow_symlinks: bool
    allow_hard_links: bool
    replace_timeout: float
    hooks: tuple[CommitHook, ...]
    # The hooks with a method of their own for each stage, in order, picked
    # once here instead of at every commit. The inherited no-op methods of
    # CommitHook are left out.
    validate_hooks: tuple[CommitHook, ...] = field(init=False)
    before_replace_hooks: tuple[CommitHook, ...] = field(init=False)
    after_replace_hooks: tuple[CommitHook, ...] = field(init=False)
    # A FileSync that runs first in before_replace, and a DirectorySync that
    # runs first in after_replace, are left out of the lists above: the commit
    # calls their work directly, and builds a CommitContext only for the
    # hooks that are left.
    sync_file: bool = field(init=False)
    directory_sync: DirectorySync | None = field(init=False)
    uses_context: bool = field(init=False)

    def __post_init__(self) -> None:
        stages = {stage: _stage_hooks(self.hooks, stage) for stage in STAGES}
        before, after = stages["before_replace"], stages["after_replace"]
        sync_file = bool(before) and type(before[0]) is FileSync
        directory_sync = after[0] if after and type(after[0]) is DirectorySync else None
        if sync_file:
            stages["before_replace"] = before[1:]
        if directory_sync is not None:
            stages["after_replace"] = after[1:]
        derived: dict[str, object] = {
            f"{stage}_hooks": hooks for stage, hooks in stages.items()
        }
        derived.update(
            sync_file=sync_file,
            directory_sync=directory_sync,
            uses_context=any(stages.values()),
        )
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def _stage_hooks(hooks: tuple[CommitHook, ...], stage: str) -> tuple[CommitHook, ...]:
    no_op = getattr(CommitHook, stage)
    return tuple(
        hook
        for hook in hooks
        if getattr(hook, stage, None) is not None
        and getattr(type(hook), stage, None) is not no_op
    )


def check_options(
    mode: Mode,
    *,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
    durability: str,
    permissions: int | None,
    follow_symlinks: bool,
    allow_hard_links: bool,
    on_dir_sync_unsupported: str,
    replace_timeout: float,
    hooks: Iterable[CommitHook],
    validate: object = None,
    backups: int = 0,
) -> Options:
    """Check every option and build the commit's hook list.

    :raises TypeError: for an option of the wrong type.
    :raises ValueError: for an invalid value.
    :raises LookupError: for an unknown encoding.
    """
    _check_text_options(mode, buffering, encoding, errors, newline)
    _check_permissions(permissions)
    if isinstance(replace_timeout, bool) or not isinstance(
        replace_timeout, (int, float)
    ):
        raise TypeError(
            f"replace_timeout must be a number of seconds, not {replace_timeout!r}"
        )
    if not replace_timeout >= 0:
        raise ValueError(
            f"invalid replace_timeout {replace_timeout!r}: use 0 or more seconds"
        )
    return Options(
        mode=mode,
        buffering=buffering,
        encoding=encoding,
        errors=errors,
        newline=newline,
        durability=durability,
        permissions=permissions,
        follow_symlinks=bool(follow_symlinks),
        allow_hard_links=bool(allow_hard_links),
        replace_timeout=float(replace_timeout),
        hooks=_durability_hooks(durability, on_dir_sync_unsupported)
        + _builtin_hooks(validate, backups, durability)
        + _check_hooks(hooks),
    )


def _check_text_options(
    mode: Mode,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
) -> None:
    if isinstance(buffering, bool) or not isinstance(buffering, int):
        raise TypeError(f"buffering must be an int, not {buffering!r}")
    if mode.binary:
        for name, value in (
            ("encoding", encoding),
            ("errors", errors),
            ("newline", newline),
        ):
            if value is not None:
                raise ValueError(
                    f"binary mode {mode.text!r} takes no {name} argument, but got"
                    f" {value!r}: drop it, or use a text mode such as 'w'"
                )
        return
    if buffering == 0:
        raise ValueError(
            f"text mode {mode.text!r} cannot be unbuffered: use buffering=-1, or a"
            " binary mode such as 'wb' with buffering=0"
        )
    if encoding is not None:
        codecs.lookup(encoding)
    if errors is not None and not isinstance(errors, str):
        raise TypeError(f"errors must be a str such as 'strict', not {errors!r}")
    if newline not in _NEWLINES:
        raise ValueError(
            f"invalid newline {newline!r}: use None, '', '\\n', '\\r' or '\\r\\n'"
        )


def _check_permissions(permissions: int | None) -> None:
    if permissions is None:
        return
    if isinstance(permissions, bool) or not isinstance(permissions, int):
        raise TypeError(
            f"permissions must be an int such as 0o644, not {permissions!r}"
        )
    if not 0 <= permissions <= 0o7777:
        raise ValueError(
            f"invalid permissions {permissions!r}: use a mode from 0o0 to 0o7777,"
            " such as 0o644"
        )


def _durability_hooks(
    durability: str, on_dir_sync_unsupported: str
) -> tuple[CommitHook, ...]:
    if on_dir_sync_unsupported not in ON_UNSUPPORTED_CHOICES:
        raise ValueError(
            f"invalid on_dir_sync_unsupported {on_dir_sync_unsupported!r}: use"
            " 'raise' or 'warn'"
        )
    if durability == "full":
        return (FileSync(), DirectorySync(on_dir_sync_unsupported))
    if durability == "file":
        return (FileSync(),)
    if durability == "none":
        return ()
    raise ValueError(
        f"invalid durability {durability!r}: use 'full' (survives power loss),"
        " 'file' (the content is synced but the rename may be lost) or 'none'"
        " (survives a crash of the process only)"
    )


def _builtin_hooks(
    validate: object, backups: int, durability: str
) -> tuple[CommitHook, ...]:
    hooks: list[CommitHook] = []
    if validate is not None:
        hooks.append(Validate(validate))  # type: ignore[arg-type]
    if isinstance(backups, bool) or not isinstance(backups, int):
        raise TypeError(f"backups must be an int such as 3, not {backups!r}")
    if backups < 0:
        raise ValueError(
            f"invalid backups {backups!r}: use 0 for none, or how many previous"
            " versions to keep"
        )
    if backups:
        hooks.append(Backups(backups, sync=durability != "none"))
    return tuple(hooks)


def _check_hooks(hooks: object) -> tuple[CommitHook, ...]:
    if isinstance(hooks, (str, bytes)) or not isinstance(hooks, Iterable):
        raise TypeError(f"hooks must be an iterable of commit hooks, not {hooks!r}")
    checked = tuple(hooks)
    for hook in checked:
        if not any(callable(getattr(hook, stage, None)) for stage in STAGES):
            raise TypeError(
                f"invalid commit hook {hook!r}: it needs a validate, before_replace"
                " or after_replace method; see atomicopen.hooks.CommitHook"
            )
    return checked


# Checked options whose only hooks are FileSync and DirectorySync, which keep
# no state, by the options: a program repeats a few settings, and Options is
# immutable. The types of the numeric options are part of the key because
# True == 1 and 1 == 1.0, while check_options() rejects a bool where it
# expects a number and a float where it expects an int. The other options are
# strings, None or flags that check_options() passes through bool().
_OPTIONS_CACHE: dict[tuple[object, ...], Options] = {}
_OPTIONS_CACHE_SIZE = 64
_STATELESS_HOOKS = (FileSync, DirectorySync)


def check_options_cached(  # noqa: PLR0917 - the options of AtomicFile
    mode: str,
    buffering: int,
    encoding: str | None,
    errors: str | None,
    newline: str | None,
    durability: str,
    permissions: int | None,
    follow_symlinks: bool,
    allow_hard_links: bool,
    on_dir_sync_unsupported: str,
    replace_timeout: float,
    hooks: Iterable[CommitHook],
    validate: object,
    backups: int,
) -> Options:
    """Parse ``mode`` and check the options as :func:`check_options` does.

    Reuses earlier results, so a program that repeats its settings parses and
    checks them once.
    """
    key = (
        mode,
        buffering,
        encoding,
        errors,
        newline,
        durability,
        permissions,
        follow_symlinks,
        allow_hard_links,
        on_dir_sync_unsupported,
        replace_timeout,
        validate,
        backups,
        type(buffering),
        type(permissions),
        type(replace_timeout),
        type(backups),
    )
    cacheable = isinstance(hooks, tuple) and not hooks
    if cacheable:
        try:
            return _OPTIONS_CACHE[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: checked, never cached
            cacheable = False
    checked = check_options(
        parse_mode(mode),
        buffering=buffering,
        encoding=encoding,
        errors=errors,
        newline=newline,
        durability=durability,
        permissions=permissions,
        follow_symlinks=follow_symlinks,
        allow_hard_links=allow_hard_links,
        on_dir_sync_unsupported=on_dir_sync_unsupported,
        replace_timeout=replace_timeout,
        hooks=hooks,
        validate=validate,
        backups=backups,
    )
    # Options such as backups= add hooks that are not shared between files.
    if cacheable and all(isinstance(hook, _STATELESS_HOOKS) for hook in checked.hooks):
        if len(_OPTIONS_CACHE) >= _OPTIONS_CACHE_SIZE:
            _OPTIONS_CACHE.clear()
        _OPTIONS_CACHE[key] = checked
    return checked
