"""Scale smoke test: api replicas behind the Caddy proxy, over HTTPS, with the real compose files.

Run by ``tests/docker/smoke.sh`` once it has a Docker engine and the images
(``DOCKER_HOST``, ``OTS_*_IMAGE`` set); it brings up
``docker-compose.yml`` + ``docker-compose.proxy.yml`` with three api
replicas on empty volumes and proves, through the published HTTPS port only:

- the replicas started together on an empty database: the migrations ran
  once, one replica created the server key and every replica uses it;
- every container hardened: read-only root, no capability beyond the few
  its entrypoint needs, no-new-privileges; PostgreSQL and Redis on an
  internal network that neither the proxy nor another container reaches;
- TLS with the certificate of Caddy's local CA, HTTP redirected to HTTPS,
  HSTS on every answer; /metrics not published (no token set), however
  its path is spelled;
- 50 reveals of one secret released at once: exactly one 200, the rest 404,
  and the receipt says revealed;
- expired secrets are swept once each, and webhooks sent once each, the
  work shared between replicas;
- a replica killed (SIGKILL) mid-load loses no acknowledged create;
- a limit of 10/minute holds across the replicas for one client, forged
  forwarding headers do not reset it, and the client address the api logs
  and limits on is the client's (a second client has its own budget);
- the proxy's own error lines (no replica left) carry no URI, and neither
  the proxy's nor the api's log holds a key.

Standard library only: it runs on the host's ``python3``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
PROJECT = os.environ.get("OTS_SCALE_PROJECT", f"otsscale{os.getpid()}")
PORT = int(os.environ.get("OTS_HTTPS_PORT", "18443"))
REPLICAS = 3
COMPOSE = [
    "docker-compose",
    "-p",
    PROJECT,
    "-f",
    str(ROOT / "docker-compose.yml"),
    "-f",
    str(ROOT / "docker-compose.proxy.yml"),
]
# Settings of the first stack: no limit in the way of the load, secrets that
# may expire within seconds, a sweep every second, client addresses logged.
FIRST = {
    "OTS_RATE_LIMIT": "100000/minute",
    "OTS_MIN_TTL": "1",
    "OTS_SWEEP_INTERVAL": "1",
    "OTS_AUDIT_CLIENT_ADDRESS": "true",
    # The webhook receiver is a container on the compose network, over HTTP.
    "OTS_WEBHOOK_ALLOW_PRIVATE": "true",
    "OTS_WEBHOOK_ALLOW_HTTP": "true",
}
# The second stack (the api replicas recreated): the rate limit under test.
LIMITED = {**FIRST, "OTS_RATE_LIMIT": "10/minute"}
CA_IN_PROXY = "/data/caddy/pki/authorities/local/root.crt"
NETWORK = f"{PROJECT}_default"
RECEIVER = f"{PROJECT}_hooks"
# A webhook receiver that prints each body it is sent, one line each.
RECEIVER_SCRIPT = """
import http.server
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        print(self.rfile.read(int(self.headers["Content-Length"])).decode(), flush=True)
        self.send_response(204)
        self.end_headers()
