"""HTML form posts (``application/x-www-form-urlencoded``) read into the API's own models.

A form is the same request as its JSON twin, so the same model checks it and
the same rules follow: a form cannot do what the JSON API would refuse.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import parse_qs

from sanic import Request

from ots.api.body import MAX_INT_DIGITS, validate
from ots.api.schemas import GenerateRequest, RevealRequest
from ots.errors import FieldProblem, ValidationFailedError

# The share and reveal forms have four fields; a body of thousands is nobody's browser.
MAX_FIELDS: Final = 16
_NUMBER: Final = re.compile(rf"[0-9]{{1,{MAX_INT_DIGITS}}}")


def form_fields(request: Request) -> dict[str, str]:
    """Return the first value of each field of the request's form.

    Raises:
        ValidationFailedError: the body is not a UTF-8 form, or has too many fields.
    """
    try:
        parsed = parse_qs(
            request.body.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError is one, and so is "too many fields"
        raise ValidationFailedError(
            [FieldProblem("body", f"must be a UTF-8 form of at most {MAX_FIELDS} fields")]
        ) from None
    return {name: values[0] for name, values in parsed.items()}


def generate_request(fields: dict[str, str]) -> GenerateRequest:
    """Read the share form: the secret, the passphrase and the ttl's seconds.

    Raises:
        ValidationFailedError: as ``POST /generate`` with the same values in JSON.
    """
    data: dict[str, object] = {}
    if "secret" in fields:
        # Browsers send a textarea's line breaks as CRLF whatever was typed or pasted
        # (HTML's form submission normalises them); the text the creator saw had LF.
        data["secret"] = fields["secret"].replace("\r\n", "\n")
    if "passphrase" in fields:
        data["passphrase"] = fields["passphrase"]
    ttl = fields.get("ttl", "").strip()
    if ttl:
        # A form sends text; anything but a plain number stays text, and is refused as such.
        data["ttl"] = int(ttl) if _NUMBER.fullmatch(ttl) else ttl
    return validate(GenerateRequest, data)


def reveal_request(fields: dict[str, str]) -> RevealRequest:
    """Read the reveal form: the passphrase.

    Raises:
        ValidationFailedError: as ``POST /secrets/{secret_key}`` with the same value in JSON.
    """
    data = {"passphrase": fields["passphrase"]} if "passphrase" in fields else {}
    return validate(RevealRequest, data)
