"""Checking a config dict read back from JSON against the dataclass it is meant for, before constructing it.

Saved configs (a run's config.json, a checkpoint's train_config.json or config.json) are files a user can edit. A
misspelled key would otherwise be a TypeError from the dataclass and a string where a number belongs a TypeError
deep inside validation; here each is one `ConfigError` naming the file, the key and what it should be. Only JSON's
own types are checked (a tuple arrives as a list, a path as a string); ranges stay with each config's
`__post_init__`.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import fields
from pathlib import Path

from vla_flywheel.errors import ConfigError

_JSON_TYPES: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    str: (str,),
    Path: (str,),
    tuple: (list, tuple),
    list: (list, tuple),
    dict: (dict,),
}
_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", Path: "a path string",
          tuple: "a list", list: "a list", dict: "an object", type(None): "null"}  # fmt: skip


def read_json(path: Path, fix: str) -> dict:
    """The JSON object in `path`; a missing, unreadable or malformed file is one line naming it and `fix`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; {fix}") from None
    except OSError as e:
        raise ConfigError(f"{path} cannot be read ({e.strerror}); {fix}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path} is not valid JSON ({e}); the file is corrupted — {fix}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}; {fix}")
    return data


def check_fields(cls, data: dict, where: str) -> None:
    """Unknown keys (with the nearest known one) and values of the wrong JSON type raise one line about `where`."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls) if f.init]
    derived = {f.name for f in fields(cls) if not f.init}  # e.g. a model config's `type`, saved but not passed
    for key in data:
        if key not in known and key not in derived:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(sorted(known))}"
            raise ConfigError(f"{where}: unknown key {key!r} ({hint}); fix or remove it")
    for key in known:
        if key in data and not _matches(data[key], hints[key]):
            raise ConfigError(
                f"{where}: {key}={data[key]!r} has the wrong type ({type(data[key]).__name__}); "
                f"it must be {_describe(hints[key])}"
            )


def _options(hint) -> list:
    """The alternatives of a union (X | None), or [hint]."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return list(typing.get_args(hint))
    return [hint]


def _matches(value, hint) -> bool:
    for option in _options(hint):
        if option is type(None):
            if value is None:
                return True
            continue
        base = typing.get_origin(option) or option
        accepted = _JSON_TYPES.get(base)
        if accepted is None:
            return True  # a type JSON cannot express: left to the config's own validation
        if isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted):
            return True
    return False


def _describe(hint) -> str:
    names = [_NAMES.get(typing.get_origin(option) or option, "a value") for option in _options(hint)]
    return " or ".join(names)


def check_counts(what: str, config, names: tuple[str, ...]) -> None:
    """Each field in `names` an int >= 0 (a bool is refused), else one line naming `what` and the field."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{what}: {name}={value!r} must be an integer >= 0")


def check_positive_ints(what: str, config, names: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """Each field in `names` a positive int (a bool is refused: JSON's true is not a count); the `optional` ones may
    also be None. One line naming `what` and the field otherwise."""
    for name in (*names, *optional):
        value = getattr(config, name)
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            either = " or None" if name in optional else ""
            raise ConfigError(f"{what}: {name}={value!r} must be a positive integer{either}")