http.server.HTTPServer(("", 8000), Hook).serve_forever()
"""

Json = dict[str, Any]


def say(message: str) -> None:
    """Print one progress line."""
    print(f"scale: {message}", flush=True)


def check(condition: bool, message: str) -> None:
    """Fail the run with ``message`` unless ``condition``."""
    if not condition:
        say(f"FAIL: {message}")
        raise SystemExit(1)


def run(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run a command; return its stdout, failing the run if it fails."""
    result = subprocess.run(
        args, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    check(result.returncode == 0, f"{' '.join(args)}: {result.stderr.strip()[-2000:]}")
    return result.stdout


def compose(*args: str, env: dict[str, str] | None = None) -> str:
    """Run docker-compose on the proxy shape."""
    return run([*COMPOSE, *args], env)


def api_containers() -> list[str]:
    """The ids of the api replicas (running or not)."""
    return compose("ps", "-q", "api").split()


def logs(*services: str) -> str:
    """The whole log of ``services`` (all of them if none)."""
    return compose("logs", "--no-color", *services)


def container_log(container: str) -> str:
    """One container's whole log, stdout and stderr."""
    result = subprocess.run(
        [DOCKER, "logs", container], capture_output=True, text=True, check=False
    )
    return result.stdout + result.stderr


def audit_lines(container: str) -> list[Json]:
    """The audit events one api replica logged."""
    lines = []
    for line in container_log(container).splitlines():
        if line.startswith('{"time"'):
            lines.append(json.loads(line))
    return lines


def inspect(container: str, template: str) -> str:
    """One field of ``docker inspect``."""
    return run([DOCKER, "inspect", "-f", template, container]).strip()


class Https:
    """Requests to the proxy over verified HTTPS, one connection per thread."""

    def __init__(self, ca_file: str) -> None:
        """Trust only the proxy's local CA."""
        self.context = ssl.create_default_context(cafile=ca_file)
        self.local = threading.local()

    def connection(self) -> http.client.HTTPSConnection:
        """This thread's connection (made anew after an error)."""
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPSConnection("localhost", PORT, context=self.context, timeout=30)
            self.local.conn = conn
        return conn

    def request(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Json]:
        """Send one request; return the status and the JSON body."""
        status, _, payload = self.raw(method, path, body, headers)
        return status, json.loads(payload) if payload else {}

    def raw(
        self,
        method: str,
        path: str,
        body: Json | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Send one request, the path as it is; return the status, headers and body."""
        conn = self.connection()
        data = None if body is None else json.dumps(body).encode()
        try:
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self.local.conn = None
            raise
        return response.status, response.headers, payload


def up(settings: dict[str, str]) -> None:
    """Bring the stack up with ``settings`` and wait for every replica to be healthy."""
    compose("up", "-d", "--no-build", "--scale", f"api={REPLICAS}", env=settings)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ids = api_containers()
        states = [inspect(i, "{{.State.Health.Status}}") for i in ids]
        if len(ids) == REPLICAS and states == ["healthy"] * REPLICAS:
            return
        time.sleep(2)
    sys.stdout.write(logs()[-6000:])
    check(False, f"{REPLICAS} healthy api replicas within 240 s")


def fetch_ca(into: Path) -> str:
    """Copy the root certificate of Caddy's local CA out of the proxy."""
    proxy = compose("ps", "-q", "proxy").strip()
    path = into / "root.crt"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copied = subprocess.run(
            [DOCKER, "cp", f"{proxy}:{CA_IN_PROXY}", str(path)], capture_output=True, check=False
        )
        if copied.returncode == 0:
            return str(path)
        time.sleep(1)
    check(False, "Caddy made its local CA")
    return ""


def wait_https(client: Https) -> None:
    """Wait until the proxy answers /health over HTTPS."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.request("GET", "/health")[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(1)
    check(False, "the proxy answers /health over HTTPS")


def create(client: Https, secret: str, **extra: Any) -> tuple[int, Json]:
    """POST /generate with passphrase "pw"."""
    return client.request("POST", "/generate", {"secret": secret, "passphrase": "pw", **extra})


def startup_once() -> None:
    """Three replicas on empty volumes: migrations once, one server key created."""
    applied = [c for c in api_containers() if "applied migrations" in container_log(c)]
    created = [c for c in api_containers() if "created server key file" in container_log(c)]
    files = sorted(p.name for p in (ROOT / "migrations/postgres/models").glob("*.py"))
    rows = compose(
        "exec", "-T", "postgres", "psql", "-U", "ots", "-d", "ots", "-tAc",
        "SELECT version FROM aerich ORDER BY id",
    ).split()  # fmt: skip
    say(
        f"{REPLICAS} replicas started at once: {len(applied)} applied the migrations, "
        f"{len(created)} created the server key; aerich holds {len(rows)} rows "
        f"for {len(files)} files"
    )
    check(len(applied) == 1, "exactly one replica applies the migrations")
    check(len(created) == 1, "exactly one replica creates the server key")
    check(rows == files, f"each migration recorded once: {rows}")


# What each service may keep of the capabilities (compose's cap_add), and what
# its main process (PID 1) holds once started: nothing, but Caddy's port binding.
CAPABILITIES = {
    "api": ([], 0),
    "postgres": (["CHOWN", "DAC_READ_SEARCH", "FOWNER", "SETGID", "SETUID"], 0),
    "redis": (["CHOWN", "SETGID", "SETUID"], 0),
    "proxy": (["NET_BIND_SERVICE"], 1 << 10),
}
HSTS = "max-age=31536000"
# /metrics as a client may spell it; Caddy's path matcher must catch every one.
METRICS_PATHS = [
    "/metrics",
    "/METRICS",
    "/metrics/",
    "//metrics",
    "/./metrics",
    "/x/../metrics",
    "/%6Detrics",
    "/metrics%2F",
    "/metrics?name[]=ots_live_secrets",
    "/metrics;x",
    "/metrics.",
]


def hardened() -> None:
    """Every container: read-only root, capabilities dropped, no-new-privileges."""
    seen = []
    for service, (added, held) in CAPABILITIES.items():
        for container in compose("ps", "-q", service).split():
            host = json.loads(run([DOCKER, "inspect", "-f", "{{json .HostConfig}}", container]))
            caps = sorted(cap.removeprefix("CAP_") for cap in host["CapAdd"] or [])
            check(host["ReadonlyRootfs"] is True, f"{service}: read-only root")
            check(
                [c.removeprefix("CAP_") for c in host["CapDrop"]] == ["ALL"],
                f"{service}: drops all",
            )
            check(caps == added, f"{service}: adds back {added}, not {caps}")
            check("no-new-privileges:true" in host["SecurityOpt"], f"{service}: no-new-privileges")
            status = run([DOCKER, "exec", "-u", "0", container, "cat", "/proc/1/status"])
            effective = int(re.search(r"^CapEff:\s*(\w+)", status, re.M)[1], 16)  # type: ignore[index]
            check(effective == held, f"{service}: PID 1 holds capabilities {effective:#x}")
            write = subprocess.run(
                [DOCKER, "exec", "-u", "0", container, "touch", "/ots-probe"],
                capture_output=True,
                text=True,
                check=False,
            )
            check("Read-only file system" in write.stderr, f"{service}: {write.stderr.strip()}")
        seen.append(service)
    say(
        f"{', '.join(seen)}: read-only root (root cannot write /), cap_drop ALL, "
        "no-new-privileges; PID 1 holds no capability but Caddy's NET_BIND_SERVICE"
    )


def backend_isolated() -> None:
    """PostgreSQL and Redis are on an internal network of the api's alone."""
    backend = json.loads(run([DOCKER, "network", "inspect", f"{PROJECT}_backend"]))[0]
    members = sorted(c["Name"].split("_")[-2] for c in backend["Containers"].values())
    check(backend["Internal"] is True, "the backend network is internal")
    check(members == ["api"] * REPLICAS + ["postgres", "redis"], f"backend members: {members}")
    probe = (
        "import socket\n"
        "for host, port in (('postgres', 5432), ('redis', 6379)):\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close()\n"
        "        print(host, 'reachable')\n"
        "    except OSError as exc:\n"
        "        print(host, 'unreachable', type(exc).__name__)\n"
    )
    image = os.environ.get("OTS_PYTHON_IMAGE", "python:3.12-slim")
    seen = run([DOCKER, "run", "--rm", "--network", NETWORK, image, "python3", "-c", probe])
    answers = "; ".join(seen.splitlines())
    say(f"backend: internal, members {sorted(set(members))}; from the proxy's network: {answers}")
    check("reachable" not in seen.replace("unreachable", ""), "PostgreSQL and Redis out of reach")


def tls_and_redirect(client: Https) -> None:
    """HTTPS verifies against the local CA, with HSTS; plain HTTP redirects to it."""
    plain = http.client.HTTPConnection("localhost", int(os.environ["OTS_HTTP_PORT"]), timeout=10)
    plain.request("GET", "/health")
    response = plain.getresponse()
    location = response.getheader("Location", "")
    status, headers, _ = client.raw("GET", "/health")
    say(
        f"HTTPS verified with Caddy's local CA ({status}, Strict-Transport-Security: "
        f"{headers['Strict-Transport-Security']}); plain HTTP -> {response.status} {location}"
    )
    check(response.status == 308 and location.startswith("https://"), "HTTP redirects to HTTPS")
    check(headers["Strict-Transport-Security"] == HSTS, "HSTS on an answer from ots")


def metrics_not_published(client: Https) -> None:
    """With no OTS_METRICS_TOKEN, no spelling of /metrics gets through the proxy."""
    answers = {}
    for path in METRICS_PATHS:
        status, headers, payload = client.raw("GET", path)
        answers[path] = status
        check(b"# HELP" not in payload and b"ots_" not in payload, f"{path}: metrics published")
        check(
            headers["Strict-Transport-Security"] == HSTS, f"{path}: HSTS on the proxy's own answer"
        )
    body = client.request("GET", "/metrics")[1]
    say(f"/metrics through the proxy, no token set: {answers}; {body}")
    check(set(answers.values()) == {404}, "every spelling is 404")
    check(body.get("error") == "not_found", "in the API's error shape")


def proxy_errors_carry_no_uri(client: Https, keys: list[str]) -> None:
    """With no replica left, the proxy's 503 and every line it logs name no URI, no header.

    (tests/unit/test_deploy.py runs the Caddyfile at debug level too, where Caddy
    logs each error with its request.)
    """
    compose("stop", "api")
    key = keys[0]
    status, headers, _ = client.raw(
        "POST", f"/secrets/{key}", {"passphrase": "pw"}, {"Referer": f"https://x/secrets/{key}"}
    )
    proxy_log = logs("proxy")
    lines = []
    for line in proxy_log.splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(line[line.index("{") :]))
    errors = Counter(str(line.get("logger")) for line in lines if line.get("level") == "error")
    requests = [line["request"] for line in lines if isinstance(line.get("request"), dict)]
    named = sum(1 for request in requests if "uri" in request or "headers" in request)
    say(
        f"no replica left: {status}; the proxy's error lines {dict(errors)}; "
        f"{len(requests)} lines name a request, {named} of them its URI or headers"
    )
    check(status == 503 and headers["Strict-Transport-Security"] == HSTS, "503 with HSTS")
    check(bool(errors) and bool(requests), "the proxy logs its errors and requests")
    check(named == 0, "no URI or header in any proxy line")
    check(key not in proxy_log, "the key is in no proxy line")


def shared_server_key(client: Https, keys: list[str]) -> None:
    """Secrets made on one replica are read on another: one server key for all."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(lambda i: create(client, f"spread {i}"), range(30)))
    check(all(status == 201 for status, _ in made), f"30 creates: {made}")
    keys += [body[k] for _, body in made for k in ("secret_key", "receipt_key")]
    with ThreadPoolExecutor(max_workers=6) as pool:
        read = list(
            pool.map(
                lambda body: client.request(
                    "POST", f"/secrets/{body['secret_key']}", {"passphrase": "pw"}
                ),
                [body for _, body in made],
            )
        )
    check(
        [body.get("secret") for _, body in read] == [f"spread {i}" for i in range(30)],
        "every secret reads back",
    )
    where: dict[str, dict[str, str]] = {}
    for container in api_containers():
        for line in audit_lines(container):
            where.setdefault(line["receipt"], {})[line["event"]] = container
    served = Counter(events["created"] for events in where.values() if "created" in events)
    crossed = sum(1 for e in where.values() if "revealed" in e and e["revealed"] != e["created"])
    say(f"30 creates spread over replicas {sorted(served.values())}; {crossed} read on another")
    check(len(served) == REPLICAS, "the proxy spreads requests over every replica")
    check(crossed > 0, "a secret created on one replica is read on another")


def race(client: Https, keys: list[str], rounds: int = 3, racers: int = 50) -> None:
    """``racers`` reveals of one secret released at once: exactly one 200."""
    for round_ in range(rounds):
        status, made = create(client, "only once")
        check(status == 201, f"create: {status} {made}")
        keys += [made["secret_key"], made["receipt_key"]]
        barrier = threading.Barrier(racers)

        def reveal(
            _: int, key: str = made["secret_key"], barrier: threading.Barrier = barrier
        ) -> int:
            client.request("GET", "/health")  # connect and shake hands before the start
            barrier.wait()
            return client.request("POST", f"/secrets/{key}", {"passphrase": "pw"})[0]

        with ThreadPoolExecutor(max_workers=racers) as pool:
            answers = Counter(pool.map(reveal, range(racers)))
        receipt = client.request("GET", f"/receipts/{made['receipt_key']}")[1]
        say(
            f"round {round_ + 1}: {racers} reveals at once -> {dict(answers)}, "
            f"receipt {receipt['state']}"
        )
        check(answers == {200: 1, 404: racers - 1}, "exactly one reveal succeeds")
        check(receipt["state"] == "revealed", "the receipt says revealed")


def sweep_shared(client: Https, keys: list[str], count: int = 30) -> None:
    """Expired secrets are swept once each, whichever replica sweeps."""
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(lambda i: create(client, f"short {i}", ttl=1), range(count)))
    check(all(status == 201 for status, _ in made), f"creates with ttl=1: {made}")
    keys += [body[k] for _, body in made for k in ("secret_key", "receipt_key")]
    deadline = time.monotonic() + 30
    expired: Counter[str] = Counter()
    while time.monotonic() < deadline:
        expired = Counter(
            container
            for container in api_containers()
            for line in audit_lines(container)
            if line["event"] == "expired"
        )
        if sum(expired.values()) >= count:
            break
        time.sleep(1)
    time.sleep(3)  # a second sweep of the same rows would show here
    events = [
        line
        for container in api_containers()
        for line in audit_lines(container)
        if line["event"] == "expired"
    ]
    swept = sum(int(n) for n in re.findall(r"swept (\d+) expired secrets", logs("api")))
    secrets = len({e["receipt"] for e in events})
    say(
        f"{count} secrets expired: {len(events)} expired events ({secrets} secrets) "
        f"from {len(expired)} replica(s), sweep logs count {swept}"
    )
    check(len(events) == count == secrets, "each swept exactly once")
    check(swept == count, "the sweepers' counts add up to the secrets")


def webhooks_once(client: Https, keys: list[str], count: int = 20) -> None:
    """Each revealed event is delivered once, whichever replica's loop takes it."""
    image = os.environ.get("OTS_PYTHON_IMAGE", "python:3.12-slim")
    run([DOCKER, "run", "-d", "--name", RECEIVER, "--network", NETWORK,
         "--network-alias", "hooks", image, "python3", "-c", RECEIVER_SCRIPT])  # fmt: skip
    notify = {"url": "http://hooks:8000/hook", "events": ["revealed"]}
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(lambda i: create(client, f"hook {i}", notify=notify), range(count)))
    check(all(status == 201 for status, _ in made), f"creates with notify: {made}")
    keys += [body[k] for _, body in made for k in ("secret_key", "receipt_key")]
    for _, body in made:
        status, _ = client.request("POST", f"/secrets/{body['secret_key']}", {"passphrase": "pw"})
        check(status == 200, f"reveal: {status}")
    deadline = time.monotonic() + 60
    received: list[Json] = []
    while time.monotonic() < deadline and len(received) < count:
        time.sleep(1)
        received = [json.loads(line) for line in container_log(RECEIVER).splitlines()
                    if line.startswith("{")]  # fmt: skip
    time.sleep(3)  # a second delivery of the same event would show here
    received = [json.loads(line) for line in container_log(RECEIVER).splitlines()
                if line.startswith("{")]  # fmt: skip
    # Each replica's own count of deliveries, read from its /metrics inside it.
    scrape = (
        "import urllib.request\n"
        "text = urllib.request.urlopen('http://127.0.0.1:8080/metrics').read().decode()\n"
        "name = 'ots_webhook_deliveries_total{outcome=\"delivered\"} '\n"
        "lines = [line for line in text.splitlines() if line.startswith(name)]\n"
        "print(int(float(lines[0].split()[-1])) if lines else 0)\n"
    )
    sent = [int(run([DOCKER, "exec", c, "python3", "-c", scrape])) for c in api_containers()]
    distinct = len({r["id"] for r in received})
    say(
        f"{count} secrets with a webhook revealed: {len(received)} deliveries of "
        f"{distinct} distinct events; sent per replica {sent}"
    )
    check(len(received) == count == distinct == sum(sent), "each event sent once")


