"""The OpenAPI document and /docs: valid, complete, and served by ots alone."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from ots.config import Settings
from tests.api.test_events import fake_dns
from tests.conftest import Client, MakeClient
from tests.support import assert_error

# A public address (example.com's) for the fake DNS; no request is ever sent to it.
PUBLIC = "93.184.215.14"

OPERATIONS = {
    ("post", "/generate"): "generate_secret",
    ("post", "/secrets/{secret_key}"): "reveal_secret",
    ("get", "/secrets/{secret_key}"): "check_secret",
    ("get", "/receipts/{receipt_key}"): "get_receipt",
    ("post", "/receipts/{receipt_key}/burn"): "burn_secret",
    ("get", "/health"): "get_health",
    ("get", "/tokens/self/secrets"): "list_token_secrets",
    ("post", "/tokens/self/secrets/{secret_id}/burn"): "burn_token_secret",
    ("post", "/requests"): "create_request",
    ("get", "/requests/{request_key}"): "request_status",
    ("post", "/requests/{request_key}/answer"): "answer_request",
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
    "create_request": {201, 400, 401, 403, 413, 422, 429, 507},
    "request_status": {200, 404, 429},
    "answer_request": {201, 400, 403, 404, 409, 413, 422, 429, 507},
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
    """The ttl bounds and default, the secret's byte limit and the passphrase's length."""
    client = make_client(db_url, min_ttl=30, max_ttl=900, default_ttl=600, max_secret_bytes=100)
    spec = client.get("/docs/openapi.json").json
    fields = spec["components"]["schemas"]["GenerateRequest"]["properties"]
    assert (fields["ttl"]["minimum"], fields["ttl"]["maximum"]) == (30, 900)
    assert fields["ttl"]["default"] == 600
    # Bytes, which no JSON Schema keyword counts: an extension, and no maxLength.
    assert (fields["secret"]["minLength"], fields["secret"]["x-max-secret-bytes"]) == (1, 100)
    assert "maxLength" not in fields["secret"]
    assert (fields["passphrase"]["minLength"], fields["passphrase"]["maxLength"]) == (1, 1024)
    sealed = spec["components"]["schemas"]["SealedGenerateRequest"]["properties"]
    assert sealed["ttl"] == fields["ttl"]
    # At least 1 byte of secret and the 16-byte tag, as base64url without padding.
    assert sealed["ciphertext"]["minLength"] == 23
    assert sealed["ciphertext"]["x-max-secret-bytes"] == 100
    assert "maxLength" not in sealed["ciphertext"]
    created = spec["components"]["schemas"]["GenerateResponse"]["properties"]
    assert created["expires_at"]["format"] == "date-time"


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Follow ``schema``'s reference (or a nullable reference's ``allOf``) to what it names."""
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        elif len(schema.get("allOf", [])) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def example_bodies(spec: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    """Every example the document gives for ``schema``.

    Each variant of a oneOf, its own example, and that example with each
    field's own example (inline, or its component's, recursively) put in, so
    that an example added anywhere is found.
    """
    if "oneOf" in schema:
        return [body for variant in schema["oneOf"] for body in example_bodies(spec, variant)]
    target = resolve(spec, schema)
    found = [target["example"]] if "example" in target else []
    for name, field in target.get("properties", {}).items():
        values = [field["example"]] if "example" in field else []
        values += example_bodies(spec, field) if resolve(spec, field) is not field else []
        for base in found[:1]:
            found += [{**base, name: value} for value in values if base.get(name) != value]
    return found


def request_bodies(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """Each operation id with the example bodies its request takes (``[None]``: no body)."""
    return {
        operation_id: (
            example_bodies(spec, operation["requestBody"]["content"]["application/json"]["schema"])
            if "requestBody" in operation
            else [None]
        )
        for operation_id, operation in operations(spec).items()
    }


def routes(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each operation id with its method and path template."""
    return {
        operation["operationId"]: (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }


def test_every_example_in_the_document_is_accepted_by_a_default_server(
    make_client: MakeClient, db_url: str
) -> None:
    """Each request example the document holds is answered 2xx by a server on the defaults.

    generate_secret's examples are sent as they are. The operations its 201
    links to take their keys from a secret made by one of those examples
    (made afresh for each request): each of their body examples opens the
    secret of some generate example, and each generate example's secret is
    opened by some of them (the two modes' examples pair up). A parameter
    example, if one is ever added, is sent instead of the linked key.
    """
    # The TTL range and the webhook rules as a default server has them.
    client = make_client(db_url, min_ttl=Settings().min_ttl)
    spec = client.get("/docs/openapi.json").json
    bodies, paths = request_bodies(spec), routes(spec)
    creates = bodies.pop("generate_secret")
    assert len(creates) >= 2  # both modes: a walk that finds nothing fails
    for body in creates:
        response = client.post("/generate", json=body)
        assert response.status == 201, (body, response.text)
    links = operations(spec)["generate_secret"]["responses"]["201"]["links"]
    # A request's operations hang off create_request's 201 instead (walked there).
    asked = operations(spec)["create_request"]["responses"]["201"]["links"]
    for name in ("create_request", *asked):
        bodies.pop(name, None)
        paths.pop(name, None)
    _walk_request_links(client, spec, asked)
    # Every other operation with a body or a key is reached through a link: none is left out,
    # but for a token holder's, which no default server lets anyone reach without a token.
    token_only = {
        name
        for name, operation in operations(spec).items()
        if operation.get("security") == [{"bearerAuth": []}]
    }
    assert token_only == {"list_token_secrets", "burn_token_secret"}
    assert set(links) == {name for name, examples in bodies.items() if examples != [None]} | {
        name for name, (_, path) in paths.items() if "{" in path and name not in token_only
    }
    for operation_id, link in links.items():
        method, template = paths[operation_id]
        (parameter, expression), *_ = link["parameters"].items()
        examples = {
            p["name"]: p["example"]
            for p in operations(spec)[operation_id].get("parameters", [])
            if "example" in p
        }
        statuses = {}
        for i, create in enumerate(creates):
            for j, body in enumerate(bodies[operation_id]):
                created = client.post("/generate", json=create).json
                key = examples.get(parameter, created[expression.rsplit("/", 1)[-1]])
                path = template.replace("{" + parameter + "}", key)
                sent = {} if body is None else {"json": body}
                statuses[i, j] = client.request(method, path, **sent).status
        accepted = {pair for pair, status in statuses.items() if 200 <= status < 300}
        for j, body in enumerate(bodies[operation_id]):
            assert any(pair[1] == j for pair in accepted), (operation_id, body, statuses)
        for i, create in enumerate(creates):
            assert any(pair[0] == i for pair in accepted), (operation_id, create, statuses)


def _walk_request_links(client: Client, spec: dict[str, Any], links: dict[str, Any]) -> None:
    """create_request's example is accepted, and each operation it links to takes its key.

    Its examples are request-v1's first test vector: the answer example is sealed to
    that vector's public key, so a fresh request takes it (the server cannot tell).
    """
    (create,) = request_bodies(spec)["create_request"]
    assert links
    for operation_id, link in links.items():
        method, template = routes(spec)[operation_id]
        (parameter, expression), *_ = link["parameters"].items()
        for body in request_bodies(spec)[operation_id]:
            made = client.post("/requests", json=create)
            assert made.status == 201, made.text
            key = made.json[expression.rsplit("/", 1)[-1]]
            sent = {} if body is None else {"json": body}
            response = client.request(method, template.replace("{" + parameter + "}", key), **sent)
            assert 200 <= response.status < 300, (operation_id, response.text)


# What the document predicts for a request field one past a bound it states: every schema
# keyword is a 422; the secret's size, in bytes (x-max-secret-bytes), is the contract's 413.
PREDICTED = {
    "minLength": (422, "validation_error"),
    "maxLength": (422, "validation_error"),
    "minimum": (422, "validation_error"),
    "maximum": (422, "validation_error"),
    "minItems": (422, "validation_error"),
    "maxItems": (422, "validation_error"),
    "pattern": (422, "validation_error"),
    "x-max-secret-bytes": (413, "payload_too_large"),
}
# A webhook host that resolves to a public address here (the fake DNS below); nothing is
# ever sent to it: no event happens to these secrets.
HOOK = "https://hooks.example.com/"
NOTIFY = {"url": HOOK, "events": ["revealed"]}


def _b64(size: int) -> str:
    return base64.urlsafe_b64encode(bytes(size)).decode().rstrip("=")


# (field, bound keyword) -> from the bound and the example's value, a value at the bound
# (None: no value there is valid for other reasons) and one just past it.
BOUNDS: dict[tuple[str, str], Callable[[Any, Any], tuple[Any, Any]]] = {
    ("secret", "minLength"): lambda n, _: ("s" * n, "s" * (n - 1)),
    # Bytes, not characters: two-byte characters reach it at half the length.
    ("secret", "x-max-secret-bytes"): lambda n, _: ("é" * (n // 2), "é" * (n // 2) + "s"),
    ("passphrase", "minLength"): lambda n, _: ("p" * n, "p" * (n - 1)),
    ("passphrase", "maxLength"): lambda n, _: ("p" * n, "p" * (n + 1)),
    ("ttl", "minimum"): lambda n, _: (n, n - 1),
    ("ttl", "maximum"): lambda n, _: (n, n + 1),
    # A one-character URL is no https URL: refused whatever its length says.
    ("notify.url", "minLength"): lambda n, _: (None, ""),
    ("notify.url", "maxLength"): lambda n, _: (HOOK.ljust(n, "a"), HOOK.ljust(n + 1, "a")),
    ("notify.events", "minItems"): lambda n, _: (["revealed"] * n, []),
    # The tag's 16 bytes and the secret's: at least 1 byte of it, at most the limit.
    ("ciphertext", "minLength"): lambda n, _: (_b64(17), _b64(16)),
    ("ciphertext", "pattern"): lambda _, value: (value, value + "="),
    ("ciphertext", "x-max-secret-bytes"): lambda n, _: (_b64(n + 16), _b64(n + 17)),
    ("envelope.v", "minimum"): lambda n, _: (n, n - 1),
    ("envelope.v", "maximum"): lambda n, _: (n, n + 1),
    # Exact lengths: one character more passes the bound.
    ("envelope.nonce", "pattern"): lambda _, value: (value, value + "A"),
    ("verifier", "pattern"): lambda _, value: (value, value + "A"),
    ("proof", "pattern"): lambda _, value: (value, value + "A"),
    ("note", "minLength"): lambda n, _: ("n" * n, ""),
    ("note", "maxLength"): lambda n, _: ("n" * n, "n" * (n + 1)),
    ("note", "pattern"): lambda _, value: (value, value + "\x07"),
    ("envelope.v", "pattern"): lambda _, value: (value, value + "x"),
    ("envelope.epk", "pattern"): lambda _, value: (value, value + "A"),
}


def bounded_fields(
    spec: dict[str, Any], schema: dict[str, Any], prefix: str = ""
) -> list[tuple[str, str, Any]]:
    """Every (field path, bound keyword, bound) of a body schema, nested objects included."""
    found = []
    for name, field in resolve(spec, schema).get("properties", {}).items():
        field = resolve(spec, field)
        path = prefix + name
        found += [(path, keyword, field[keyword]) for keyword in PREDICTED if keyword in field]
        if "properties" in field:
            found += bounded_fields(spec, field, path + ".")
    return found


def put(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the field at the dotted ``path`` set to ``value``."""
    out = copy.deepcopy(body)
    *parents, name = path.split(".")
    node = out
    for parent in parents:
        node = node.setdefault(parent, copy.deepcopy(NOTIFY) if parent == "notify" else {})
    node[name] = value
    return out


def get(body: dict[str, Any], path: str) -> Any:
    """The value at the dotted ``path`` of ``body`` (``NOTIFY`` stands in for no notify)."""
    node: Any = {"notify": NOTIFY, **body}
    for name in path.split("."):
        node = node[name]
    return node


def test_each_bound_of_the_document_is_answered_as_it_predicts(
    make_client: MakeClient, db_url: str
) -> None:
    """Every bound a request field states: at it, accepted; one past it, what PREDICTED says.

    The bounds are read from the served document (its values come from the
    settings), so a bound added to it fails here until BOUNDS says how to
    pass it. A reveal at the bound names an unknown key: 404 after the body
    was found valid. Past the bound, a 422 names the field.
    """
    client = make_client(
        db_url, min_ttl=Settings().min_ttl, resolver=fake_dns({"hooks.example.com": [PUBLIC]})
    )
    spec = client.get("/docs/openapi.json").json
    paths = routes(spec)
    seen = set()
    for operation_id, operation in operations(spec).items():
        if "requestBody" not in operation:
            continue
        method, template = paths[operation_id]
        target = template.replace("{secret_key}", "A" * 32).replace("{request_key}", "A" * 32)
        at_bound = 201 if operation_id in ("generate_secret", "create_request") else 404
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        for variant in schema.get("oneOf", [schema]):
            example = resolve(spec, variant)["example"]
            for path, keyword, bound in bounded_fields(spec, variant):
                seen.add((path, keyword))
                assert (path, keyword) in BOUNDS, f"BOUNDS has no row for {path} {keyword}"
                at, past = BOUNDS[path, keyword](bound, get(example, path))
                case = (variant["$ref"], path, keyword)
                if at is not None:
                    response = client.request(method, target, json=put(example, path, at))
                    assert response.status == at_bound, (case, response.text)
                response = client.request(method, target, json=put(example, path, past))
                status, code = PREDICTED[keyword]
                problem = assert_error(response, status, code)
                if status == 422:
                    assert [d["field"] for d in problem["details"]] == [path], case
    assert seen == set(BOUNDS)


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
