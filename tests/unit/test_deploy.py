"""Static checks of the Dockerfile, compose files and Caddyfile (smoke.sh runs them for real)."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ots.config import Settings
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def _compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())  # type: ignore[no-any-return]


def _compose_config(
    *files: str, env_file: Path | None = None, cwd: Path = Path("/")
) -> dict[str, Any]:
    """What docker-compose makes of ``files`` (none: those it finds in ``cwd``).

    Only ``env_file`` sets variables: neither a .env in the checkout nor the
    caller's environment (OTS_PUBLISH_PORT exported, say) may change the answer.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTS_", "POSTGRES_", "COMPOSE_"))
    }
    with tempfile.TemporaryDirectory() as scratch:
        # An empty file when none is given (docker-compose refuses /dev/null).
        empty = Path(scratch) / "empty.env"
        empty.touch()
        args = ["docker-compose", "--env-file", str(env_file or empty)]
        for name in files:
            args += ["-f", str(ROOT / name)]
        result = subprocess.run(
            [*args, "config"], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose not installed"
)


def test_dockerfile_passes_hadolint() -> None:
    """The Dockerfiles pass hadolint with no error."""
    hadolint = Path(sys.executable).with_name("hadolint")
    files = [ROOT / "Dockerfile", *sorted((ROOT / "tests/docker").glob("*.Dockerfile"))]
    result = subprocess.run(
        [str(hadolint), "--failure-threshold", "error", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    """Multi-stage, base image as an argument, non-root, health-checked, exec-form entrypoint."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.12-slim$", text, re.M)
    assert len(re.findall(r"^FROM \$\{BASE_IMAGE\}", text, re.M)) == 2
    assert "python3 -m venv" in text
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    assert re.search(r'^ENTRYPOINT \["ots"\]$', text, re.M)
    assert "OTS_HOST=0.0.0.0" in text and "EXPOSE 8080" in text


def test_compose_wiring() -> None:
    """The api waits for healthy postgres and redis; only its port is published."""
    services = _compose()["services"]
    api, postgres, redis = services["api"], services["postgres"], services["redis"]
    assert api["build"]["context"] == "."
    assert api["image"].startswith("${OTS_IMAGE:-")
    assert api["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    # Published by the override that a plain `docker compose up` reads, not here.
    assert "ports" not in api
    override = _compose("docker-compose.override.yml")["services"]
    assert override == {
        "api": {"ports": ["${OTS_PUBLISH_ADDRESS:-127.0.0.1}:${OTS_PUBLISH_PORT:-8080}:8080"]}
    }
    assert api["environment"]["OTS_KDF_THREADS"] == "${OTS_KDF_THREADS:-}"
    assert api["restart"] and postgres["restart"] and redis["restart"]
    assert api["init"] is True
    assert "ports" not in postgres and "ports" not in redis
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert postgres["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    assert "pgdata" in _compose()["volumes"]
    # The server key lives in its own named volume, the same for every api replica.
    assert api["volumes"] == ["otskeys:/var/lib/ots/keys"]
    assert api["environment"]["OTS_SERVER_KEY_FILE"] == "/var/lib/ots/keys/ots.key"
    assert "otskeys" in _compose()["volumes"]
    for service in services.values():
        assert str(service["image"]).startswith("${OTS_"), service["image"]
    env = api["environment"]
    assert env["OTS_DATABASE_URL"].startswith("postgres://")
    assert env["OTS_RATE_LIMIT_STORAGE"].startswith("${OTS_RATE_LIMIT_STORAGE:-redis://redis")


@needs_compose
def test_plain_compose_up_publishes_the_api_on_loopback() -> None:
    """`docker compose up` in the checkout reads the override: the api on 127.0.0.1:8080."""
    services = _compose_config(cwd=ROOT)["services"]
    assert services["api"]["ports"] == ["127.0.0.1:8080:8080/tcp"]
    assert "proxy" not in services


@needs_compose
def test_compose_honours_a_dotenv(tmp_path: Path) -> None:
    """Values from a .env replace the defaults written in the compose files."""
    env_file = tmp_path / ".env"
    env_file.write_text("OTS_PUBLISH_PORT=9999\nOTS_RATE_LIMIT=5/second\nPOSTGRES_DB=other\n")
    config = _compose_config("docker-compose.yml", "docker-compose.override.yml", env_file=env_file)
    api = config["services"]["api"]
    assert api["environment"]["OTS_RATE_LIMIT"] == "5/second"
    assert api["environment"]["OTS_DATABASE_URL"].endswith("/other")
    assert "9999" in str(api["ports"])


@needs_compose
def test_proxy_shape_publishes_only_the_proxy() -> None:
    """With docker-compose.proxy.yml: no api port, the proxy on 443 and 80, one trusted hop."""
    config = _compose_config("docker-compose.yml", "docker-compose.proxy.yml")
    services = config["services"]
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["proxy"]
    assert published["proxy"] == ["0.0.0.0:80:80/tcp", "0.0.0.0:443:443/tcp"]
    api, proxy = services["api"], services["proxy"]
    assert api["environment"]["OTS_PROXIES_COUNT"] == "1"
    assert not api["environment"]["OTS_REAL_IP_HEADER"]
    assert not api["environment"]["OTS_FORWARDED_SECRET"]
    assert proxy["depends_on"] == {"api": {"condition": "service_healthy"}}
    assert proxy["environment"]["OTS_DOMAIN"] == "localhost"
    # Every replica mounts the one key volume; the proxy mounts the Caddyfile.
    assert api["volumes"] == ["otskeys:/var/lib/ots/keys:rw"]
    assert f"{ROOT / 'Caddyfile'}:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert proxy["image"] == "caddy:2"


def test_caddyfile_forwards_safely() -> None:
    """The Caddyfile logs no path or header, admits ots's largest body, reaches every replica."""
    text = (ROOT / "Caddyfile").read_text()
    assert re.search(r"^\{\$OTS_DOMAIN:localhost\} \{$", text, re.M)
    assert re.search(r"request>uri delete", text) and re.search(r"request>headers delete", text)
    limit = re.search(r"max_size (\d+)KB", text)
    assert limit and int(limit[1]) * 1000 >= Settings().request_max_bytes
    assert re.search(r"dynamic a \{\s+name api\s+port 8080", text)
    # No client-sent forwarding header is trusted: Caddy replaces X-Forwarded-For.
    assert "trusted_proxies" not in text and "header_up X-Forwarded-For" not in text


def _dotenv(path: Path) -> dict[str, str]:
    """The assignments a .env file makes, as docker compose reads them."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Resolve compose's ${NAME:-default} and ${NAME} in ``value``."""

    def one(match: re.Match[str]) -> str:
        return env.get(match["name"]) or (match["default"] or "")

    return re.sub(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}", one, value)


def test_env_example_copied_to_dotenv_changes_nothing_in_compose() -> None:
    """`cp .env.example .env` leaves every value compose gives the api as it was."""
    example = _dotenv(ROOT / ".env.example")
    api = _compose()["services"]["api"]
    for name, value in api["environment"].items():
        assert _interpolate(str(value), example) == _interpolate(str(value), {}), name
    ports = [
        *_compose("docker-compose.override.yml")["services"]["api"]["ports"],
        *_compose("docker-compose.proxy.yml")["services"]["proxy"]["ports"],
    ]
    for port in ports:
        assert _interpolate(port, example) == _interpolate(port, {})
    proxy = _compose("docker-compose.proxy.yml")["services"]
    for service in proxy.values():
        for name, value in service["environment"].items():
            assert _interpolate(str(value), example) == _interpolate(str(value), {}), name


# What each service may add back after `cap_drop: [ALL]`: what its entrypoint needs
# (tests/docker/smoke.sh starts every one of them so).
CAPABILITIES = {
    "api": set(),
    "postgres": {"CHOWN", "DAC_READ_SEARCH", "FOWNER", "SETGID", "SETUID"},
    "redis": {"CHOWN", "SETGID", "SETUID"},
    "proxy": {"NET_BIND_SERVICE"},
}


def test_every_service_is_hardened() -> None:
    """Read-only root, every capability dropped but a listed few, no-new-privileges."""
    services = {
        **_compose()["services"],
        "proxy": _compose("docker-compose.proxy.yml")["services"]["proxy"],
    }
    assert set(services) == set(CAPABILITIES)
    for name, service in services.items():
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert set(service.get("cap_add", [])) == CAPABILITIES[name], name
        assert "no-new-privileges:true" in service["security_opt"], name
        for mount in service.get("tmpfs", []):
            assert "size=" in mount, (name, mount)


@needs_compose
@pytest.mark.parametrize(
    "files",
    [
        ("docker-compose.yml", "docker-compose.override.yml"),
        ("docker-compose.yml", "docker-compose.proxy.yml"),
    ],
    ids=["plain", "proxy"],
)
def test_database_and_redis_are_reachable_from_the_api_alone(files: tuple[str, str]) -> None:
    """PostgreSQL and Redis publish nothing and sit on an internal network only the api joins."""
    config = _compose_config(*files)
    services = config["services"]
    assert config["networks"]["backend"]["internal"] is True
    for name in ("postgres", "redis"):
        assert "ports" not in services[name], name
        assert set(services[name]["networks"]) == {"backend"}, name
    assert set(services["api"]["networks"]) == {"default", "backend"}
    for name in set(services) - {"api", "postgres", "redis"}:
        assert "backend" not in services[name].get("networks", {}), name


def test_caddy_sends_hsts_and_logs_no_uri_anywhere() -> None:
    """HSTS on answers and on the proxy's own errors; Caddy's error lines lose URI and headers."""
    text = (ROOT / "Caddyfile").read_text()
    site, errors = text.split("handle_errors", 1)
    hsts = 'header Strict-Transport-Security "max-age=31536000"'
    assert hsts in site and hsts in errors
    # The global options block: Caddy's own (default) logger gets the access log's filter.
    options = text[text.index("{") : text.index("\n}\n")]
    default_log = re.search(r"log default \{(.*?)\n\t\}", options, re.S)
    assert default_log, "no filter on Caddy's own log"
    assert "request>uri delete" in default_log[1] and "request>headers delete" in default_log[1]


def test_metrics_pass_the_proxy_only_with_a_token() -> None:
    """Caddy answers /metrics (any spelling under it) 404 unless OTS_METRICS_TOKEN is set."""
    text = (ROOT / "Caddyfile").read_text()
    matcher = re.search(r"@metrics_without_token \{(.*?)\n\t\}", text, re.S)
    assert matcher, text
    assert "path /metrics*" in matcher[1]
    assert 'expression `{env.OTS_METRICS_TOKEN} == ""`' in matcher[1]
    assert "error @metrics_without_token 404" in text
    # The directive order puts `error` before `reverse_proxy`; the 404 is JSON.
    assert re.search(r"@not_found expression `\{err.status_code\} == 404`", text)
    proxy = _compose("docker-compose.proxy.yml")["services"]["proxy"]
    assert proxy["environment"]["OTS_METRICS_TOKEN"] == "${OTS_METRICS_TOKEN:-}"


def _locked(name: str) -> dict[str, list[str]]:
    """The versions a lock file pins, by normalised name (several when markers fork)."""
    pins: dict[str, list[str]] = {}
    text = (ROOT / name).read_text()
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        requirement, *hashes = entry.split("--hash=")
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s;\\]+)", requirement)
        assert match, entry
        assert hashes and all(h.startswith("sha256:") for h in hashes), entry
        pins.setdefault(canonicalize_name(match[1]), []).append(match[2])
    return pins


