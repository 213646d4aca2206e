"""HTTP layer: blueprints, request/response schemas, the error mapper and middleware."""

from __future__ import annotations

from sanic import Blueprint

from ots.api.docs import bp as docs_bp
from ots.api.health import bp as health_bp
from ots.api.metrics import bp as metrics_bp
from ots.api.metrics import count_request, start_timer
from ots.api.origin import add_cors_headers, refuse_cross_site
from ots.api.receipts import bp as receipts_bp
from ots.api.requests import bp as requests_bp
from ots.api.secrets import bp as secrets_bp
from ots.api.throttle import add_rate_limit_headers, enforce_rate_limit
from ots.api.tokens import bp as tokens_bp

api = Blueprint.group(
    secrets_bp, receipts_bp, requests_bp, tokens_bp, health_bp, docs_bp, metrics_bp
)

__all__ = [
    "add_cors_headers",
    "add_rate_limit_headers",
    "api",
    "count_request",
    "enforce_rate_limit",
    "refuse_cross_site",
    "start_timer",
]
