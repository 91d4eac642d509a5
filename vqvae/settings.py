"""How a setting is declared and checked: `setting(...)` gives a dataclass field its help,
flag, choices and bounds; `Section` checks a section's values against their real types
(typing.get_type_hints) and those bounds. vqvae.config declares the settings with these.
"""

import dataclasses
import functools
import types
import typing
import json
from dataclasses import asdict, field, fields
from pathlib import Path
from typing import ClassVar

from vqvae.errors import VQVAEError

# What the product can serve. The prior's code cache stores codes as int16 (limit 32,767);
# the Codebook page decodes every code and measures it against every encoder output, which
# stays within its render budget up to this K.
MAX_CODEBOOK_SIZE = 16384
MAX_IMAGE_SIZE = 512  # data sets are held in memory as uint8 [N, C, S, S]
MAX_DEPTH = 8  # residual VQ's stages: its reference library's users go to 8
LEVELS = (1, 2)  # code grids of a VQ-VAE: one, or VQ-VAE-2's top and bottom


def setting(default, help: str = "", *, label: str | None = None, flag: str | None = "",
            short: str | None = None, choices: tuple | None = None, low=None, high=None, why: str = ""):
    """A config field with everything the CLI and the validation know of it.

    help: the flag's help and the widget's tooltip; label: its name in messages (default the
    field's name); flag: the CLI flag without its dashes ("" for the field's name, dashed;
    None for no flag); short: a short flag such as "-K"; choices: the allowed values; low,
    high: inclusive bounds, `why` says what the upper one protects.
    """
    return field(default=default, metadata=dict(help=help, label=label, flag=flag, short=short,
                                                 choices=choices, low=low, high=high, why=why))


def setting_info(section, name: str) -> dict:
    """The metadata of a setting (see `setting`), with its label, its value type (value_type),
    whether it may be None (optional) and whether it is a tuple of numbers written as text
    (numbers) filled in."""
    f = next(f for f in fields(section) if f.name == name)
    kind, optional = _unwrap(_hints(section)[name])
    return dict(f.metadata, label=f.metadata.get("label") or name, type=_flag_type(kind), optional=optional,
                numbers=typing.get_origin(kind) is tuple)


@functools.cache
def _hints(section: type) -> dict:
    return typing.get_type_hints(section)


def _unwrap(hint) -> tuple[object, bool]:
    """(the type a value has when it is not None, whether it may be None): `int | None` -> (int, True)."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return rest[0], len(rest) < len(typing.get_args(hint))
    return hint, False


def _flag_type(kind) -> type:
    """A tuple of numbers is written as text on a command line or in a text box ("8,5,5,5")."""
    return str if typing.get_origin(kind) is tuple else kind


def value_type(f) -> type:
    """int, float, str or bool: the type a field's flag (or text box) reads, None aside; a
    tuple of numbers is read as text, "8,5,5,5", which the config turns into a tuple."""
    return _flag_type(_unwrap(f.type)[0])


def flag_name(f) -> str | None:
    """The CLI flag of a field, without dashes; None when it has none."""
    if "flag" not in f.metadata or f.metadata["flag"] is None:
        return None
    return f.metadata["flag"] or f.name.replace("_", "-")


class Section:
    """A section of settings: each value is checked against its field's type, choices and
    bounds, then (check_together) the settings that depend on each other."""

    def validate(self):
        """A checked copy of these settings, made anew so that settings derived from others
        follow a change made after construction (a flag, a widget); the config itself is left
        as it is. A setting that does not fit is a VQVAEError saying what to fix."""
        checked = dataclasses.replace(self)
        checked.check_settings()
        checked.check_together()
        return checked

    def check_together(self) -> None:
        """Raise the one-line reason settings that depend on each other do not fit."""

    def check_settings(self) -> None:
        hints = _hints(type(self))
        for f in fields(self):
            value, meta = getattr(self, f.name), f.metadata
            label, (kind, optional) = meta.get("label") or f.name, _unwrap(hints[f.name])
            if value is None and optional:
                continue
            if not fits(value, kind):
                raise VQVAEError(f"{label} must be {_kind_words(kind)}, not {value!r}: fix the setting")
            if meta.get("choices") is not None and value not in meta["choices"]:
                _choice(label, value, meta["choices"])
            flag = f" (--{flag_name(f)})" if flag_name(f) else ""
            if meta.get("low") is not None and value < meta["low"]:
                raise VQVAEError(f"{label} {value} is too small: use at least {meta['low']}{flag}")
            if meta.get("high") is not None and value > meta["high"]:
                raise VQVAEError(f"{label} {value} is too large: use at most {meta['high']:,}{flag}"
                                 + (f"; {meta['why']}" if meta.get("why") else ""))


_KIND_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


def _kind_words(kind) -> str:
    if typing.get_origin(kind) is tuple:
        return "whole numbers separated by commas, for example 8,5,5,5"
    return _KIND_WORDS[kind]


def fits(value, kind) -> bool:
    if typing.get_origin(kind) is tuple:
        return isinstance(value, tuple) and all(fits(part, int) for part in value)
    if kind is bool:
        return isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and not isinstance(value, bool)


def is_power_of_two(n: int) -> bool:
    return n >= 2 and n & (n - 1) == 0


def levels_from(value):
    """FSQ levels as a tuple, from a tuple, a list or text ("8,5,5,5", as a flag, a text box
    or an older config.json gives them); a value that is none of these is returned as it is,
    for validate() to refuse in words."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",") if part.strip()]
        return tuple(int(part) for part in parts) if all(part.isdigit() for part in parts) else value
    if isinstance(value, (list, tuple)) and all(fits(part, int) for part in value):
        return tuple(value)
    return value