def kill_mid_load(
    client: Https, keys: list[str], seconds: float = 12, kill_after: float = 4
) -> None:
    """SIGKILL one replica under a create load: every acknowledged create survives."""
    acknowledged: list[tuple[str, str]] = []
    refused: Counter[str] = Counter()
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def load(worker: int) -> None:
        n = 0
        while time.monotonic() < stop:
            n += 1
            secret = f"load {worker}-{n}"
            try:
                status, body = create(client, secret)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    refused[type(exc).__name__] += 1
                continue
            with lock:
                if status == 201:
                    acknowledged.append((body["secret_key"], secret))
                    keys.extend((body["secret_key"], body["receipt_key"]))
                else:
                    refused[str(status)] += 1

    victim = api_containers()[1]
    with ThreadPoolExecutor(max_workers=8) as pool:
        running = [pool.submit(load, w) for w in range(8)]
        time.sleep(kill_after)
        run([DOCKER, "kill", "--signal", "KILL", victim])
        before = len(acknowledged)
        for future in running:
            future.result()
    say(
        f"killed one replica after {before} acknowledged creates; {len(acknowledged)} "
        f"acknowledged in all, refused or cut: {dict(refused) or 'none'}"
    )

    def read(item: tuple[str, str]) -> bool:
        key, secret = item
        status, body = client.request("POST", f"/secrets/{key}", {"passphrase": "pw"})
        return status == 200 and body.get("secret") == secret

    with ThreadPoolExecutor(max_workers=6) as pool:
        found = sum(pool.map(read, acknowledged))
    say(f"after the kill: {found} of {len(acknowledged)} acknowledged secrets read back")
    check(found == len(acknowledged) > before, "no acknowledged create is lost")


