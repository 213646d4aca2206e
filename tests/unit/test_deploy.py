"""Static checks of the Dockerfile and docker-compose.yml (the smoke test runs them for real)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


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
    assert api["ports"] == ["${OTS_PUBLISH_ADDRESS:-127.0.0.1}:${OTS_PUBLISH_PORT:-8080}:8080"]
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


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_config_is_valid_without_env(tmp_path: Path) -> None:
    """docker-compose accepts the file as it is, with no .env beside it."""
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_honours_a_dotenv(tmp_path: Path) -> None:
    """Values from a .env replace the defaults written in the compose file."""
    env_file = tmp_path / ".env"
    env_file.write_text("OTS_PUBLISH_PORT=9999\nOTS_RATE_LIMIT=5/second\nPOSTGRES_DB=other\n")
    result = subprocess.run(
        [
            "docker-compose",
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(env_file),
            "config",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    api = config["services"]["api"]
    assert api["environment"]["OTS_RATE_LIMIT"] == "5/second"
    assert api["environment"]["OTS_DATABASE_URL"].endswith("/other")
    assert "9999" in str(api["ports"])


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
    for port in api["ports"]:
        assert _interpolate(port, example) == _interpolate(port, {})
