"""Who is asking: the gate of a create, and the token holder of ``/tokens/self``.

Thin: the rules are ``ots.access``'s. What this adds is reading the request
(its ``Authorization`` header and the client address the rate limit counts)
and naming the token in the audit log (its id, never the token).
"""

from __future__ import annotations

from sanic import Request

from ots.access import HOLDERS_ONLY, Creator
from ots.api.context import gate_of
from ots.api.throttle import client_address, quota_key
from ots.errors import UnauthorizedError
from ots.events import TOKEN_ID
from ots.tokens import Token


async def creator_of(request: Request, *, form_token: str = "") -> Creator:
    """Admit a create, or refuse it (401, 403 or 429); return whom it counts against.

    Args:
        request: the create.
        form_token: the token typed into the share form (a plain form post cannot send
            a header); when not empty it is checked as ``Authorization: Bearer`` would be,
            in place of the request's header.
    """
    authorization = request.headers.get("authorization")
    if form_token:
        authorization = f"Bearer {form_token}"
    creator = await gate_of(request).admit(
        authorization, client_address(request), quota_key(request)
    )
    if creator.token is not None:
        TOKEN_ID.set(creator.token.id)
    return creator


async def token_holder(request: Request) -> Token:
    """Return the active token the request carries; 401 (or 429) without one."""
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise UnauthorizedError(HOLDERS_ONLY)
    token = await gate_of(request).authenticate(authorization, client_address(request))
    TOKEN_ID.set(token.id)
    return token