def levels_text(levels) -> str:
    """FSQ levels as a person writes them: "8,5,5,5"."""
    return ",".join(map(str, levels)) if isinstance(levels, (list, tuple)) else str(levels)


def _choice(what: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise VQVAEError(f"unknown {what} {value!r}: choose one of {', '.join(map(str, allowed))}")


KIND_NAMES = {"vqvae": "VQ-VAE", "prior": "prior", "classifier": "classifier"}


class RunSettings:
    """What both kinds of run config share: reading, validating every section, plain dicts."""

    KIND: ClassVar[str]  # "vqvae" or "prior", as run_kind names it

    def validate(self):
        """A checked copy of every section's settings (see Section.validate); each checks its
        values' types first, so a hand-written "epochs": "20" is one line, not a TypeError
        further on. The config itself is left as it is."""
        sections = {f.name: getattr(self, f.name) for f in fields(self)}
        return dataclasses.replace(self, **{name: section.validate() for name, section in sections.items()
                                            if isinstance(section, Section)})

    def to_dict(self) -> dict:
        """The config as its config.json holds it (a tuple of numbers as a list)."""
        return asdict(self, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items})

    @classmethod
    def from_dict(cls, data: dict):
        """The config a config.json holds; sections it leaves out take their defaults. A
        config of the other kind, or one that is not an object, is refused in one line."""
        what = KIND_NAMES[cls.KIND]
        _check_object(data, f"the {what} run config")
        kind = run_kind(data)
        if kind is not None and kind != cls.KIND:
            raise VQVAEError(f"this holds a {KIND_NAMES[kind]} run, not a {what} run: pass a {what} run folder or config")
        sections = [f for f in fields(cls) if f.name != "preset"]
        try:
            return cls(**{f.name: _from_dict(f.default_factory, data.get(f.name, {})) for f in sections},
                       preset=data.get("preset"))
        except (TypeError, AttributeError) as exc:
            raise VQVAEError(f"the {what} run config is malformed ({exc}): fix it or start a new run") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "RunSettings":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise VQVAEError(f"config file {path} does not exist: check the path") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise VQVAEError(f"config file {path} is not valid JSON ({exc}): fix or remove it") from None
        return cls.from_dict(data)


def run_kind(config) -> str | None:
    """What a config.json describes: "vqvae" or "prior" (a run's config, or a checkpoint's
    model config), "classifier" (a classifier's checkpoint), else None (not ours, or damaged)."""
    if not isinstance(config, dict):
        return None
    if "feature_dim" in config:
        return "classifier"
    if "prior" in config or "n_blocks" in config:
        return "prior"
    if "model" in config or "arch" in config:
        return "vqvae"
    return None


def _check_object(data, what: str) -> None:
    if not isinstance(data, dict):
        raise VQVAEError(f"{what} is not a JSON object: fix it, or start a new run")


def _from_dict(cls, data: dict):
    _check_object(data, f"the {cls.__name__} section")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise VQVAEError(f"unknown {cls.__name__} setting(s) {sorted(unknown)}: known ones are {sorted(known)}")
    return cls(**data)
