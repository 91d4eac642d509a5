"""The flags made from the config dataclasses, and the config read back from them.

Each setting that has a flag (vqvae.config's `setting(..., flag=...)`) becomes one option with
its help, type and choices; every default is None, meaning "keep the preset's or the file's
value", so a flag changes a setting only when it is given.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import fields

from vqvae.errors import VQVAEError


def add_setting_flags(parser: argparse.ArgumentParser, title: str, section: type) -> None:
    """One flag per setting of a config section that has one, in an argument group `title`."""
    from vqvae.config import flag_name, value_type

    group = parser.add_argument_group(title)
    for f in fields(section):
        flag = flag_name(f)
        if flag is None:
            continue
        meta, kind = f.metadata, value_type(f)
        names = [f"--{flag}", *([meta["short"]] if meta.get("short") else [])]
        options = dict(dest=flag.replace("-", "_"), default=None, help=meta.get("help") or None)
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif holds_whole_numbers(section, f.name):
            options["type"] = whole_numbers
        else:
            options.update(type=kind, choices=meta.get("choices"))
        group.add_argument(*names, **options)


def holds_whole_numbers(section: type, name: str) -> bool:
    """Whether a setting's value is a tuple of whole numbers (FSQ's levels), by its real type."""
    hint = typing.get_type_hints(section)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # `tuple[int, ...] | None`
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return typing.get_origin(hint) is tuple and set(typing.get_args(hint)) <= {int, ...}


def whole_numbers(text: str) -> tuple[int, ...] | str:
    """A flag's "8,5,5,5" -> (8, 5, 5, 5). Text that is not whole numbers separated by commas
    is passed on as it is, for the config's validation to refuse in one line that says why."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if parts and all(part.isdigit() for part in parts):
        return tuple(int(part) for part in parts)
    return text


def given_flags(args: argparse.Namespace, section) -> dict:
    """{field name: value} of the section's settings whose flags were given."""
    from vqvae.config import flag_name

    found = {}
    for f in fields(section):
        flag = flag_name(f)
        if flag is not None and getattr(args, flag.replace("-", "_"), None) is not None:
            found[f.name] = getattr(args, flag.replace("-", "_"))
    return found


def apply_flags(args: argparse.Namespace, section) -> None:
    """Set the config fields whose flags were given on the command line."""
    for name, value in given_flags(args, section).items():
        setattr(section, name, value)


def run_config_from_args(args: argparse.Namespace):
    """The VQ-VAE run config of `train`: --config's file, else --preset's settings (mnist),
    with the setting flags given on top."""
    from vqvae.config import RunConfig
    from vqvae.presets import preset

    cfg = RunConfig.from_file(args.config) if args.config else preset(args.preset or "mnist")
    apply_flags(args, cfg.model)
    apply_flags(args, cfg.train)
    return cfg


def refuse_changes_on_resume(args: argparse.Namespace, sections, extra: tuple[str, ...]) -> None:
    """A resumed run keeps its saved settings: any setting flag but --epochs, or any of the
    `extra` options, is refused."""
    from vqvae.config import flag_name

    changed = [f"--{flag_name(f)}" for section in sections for f in fields(section)
               if f.name != "epochs" and f.name in given_flags(args, section)]
    changed += [f"--{name}" for name in extra if getattr(args, name, None)]
    if changed:
        raise VQVAEError(f"a resumed run keeps its saved settings: drop {', '.join(changed)} "
                         f"(only --epochs may extend it), or start a new run")
