"""Strict JSON body parsing and schema validation that speak the contract's errors."""

from __future__ import annotations

import json
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request

from ots.errors import FieldProblem, InvalidJsonError, ValidationFailedError

M = TypeVar("M", bound=BaseModel)
N = TypeVar("N", bound=BaseModel)

# Integers longer than this are out of every range we accept; parsing them in full
# would let a client make the server chew on a 400 KB number.
MAX_INT_DIGITS: Final = 32
OUT_OF_RANGE: Final = 10**MAX_INT_DIGITS

_MESSAGES: Final = {
    "string_unicode": "must be valid Unicode text (no lone surrogates)",
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "string_too_short": "must not be empty",
    # Only base64url fields carry a pattern (the sealed mode's).
    "string_pattern_mismatch": "must be base64url without padding, of the right length",
}


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return -OUT_OF_RANGE if text.startswith("-") else OUT_OF_RANGE
    return int(text)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, whatever Python's parser would accept.
    raise ValueError(f"{name} is not valid JSON")


def json_object(request: Request) -> dict[str, Any]:
    """Parse the body as one JSON object, whatever Content-Type the client sent.

    Raises:
        InvalidJsonError: the body is not valid JSON, or not an object.
    """
    try:
        value = json.loads(request.body, parse_int=_bounded_int, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad syntax, NaN and undecodable bytes; RecursionError deep nesting.
        raise InvalidJsonError from None
    if not isinstance(value, dict):
        raise InvalidJsonError
    return value


def parse_one_of(request: Request, first: type[M], second: type[N]) -> M | N:
    """Parse the body into exactly one of two models, as an OpenAPI ``oneOf`` does.

    A body that fits both is refused, so what the schema calls invalid the
    server refuses too. A body that fits neither is told the problems of the
    model whose fields it names most.

    Raises:
        InvalidJsonError: the body is not a JSON object.
        ValidationFailedError: it fits neither model, or both.
    """
    data = json_object(request)
    models: tuple[type[M] | type[N], ...] = (first, second)
    # A model that lacks a required field cannot fit: validating it anyway would only
    # build an error on every request. If neither can, the one named most explains.
    candidates = [model for model in models if _required(model) <= data.keys()]
    if not candidates:
        candidates = [max(models, key=lambda model: len(data.keys() & model.model_fields))]
    fits: list[M | N] = []
    failures: list[ValidationError] = []
    for model in candidates:
        try:
            fits.append(model.model_validate(data))
        except ValidationError as exc:
            failures.append(exc)
    if len(fits) == 1:
        return fits[0]
    if fits:
        either, other = _own_fields(first, second), _own_fields(second, first)
        raise ValidationFailedError(
            [FieldProblem("body", f"fits two kinds of body: send either {either} or {other}")]
        )
    named = [len(data.keys() & model.model_fields.keys()) for model in candidates]
    raise _failed(failures[named.index(max(named))])


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate ``data`` (already parsed, e.g. from a form) against ``model``.

    Raises:
        ValidationFailedError: a field is missing, mistyped, empty or out of range.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _failed(exc) from None


def _required(model: type[BaseModel]) -> set[str]:
    return {name for name, field in model.model_fields.items() if field.is_required()}


def _own_fields(model: type[BaseModel], other: type[BaseModel]) -> str:
    # The required fields that tell ``model``'s bodies from ``other``'s, in field order.
    own = _required(model) - other.model_fields.keys()
    return " and ".join(name for name in model.model_fields if name in own)


def _failed(exc: ValidationError) -> ValidationFailedError:
    return ValidationFailedError(
        [
            FieldProblem(
                field=".".join(str(part) for part in error["loc"]) or "body",
                message=_message(error["type"], error["msg"], error.get("ctx", {})),
            )
            for error in exc.errors(include_url=False, include_input=False)
        ]
    )


def _message(kind: str, fallback: str, context: dict[str, Any]) -> str:
    if kind == "string_too_short" and context.get("min_length", 1) > 1:
        return f"must be at least {context['min_length']} characters long"
    return _MESSAGES.get(kind, fallback[:1].lower() + fallback[1:])
