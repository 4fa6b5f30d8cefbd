"""Validation and JSON (de)serialisation shared by the env configs (tabletop, Meta-World): one-line errors that name
the config, the field and what it accepts."""

from __future__ import annotations

from dataclasses import fields

from vla_flywheel.errors import ConfigError


def check_choice(what: str, name: str, value, allowed) -> None:
    if value not in allowed:
        raise ConfigError(f"{what}: {name}={value!r} is not one of {', '.join(map(str, allowed))}")


def check_int_range(what: str, name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{what}: {name}={value!r} must be an integer in [{lo}, {hi}]")


def config_from_dict(cls, d: dict, what: str):
    """cls(**d) from JSON-like values; unknown keys are an error that lists the known ones."""
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ConfigError(f"{what}: unknown key(s) {unknown}; known keys: {known}")
    return cls(**d)


def config_to_dict(config) -> dict:
    """The set fields of a config dataclass as JSON-like values (tuples as lists)."""
    return {
        f.name: (list(v) if isinstance(v, tuple) else v)
        for f in fields(config)
        if (v := getattr(config, f.name)) is not None
    }