def limits_and_addresses(client: Https, keys: list[str], ca_file: str) -> None:
    """10/minute across replicas, not reset by forged headers; the logged client is the client."""

    def forged(n: int) -> dict[str, str]:
        # Every other request forges where it comes from, three ways.
        return [
            {},
            {"X-Forwarded-For": f"203.0.113.{n}"},
            {"X-Real-IP": f"198.51.100.{n}"},
            {"Forwarded": f"for=192.0.2.{n}"},
        ][0 if n % 2 == 0 else 1 + n % 3]

    answers = []
    for n in range(15):
        status, body = client.request(
            "POST", "/generate", {"secret": "limited", "passphrase": "pw"}, forged(n)
        )
        answers.append(status)
        if status == 201:
            keys += [body["secret_key"], body["receipt_key"]]
    counted = Counter(answers)
    say(f"limit 10/minute, 15 creates from one client, half with forged headers -> {dict(counted)}")
    check(counted[201] == 10, "exactly 10 pass across the replicas")
    check(set(counted) == {201, 429}, "the rest are 429")

    # From a container on the compose network: its own address, straight to
    # the proxy, with the certificate's name (localhost) in SNI and Host.
    probe = (
        "import http.client, json, socket, ssl\n"
        "ctx = ssl.create_default_context(cafile='/ca.crt')\n"
        "for _ in range(3):\n"
        "    c = http.client.HTTPConnection('localhost')\n"
        "    c.sock = ctx.wrap_socket(socket.create_connection(('proxy', 443)),"
        " server_hostname='localhost')\n"
        "    c.request('POST', '/generate', json.dumps({'secret': 'other', 'passphrase': 'pw'}))\n"
        "    r = c.getresponse()\n"
        "    print(c.sock.getsockname()[0], r.status, r.read().decode())\n"
    )
    image = os.environ.get("OTS_PYTHON_IMAGE", "python:3.12-slim")
    other = run(
        [DOCKER, "run", "--rm", "--network", NETWORK, "-v", f"{ca_file}:/ca.crt:ro",
         image, "python3", "-c", probe]
    )  # fmt: skip
    other_answers = [line.split(" ", 2) for line in other.splitlines()]
    other_ip = other_answers[0][0]
    keys += [json.loads(b)[k] for _, _, b in other_answers for k in ("secret_key", "receipt_key")]
    say(f"a second client ({other_ip}) meanwhile: {[s for _, s, _ in other_answers]}")
    check([s for _, s, _ in other_answers] == ["201"] * 3, "another client has its own budget")

    gateway = run(
        [DOCKER, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK]
    ).strip()
    proxy_ip = inspect(
        compose("ps", "-q", "proxy").strip(),
        f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
    )
    clients = Counter(
        line.get("client")
        for container in api_containers()
        for line in audit_lines(container)
        if line["event"] == "created"
    )
    say(f"clients in the api's audit log: {dict(clients)} (proxy is {proxy_ip})")
    check(clients == {gateway: 10, other_ip: 3}, "the api logs each client's own address")


