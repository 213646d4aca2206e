"""The OpenAPI document and /docs: valid, complete, and served by ots alone."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from tests.conftest import Client, MakeClient

OPERATIONS = {
    ("post", "/generate"): "generate_secret",
    ("post", "/secrets/{secret_key}"): "reveal_secret",
    ("get", "/secrets/{secret_key}"): "check_secret",
    ("get", "/receipts/{receipt_key}"): "get_receipt",
    ("post", "/receipts/{receipt_key}/burn"): "burn_secret",
    ("get", "/health"): "get_health",
    ("get", "/tokens/self/secrets"): "list_token_secrets",
    ("post", "/tokens/self/secrets/{secret_id}/burn"): "burn_token_secret",
}
# What each operation answers beyond what every operation may (408, 431, 503).
STATUSES = {
    "generate_secret": {201, 400, 401, 403, 413, 422, 429, 507},
    "reveal_secret": {200, 400, 403, 404, 409, 413, 422, 429},
    "check_secret": {200, 404, 429},
    "get_receipt": {200, 404, 429},
    "burn_secret": {200, 403, 404, 409, 413, 429},
    "get_health": {200},
    "list_token_secrets": {200, 401, 422, 429},
    "burn_token_secret": {200, 401, 403, 404, 409, 413, 429},
}
RATE_LIMIT_HEADERS = {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map operation ids to operations."""
    return {
        operation["operationId"]: operation
        for path in spec["paths"].values()
        for operation in path.values()
    }


def schema_validator(spec: dict[str, Any], reference: str) -> OAS30Validator:
    """A validator for the component at ``reference``, resolving the spec's references."""
    return OAS30Validator({"components": spec["components"], "$ref": reference})


def references(schema: dict[str, Any]) -> list[str]:
    """The component references of a body's schema: one, or each of a oneOf."""
    return [variant["$ref"] for variant in schema.get("oneOf", [schema])]


def test_spec_is_valid_openapi(client: Client) -> None:
    """The served document passes openapi-spec-validator, as OpenAPI 3.0.3."""
    spec = client.get("/docs/openapi.json").json
    assert spec["openapi"] == "3.0.3"
    validate(spec)


