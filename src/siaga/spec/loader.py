"""Read siaga.yaml: YAML → ${ENV} interpolation → model validation → cross-references, all issues at once."""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from siaga.spec.channels import FROM_SPEC_TEXT
from siaga.spec.errors import Path, SpecError, SpecIssue, format_path
from siaga.spec.models import Spec
from siaga.spec.references import check_references
from siaga.spec.yamltree import Tree, read_tree

_FIELD_PREFIX = re.compile(r"^([a-z_]+): (.+)$")


def load_spec(path: str | FilePath, env: Mapping[str, str] | None = None) -> Spec:
    """Given a spec file and an environment (default ``os.environ``), return the Spec; raise SpecError."""
    file = FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError([SpecIssue(str(file), 0, 0, "", f"cannot read file: {reason}")]) from None
    return parse_spec(text, filename=str(file), env=env)


def parse_spec(text: str, filename: str = "<string>", env: Mapping[str, str] | None = None) -> Spec:
    """Given spec text, return the Spec; raise SpecError listing every issue with file:line:col."""
    tree = read_tree(text, os.environ if env is None else env)
    issues = [
        SpecIssue(filename, line, col, format_path(path), msg) for path, (line, col), msg in tree.problems
    ]
    if not isinstance(tree.data, dict):
        raise SpecError(issues)
    spec: Spec | None = None
    try:
        spec = Spec.model_validate(tree.data, context={FROM_SPEC_TEXT: True})
    except ValidationError as exc:
        issues += [
            _issue(filename, tree, error) for error in exc.errors(include_url=False, include_input=True)
        ]
    for path, message in check_references(tree.data):
        line, col = tree.locate(path)
        issues.append(SpecIssue(filename, line, col, format_path(path), message))
    if issues or spec is None:
        raise SpecError(issues)
    return spec


def _has(container: Any, part: int | str) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _data_path(data: Any, loc: tuple[int | str, ...]) -> tuple[Path, Any, str | int | None]:
    """Follow a pydantic loc through the data, skipping union tags; return (path, parent, last unmatched)."""
    path: Path = ()
    current = data
    for i, part in enumerate(loc):
        if _has(current, part):
            path, current = (*path, part), current[part]
        elif i == len(loc) - 1:
            return path, current, part
    return path, current, None


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """Return the model class a pydantic loc points into (the owner of its last element)."""
    candidates: list[Any] = [Spec]
    for part in loc:
        nxt: list[Any] = []
        for candidate in candidates:
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for name, info in candidate.model_fields.items():
                    if part in (name, info.alias):
                        nxt += _unwrap(info.annotation)
                tag = candidate.model_fields.get("type")
                if tag is not None and part in typing.get_args(tag.annotation):
                    nxt.append(candidate)
            elif origin is list and isinstance(part, int):
                nxt += _unwrap(typing.get_args(candidate)[0])
            elif origin is dict:
                nxt += _unwrap(typing.get_args(candidate)[1])
        candidates = [c for c in nxt if c is not type(None)] or candidates
        if not nxt:
            break
    models = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if len(models) == 1 else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    names = {dict: "a mapping", list: "a list", str: "a string", int: "an integer", float: "a number"}
    return next((name for t, name in names.items() if isinstance(value, t)), type(value).__name__)


_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "float_type": "a number",
    "float_parsing": "a number",
    "timedelta_type": "a duration such as 10m",
}


def _message(error: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = (
            f" (allowed: {', '.join(f.alias or n for n, f in model.model_fields.items())})" if model else ""
        )
        return f"unknown key '{loc[-1]}'{allowed}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_kind(value)}"
    if kind == "literal_error" and loc == ("version",):
        return f"unsupported spec version {value!r}: this Siaga reads version 1"
    if kind == "literal_error":
        return f"invalid value {value!r}: expected {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        key = str(ctx.get("discriminator", "type")).strip("'")
        return f"unknown {key} {ctx.get('tag')!r} (allowed: {ctx.get('expected_tags')})"
    if kind == "union_tag_not_found":
        return f"missing required key {ctx.get('discriminator', 'type')}"
    if kind == "too_short":
        least = int(ctx.get("min_length", 1))
        unit = "item" if isinstance(value, list | dict) else "character"
        return f"needs at least {least} {unit}{'' if least == 1 else 's'}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    return error["msg"][0].lower() + error["msg"][1:]


def _issue(filename: str, tree: Tree, error: ErrorDetails) -> SpecIssue:
    loc = tuple(error["loc"])
    path, parent, unmatched = _data_path(tree.data, loc)
    message = " ".join(_message(error, loc).split())
    if unmatched is not None and error["type"] == "missing":
        # Point at the mapping that lacks the key, name the key in the path.
        line, col = tree.locate(path)
        return SpecIssue(filename, line, col, format_path((*path, str(unmatched))), message)
    prefixed = _FIELD_PREFIX.match(message) if error["type"] == "value_error" else None
    if prefixed and isinstance(parent, dict):
        path, message = (*path, prefixed.group(1)), prefixed.group(2)
    line, col = tree.locate(path)
    return SpecIssue(filename, line, col, format_path(path), message)
