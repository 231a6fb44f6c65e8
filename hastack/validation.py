"""pydantic validation errors as one line per problem: the one place the CLI words them.

Every typed contract of hastack (the stack outputs, and the stack config) is a tree of pydantic
models. When a file does not follow its contract the user gets, for each problem, one line with
the key path as they wrote it (camelCase, `nodeGroups.us-west-2[0].minSize`), the bad value, and
what is allowed. "What is allowed" is described from the models' own annotations, so a new field
needs no new message. Importable without the Pulumi SDK.

`Kind` is the only vocabulary the models add: Annotated metadata naming a constrained string type
("region", "an AWS region such as us-east-1"). pydantic ignores it; messages and docs read it.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, StringConstraints, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

#: A location inside a document, as pydantic reports it: keys (aliases) and list indexes.
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Kind:
    """How a constrained type is named: `name` in shapes (`{<region>: arn}`), `text` in "should be ..."."""

    name: str
    text: str


@dataclass(frozen=True)
class Problem:
    """One cross-field problem found by a model validator: where, the value there, what is wrong."""

    loc: Loc
    value: Any
    message: str


def raise_problems(title: str, problems: Sequence[Problem]) -> None:
    """Raise `problems` (if any) from inside a model validator, each at its own key path.

    pydantic keeps the line errors of a `ValidationError` raised by a validator, with their
    locations, so cross-field checks report every problem at once, each where it is.
    """
    if problems:
        raise ValidationError.from_exception_data(title, [
            InitErrorDetails(type=PydanticCustomError("contract", p.message), loc=p.loc, input=p.value)
            for p in problems])


def validate_with(handler: Callable[[Any], Any], value: Any, problems: Sequence[InitErrorDetails]) -> Any:
    """In a wrap validator: validate `value` with `handler` and report `problems` with its errors, all at once.

    For rules that look at the raw value (its keys, duplicate entries): their problems are reported
    even when an entry is also invalid on its own, which an after-validator would never see.
    """
    try:
        result = handler(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(exc.title, [*_reraisable(exc), *problems]) from None
    if problems:
        raise ValidationError.from_exception_data("validation", list(problems))
    return result


def _reraisable(exc: ValidationError) -> list[InitErrorDetails]:
    out: list[InitErrorDetails] = []
    for e in exc.errors():
        kind = PydanticCustomError(e["type"], e["msg"]) if e["type"] == "contract" else e["type"]
        out.append(InitErrorDetails(type=kind, loc=e["loc"], input=e["input"], ctx=e.get("ctx", {})))
    return out


# ---------------------------------------------------------------------------------------------
# Reading annotations
# ---------------------------------------------------------------------------------------------


def unwrap(tp: Any, metadata: Sequence[Any] = ()) -> tuple[Any, tuple[Any, ...]]:
    """`Annotated[T, m1, m2]` -> (T, (m1, m2)), merged with `metadata` (a field's own constraints)."""
    meta = tuple(metadata)
    while get_origin(tp) is Annotated:
        tp, *extra = get_args(tp)
        meta = (*extra, *meta)
    return tp, meta


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_args(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else ()


def fields_of(model: type[BaseModel]) -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
    """(alias, type, metadata) of each field, in declaration order."""
    for name, info in model.model_fields.items():
        tp, meta = unwrap(info.annotation, info.metadata)
        yield info.alias or name, tp, meta


def _walk(root: type[BaseModel], loc: Loc) -> tuple[Loc, tuple[Any, tuple[Any, ...]] | None]:
    """Follow `loc` from `root`: (the loc without pydantic's union-member tags, the type found there).

    pydantic reports a value that fits no member of `int | float` once per member, at
    `(..., "int")` and `(..., "float")`; those tags are not keys of the document and are dropped,
    so both errors become the same line (and are reported once).
    """
    tp, meta = root, ()
    kept: list[str | int] = []
    for index, part in enumerate(loc):
        if part == "[key]":  # pydantic's marker for a bad dict key
            return (*kept, *loc[index:]), None
        present = [a for a in _union_args(tp) if a is not type(None)]
        if len(present) == 1 and len(_union_args(tp)) == 2:  # `X | None`: pydantic adds no member tag
            tp, meta = unwrap(present[0], meta)
        if _union_args(tp) and isinstance(part, str):
            continue
        kept.append(part)
        if is_model(tp):
            found = next(((t, m) for alias, t, m in fields_of(tp) if alias == part), None)
            if found is None:
                return (*kept, *loc[index + 1:]), None
            tp, meta = found
        elif get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp, meta = unwrap(get_args(tp)[0])
        elif get_origin(tp) is dict:
            tp, meta = unwrap(get_args(tp)[1])
        else:
            return (*kept, *loc[index + 1:]), None
    return tuple(kept), (tp, meta)


def annotation_at(root: type[BaseModel], loc: Loc) -> tuple[Any, tuple[Any, ...]] | None:
    """The type (and its metadata) found at `loc` under `root`; None when `loc` leaves the contract."""
    return _walk(root, loc)[1]


def dict_key_at(root: type[BaseModel], loc: Loc) -> tuple[Any, tuple[Any, ...]] | None:
    """The key type of the dict at `loc` (for pydantic's `(..., key, "[key]")` locations)."""
    found = annotation_at(root, loc)
    if found is None or get_origin(found[0]) is not dict:
        return None
    return unwrap(get_args(found[0])[0])


# ---------------------------------------------------------------------------------------------
# Describing types: shapes for docs, "what is allowed" for errors
# ---------------------------------------------------------------------------------------------


def _kind(meta: Sequence[Any]) -> Kind | None:
    return next((m for m in meta if isinstance(m, Kind)), None)


def _bounds(meta: Sequence[Any]) -> str:
    words = []
    for m in meta:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if isinstance(getattr(m, attr, None), int | float):
                words.append(f"{sign} {getattr(m, attr)}")
    return " and ".join(words)


def _min_length(meta: Sequence[Any]) -> int:
    return max([m.min_length for m in meta if isinstance(m, annotated_types.MinLen | StringConstraints)
                and m.min_length] or [0])


def _nullable_model(tp: Any) -> Any:
    """The model of `Model | None`, else None."""
    present = [a for a in _union_args(tp) if a is not type(None)]
    return present[0] if len(present) == 1 and len(_union_args(tp)) == 2 and is_model(present[0]) else None


def shape(tp: Any, meta: Sequence[Any] = ()) -> str:
    """The compact shape of a type as the docs show it: `{primary: {region, arn}, prodInstanceClass}`."""
    tp, meta = unwrap(tp, meta)
    if _nullable_model(tp) is not None:
        return f"{shape(_nullable_model(tp))} or null"
    if is_model(tp):
        parts = []
        for alias, ftp, fmeta in fields_of(tp):
            nested = is_model(ftp) or get_origin(ftp) in (list, tuple, dict) or _nullable_model(ftp) is not None
            parts.append(f"{alias}: {shape(ftp, fmeta)}" if nested else alias)
        return "{" + ", ".join(parts) + "}"
    if get_origin(tp) in (list, tuple):
        return f"[{shape(get_args(tp)[0])}]"
    if get_origin(tp) is dict:
        ktp, kmeta = unwrap(get_args(tp)[0])
        key = (_kind(kmeta) or Kind("key", "")).name
        return f"{{<{key}>: {shape(get_args(tp)[1])}}}"
    kind = _kind(meta)
    return kind.name if kind else json_type(tp)


def json_type(tp: Any, meta: Sequence[Any] = ()) -> str:
    """The JSON type a value of `tp` has: object, list, string, number, boolean."""
    tp, meta = unwrap(tp, meta)
    if is_model(tp) or get_origin(tp) is dict:
        return "object"
    if get_origin(tp) in (list, tuple):
        return "list"
    if tp is bool:
        return "boolean"
    if tp in (int, float) or (_union_args(tp) and all(a in (int, float) for a in _union_args(tp))):
        return "number"
    return "string"


def allowed(tp: Any, meta: Sequence[Any] = ()) -> str:
    """What a value of `tp` may be, in words: "an integer >= 0", "an object {name, region}"."""
    tp, meta = unwrap(tp, meta)
    kind, bounds = _kind(meta), _bounds(meta)
    if kind is not None:
        return kind.text
    if get_origin(tp) is Literal:
        values = [json.dumps(v) for v in get_args(tp)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if is_model(tp) or get_origin(tp) is dict:
        return f"an object {shape(tp)}"
    if get_origin(tp) in (list, tuple):
        item = shape(get_args(tp)[0])
        return f"a {'non-empty ' if _min_length(meta) else ''}list of {item}"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer" + (f" {bounds}" if bounds else "")
    if json_type(tp) == "number":
        return "a number" + (f" {bounds}" if bounds else "")
    return "a non-empty string" if _min_length(meta) else "a string"


# ---------------------------------------------------------------------------------------------
# Errors -> lines
# ---------------------------------------------------------------------------------------------


def key_path(loc: Loc) -> str:
    """`("nodeGroups", "us-west-2", 0, "minSize")` -> `nodeGroups.us-west-2[0].minSize`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def show(value: Any, limit: int = 60) -> str:
    """The bad value as the user wrote it (JSON), cut to `limit` characters."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _unknown_key(root: type[BaseModel], loc: Loc, value: Any) -> str:
    parent = annotation_at(root, loc[:-1])
    keys = [alias for alias, _, _ in fields_of(parent[0])] if parent and is_model(parent[0]) else []
    close = difflib.get_close_matches(str(loc[-1]), keys, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(keys)}"
    return f"{key_path(loc)} = {show(value)}: unknown key ({hint})"


def problem_line(root: type[BaseModel], error: Any) -> str:
    """One pydantic error (an item of `ValidationError.errors()`) as one line: path, value, what is allowed."""
    loc, found = _walk(root, tuple(error["loc"]))
    kind, value = error["type"], error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(root, loc, value)
    if loc and loc[-1] == "[key]":
        key = dict_key_at(root, loc[:-2])
        what = allowed(*key) if key else error["msg"]
        return f"{key_path(loc[:-2])}: key {show(loc[-2])} should be {what}"
    if kind == "contract":
        return f"{key_path(loc)} = {show(value)}: {error['msg']}"
    what = f"should be {allowed(*found)}" if found else error["msg"]
    if kind == "missing":
        return f"{key_path(loc)}: missing ({what.removeprefix('should be ')})"
    return f"{key_path(loc)} = {show(value)}: {what}"


def problem_lines(root: type[BaseModel], exc: ValidationError) -> list[str]:
    """Every problem of `exc` as one line each, in document order, duplicates dropped."""
    return list(dict.fromkeys(problem_line(root, e) for e in exc.errors(include_url=False)))