def test_every_operation_has_a_readable_id_and_every_status(client: Client) -> None:
    """Each route is one operation with a readable id documenting every status it answers."""
    spec = client.get("/docs/openapi.json").json
    found = {
        (method, path): operation["operationId"]
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert found == OPERATIONS
    for operation_id, operation in operations(spec).items():
        statuses = {int(status) for status in operation["responses"]}
        assert statuses == STATUSES[operation_id] | {408, 431, 503}, operation_id


def test_bodies_are_components_with_examples(client: Client) -> None:
    """Every body is a $ref to a named component, and every example fits its schema."""
    spec = client.get("/docs/openapi.json").json
    schemas = spec["components"]["schemas"]
    assert {"ErrorResponse", "HealthResponse", "GenerateRequest", "GenerateResponse"} <= set(
        schemas
    )
    bodies = []
    for operation in operations(spec).values():
        if "requestBody" in operation:
            bodies.append(operation["requestBody"]["content"]["application/json"])
        bodies += [
            answer["content"]["application/json"] for answer in operation["responses"].values()
        ]
    one_of = [media for media in bodies if "oneOf" in media["schema"]]
    # generate_secret and reveal_secret take either mode's body; reveal_secret answers either.
    assert len(one_of) == 3
    for media in bodies:
        for reference in references(media["schema"]):
            schema = schemas[reference.removeprefix("#/components/schemas/")]
            example = media.get("example", schema.get("example"))
            assert example is not None, reference
            schema_validator(spec, reference).validate(example)
            # Against the whole oneOf too: each variant's example fits that variant only.
            OAS30Validator({"components": spec["components"], **media["schema"]}).validate(example)
    assert "$defs" not in str(spec)
    assert "const" not in str(spec)


def test_response_headers_are_documented(client: Client) -> None:
    """429, 503 and 507 require Retry-After; limited routes name the rate-limit headers."""
    spec = client.get("/docs/openapi.json").json
    headers = spec["components"]["headers"]
    assert headers["Retry-After"]["required"] is True
    for operation_id, operation in operations(spec).items():
        for status, answer in operation["responses"].items():
            named = set(answer.get("headers", {}))
            if status in {"429", "503", "507"}:
                assert "Retry-After" in named, (operation_id, status)
            if operation_id != "get_health":
                assert named >= RATE_LIMIT_HEADERS, (operation_id, status)
            else:
                assert not named & RATE_LIMIT_HEADERS


def test_generate_links_to_the_operations_on_its_keys(client: Client) -> None:
    """The 201 of generate_secret links to reveal, check, receipt and burn by their keys."""
    spec = client.get("/docs/openapi.json").json
    links = operations(spec)["generate_secret"]["responses"]["201"]["links"]
    assert {name: link["parameters"] for name, link in links.items()} == {
        "reveal_secret": {"secret_key": "$response.body#/secret_key"},
        "check_secret": {"secret_key": "$response.body#/secret_key"},
        "get_receipt": {"receipt_key": "$response.body#/receipt_key"},
        "burn_secret": {"receipt_key": "$response.body#/receipt_key"},
    }
    assert {link["operationId"] for link in links.values()} == set(links)


def test_spec_states_this_servers_limits(make_client: MakeClient, db_url: str) -> None:
    """The ttl bounds and default, the secret's length and the passphrase's are in the schema."""
    client = make_client(db_url, min_ttl=30, max_ttl=900, default_ttl=600, max_secret_bytes=100)
    spec = client.get("/docs/openapi.json").json
    fields = spec["components"]["schemas"]["GenerateRequest"]["properties"]
    assert (fields["ttl"]["minimum"], fields["ttl"]["maximum"]) == (30, 900)
    assert fields["ttl"]["default"] == 600
    assert (fields["secret"]["minLength"], fields["secret"]["maxLength"]) == (1, 100)
    assert (fields["passphrase"]["minLength"], fields["passphrase"]["maxLength"]) == (1, 1024)
    sealed = spec["components"]["schemas"]["SealedGenerateRequest"]["properties"]
    assert sealed["ttl"] == fields["ttl"]
    # 100 bytes of secret and the 16-byte tag, as base64url without padding.
    assert (sealed["ciphertext"]["minLength"], sealed["ciphertext"]["maxLength"]) == (23, 155)
    created = spec["components"]["schemas"]["GenerateResponse"]["properties"]
    assert created["expires_at"]["format"] == "date-time"


class _Assets(HTMLParser):
    """Collects every URL a page makes the browser load."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def test_docs_work_offline(client: Client) -> None:
    """/docs and every file it loads come from ots itself, under a same-origin-only CSP."""
    page = client.get("/docs")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe" not in policy
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) >= 3
    for url in parser.urls:
        assert url.startswith("/docs/"), url
        asset = client.get(url)
        assert asset.status == 200, url
        assert asset.headers["content-security-policy"] == policy
        assert len(asset.content) > 0
    start = client.get("/docs/assets/start.js").text
    assert '"/docs/openapi.json"' in start
    assert "validatorUrl: null" in start
    for url in re.findall(r"https?://[^\s\"']+", page.text + start):
        pytest.fail(f"/docs names a remote URL: {url}")


@pytest.mark.parametrize("name", ["index.html", "../../../etc/passwd", "swagger-ui.js.map"])
def test_docs_serve_only_their_own_files(client: Client, name: str) -> None:
    """Any other name under /docs/assets is a 404, never a file of the package or the disk."""
    response = client.get(f"/docs/assets/{name}")
    assert response.status == 404
    assert response.json["error"] == "not_found"


@pytest.mark.parametrize("path", ["/health", "/docs/openapi.json", "/secrets/" + "A" * 32, "/nope"])
def test_json_answers_forbid_loading_and_framing(client: Client, path: str) -> None:
    """Every JSON answer, success or error, carries the JSON Content-Security-Policy."""
    response = client.get(path)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-security-policy"] == JSON_CSP
