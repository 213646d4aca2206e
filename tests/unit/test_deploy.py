"""Static checks of the Dockerfile, compose files and Caddyfile (smoke.sh runs them for real)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from ots.config import Settings

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
