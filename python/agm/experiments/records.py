"""Typed experiment results to and from JSON: dataclasses written as plain records, read back with their types
checked field by field, and a format/version header that a reader verifies first.

Only the shapes the result dataclasses use are supported: nested frozen dataclasses, ``list[T]``, ``tuple[T, ...]``,
``dict[str, T]``, ``T | None``, ``int``, ``float``, ``str``, ``bool`` and ``Any`` (taken as is). Floats that are
not finite are written as null by :func:`agm.experiments.cache.write_json`, so a float field that may be inf or
NaN is typed ``float | None``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def to_record(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dataclasses become dicts (field order kept), tuples lists, the rest as is."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_record(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_record(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_record(v) for k, v in value.items()}
    return value


def _fail(where: str, expected: str, value: Any) -> ValueError:
    shown = repr(value)
    return ValueError(f"{where} must be {expected}; got {shown[:80]}{'...' if len(shown) > 80 else ''}")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if len(errors) == 1 else _fail(where, str(tp), value))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return from_record(tp, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        (item,) = typing.get_args(tp)
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(where, "a list", value)
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise _fail(where, f"a list of {len(args)} values", value)
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, "an object", value)
        _, item = typing.get_args(tp)
        return {str(k): _convert(item, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, "true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, "an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, "a string", value)
        return value
    raise TypeError(f"{where}: unsupported field type {tp!r}")  # a defect of the result class, not of the file


def from_record(cls: type[T], record: Any, where: str = "record") -> T:
    """Rebuild dataclass ``cls`` from its :func:`to_record` form, checking every field's type.

    Unknown keys are refused (a file of another layout), missing keys too unless the field has a default.

    Args:
        cls: a dataclass type whose fields use the supported types (module docstring).
        record: the parsed JSON object.
        where: the path shown in error messages (e.g. "results.json: models.atlas").

    Returns:
        An instance of ``cls``.

    Raises:
        ValueError: a missing, unknown or mistyped field, named by its path.
    """
    if not isinstance(record, dict):
        raise _fail(where, f"an object ({cls.__name__})", record)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(record) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for {cls.__name__}")
    kwargs = {}
    for name, f in fields.items():
        if name not in record:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: missing field {name!r} of {cls.__name__}")
            continue
        kwargs[name] = _convert(hints[name], record[name], f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: invalid {cls.__name__}: {err}") from err


def read_versioned(path: str | os.PathLike[str], fmt: str, version: int) -> dict[str, Any]:
    """Parse a results file and check its header: ``"format" == fmt`` and ``"version" == version``.

    Args:
        path: the JSON file.  fmt: the expected format name.  version: the expected version.

    Returns:
        The parsed object (header included).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not JSON, not an object, or another format or version (the message names the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != fmt:
        raise ValueError(f"{path}: expected format {fmt!r}, got {data.get('format')!r}")
    if data.get("version") != version:
        raise ValueError(f"{path}: {fmt} version {data.get('version')!r} is not supported (this agm reads {version})")
    return data