def test_requirements_lock_pins_every_runtime_dependency_with_hashes() -> None:
    """requirements.lock pins, with hashes, a version of each dependency that pyproject allows."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _locked("requirements.lock")
    for line in project["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock (docs/operations.md)"
        assert all(requirement.specifier.contains(v) for v in pins[name]), (name, pins[name])
    # Runtime only: nothing the tests alone need.
    for line in project["project"]["optional-dependencies"]["test"]:
        name = canonicalize_name(Requirement(line).name)
        if name not in {"uvicorn", "pyyaml"}:  # also pulled in at runtime (sanic, aerich)
            assert name not in pins, name
    build = _locked("requirements-build.lock")
    for line in project["build-system"]["requires"]:
        requirement = Requirement(line)
        versions = build[canonicalize_name(requirement.name)]
        assert all(requirement.specifier.contains(v) for v in versions)


def test_dockerfile_installs_only_what_the_locks_name() -> None:
    """Dependencies from the lock with --require-hashes; ots itself with --no-deps."""
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"COPY requirements\.lock requirements-build\.lock", text)
    for lock in ("requirements.lock", "requirements-build.lock"):
        install = re.search(rf"pip install ([^\n]*\\\n)*?\s*-r {re.escape(lock)}", text)
        assert install, lock
        assert "--require-hashes" in install[0] and "--no-deps" in install[0], install[0]
    assert re.search(r"pip wheel [^\n]*--no-deps --no-build-isolation", text)
    assert re.search(r"/opt/ots/bin/pip install --no-cache-dir --no-deps /tmp/dist/ots-", text)
    assert "/opt/ots/bin/pip check" in text


needs_caddy = pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy not installed")
KEY = "Qm4vT0b9c1XqZ8rLw2Yk5HnJd3Fs7GpA"


@needs_caddy
def test_caddys_own_error_lines_carry_no_uri(tmp_path: Path) -> None:
    """The real Caddyfile, at debug level: an error line names its request without URI or headers.

    No replica is there (the name `api` resolves to nothing), so every request
    ends in the proxy's own 503, which Caddy logs with the request it failed.
    """
    https_port, http_port = free_port(), free_port()
    moved = f"\tskip_install_trust\n\tdebug\n\tadmin off\n\thttp_port {http_port}\n"
    text = (ROOT / "Caddyfile").read_text()
    config = tmp_path / "Caddyfile"
    config.write_text(
        text.replace("\tskip_install_trust\n", f"{moved}\thttps_port {https_port}\n", 1)
    )
    env = {
        **os.environ,
        "OTS_DOMAIN": "localhost",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    log = tmp_path / "caddy.log"
    with log.open("w") as out:
        caddy = subprocess.Popen(
            ["caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        status = 0
        root = tmp_path / "data/caddy/pki/authorities/local/root.crt"
        deadline = time.monotonic() + 30
        while status != 503 and time.monotonic() < deadline:
            try:
                status = httpx.post(
                    f"https://localhost:{https_port}/secrets/{KEY}?x=1",
                    headers={"Referer": f"https://elsewhere/secrets/{KEY}"},
                    json={"passphrase": "pw"},
                    # Caddy's local CA, made at its start.
                    verify=ssl.create_default_context(cafile=root),
                    timeout=15,
                ).status_code
            except (OSError, httpx.HTTPError):
                time.sleep(0.2)
        assert status == 503, log.read_text()[-2000:]
    finally:
        caddy.terminate()
        caddy.wait(timeout=10)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("logger", "").startswith("http.log.error")]
    assert errors, text[-2000:]
    for error in errors:
        assert "uri" not in error["request"] and "headers" not in error["request"], error
    assert KEY not in text