def no_keys_in_logs(keys: list[str], earlier: str) -> None:
    """Neither the proxy's log nor any replica's log holds a key.

    ``earlier`` is the log of the replicas since recreated.
    """
    proxy_log, api_log = logs("proxy"), earlier + logs("api")
    access = proxy_log.count('"handled request"')
    leaked = [k for k in set(keys) if k in proxy_log or k in api_log]
    say(
        f"{len(set(keys))} keys, {access} proxy access lines, "
        f"{api_log.count('/secrets/[redacted]')} redacted reveals in the api's: "
        f"{len(leaked)} keys in the logs"
    )
    check(access > 100, "the proxy logs its requests")
    check(not leaked, f"keys in the logs: {leaked[:3]}")


def main() -> None:
    """Run every check on a fresh stack; always take it down."""
    keys: list[str] = []
    compose("down", "-v", "--remove-orphans")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            say(f"docker-compose up --scale api={REPLICAS} with the proxy, on empty volumes")
            up(FIRST)
            ca_file = fetch_ca(Path(scratch))
            client = Https(ca_file)
            wait_https(client)
            steps: list[Callable[[], None]] = [
                startup_once,
                hardened,
                backend_isolated,
                lambda: tls_and_redirect(client),
                lambda: metrics_not_published(client),
                lambda: shared_server_key(client, keys),
                lambda: race(client, keys),
                lambda: sweep_shared(client, keys),
                lambda: webhooks_once(client, keys),
                lambda: kill_mid_load(client, keys),
            ]
            for step in steps:
                step()
            say("recreating the replicas with OTS_RATE_LIMIT=10/minute")
            earlier = logs("api")  # recreated containers take their logs along
            up(LIMITED)
            wait_https(client)
            limits_and_addresses(client, keys, ca_file)
            proxy_errors_carry_no_uri(client, keys)
            no_keys_in_logs(keys, earlier)
    finally:
        subprocess.run([DOCKER, "rm", "-f", RECEIVER], capture_output=True, check=False)
        compose("down", "-v", "--remove-orphans")
    say("PASS")


if __name__ == "__main__":
    main()
