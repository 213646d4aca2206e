"""Strict JSON body parsing and schema validation that speak the contract's errors."""

from __future__ import annotations

import json
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from sanic import Request

from ots.errors import FieldProblem, InvalidJsonError, ValidationFailedError

M = TypeVar("M", bound=BaseModel)

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


def parse_body(request: Request, model: type[M]) -> M:
    """Parse the body into ``model``.

    Raises:
        InvalidJsonError: the body is not a JSON object.
        ValidationFailedError: a field is missing, mistyped, empty or too long.
    """
    data = json_object(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            FieldProblem(
                field=".".join(str(part) for part in error["loc"]) or "body",
                message=_message(error["type"], error["msg"]),
            )
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ValidationFailedError(problems) from None


def _message(kind: str, fallback: str) -> str:
    return _MESSAGES.get(kind, fallback[:1].lower() + fallback[1:])
