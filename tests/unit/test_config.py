"""config: every OTS_* variable parsed, checked, and named when wrong."""

from __future__ import annotations

import dataclasses
import os
import re
import resource
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from ots.config import Settings, parse_origin, usable_cpus, usable_memory
from ots.errors import ConfigError

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_defaults_are_the_contract_defaults() -> None:
    """With no environment, the contract's defaults apply."""
    s = Settings.from_env({})
    assert s.database_url == "sqlite://ots.sqlite3"
    assert (s.port, s.default_ttl, s.min_ttl, s.max_ttl) == (8080, 604800, 60, 2592000)
    assert (s.max_secret_bytes, s.max_attempts, s.max_live_secrets) == (65536, 5, 1_000_000)
    assert (s.rate_limit, s.rate_limit_storage) == ("600/minute", "memory://")
    assert s.receipt_retention == 604800


def test_one_client_may_fill_a_sixty_fourth_of_the_storage() -> None:
    """OTS_CLIENT_SHARE: 1/64 by default; a fraction or a decimal; 1 (off) is allowed."""
    assert Settings().client_share == Fraction(1, 64)
    assert Settings.from_env({"OTS_CLIENT_SHARE": "1/16"}).client_share == Fraction(1, 16)
    assert Settings.from_env({"OTS_CLIENT_SHARE": "0.25"}).client_share == Fraction(1, 4)
    assert Settings.from_env({"OTS_CLIENT_SHARE": "1"}).client_share == 1


def test_values_are_read_and_cast() -> None:
    """Every field is read from OTS_<NAME> with its type."""
    s = Settings.from_env(
        {"OTS_PORT": "9000", "OTS_SWEEP_INTERVAL": "0.5", "OTS_HOST": " 0.0.0.0 "}
    )
    assert (s.port, s.sweep_interval, s.host) == (9000, 0.5, "0.0.0.0")


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("FALSE", False), ("1", True), ("0", False), ("no", False)]
)
def test_booleans_are_read_as_people_write_them(raw: str, value: bool) -> None:
    """true/false, 1/0 and yes/no, in any case."""
    assert Settings.from_env({"OTS_METRICS": raw}).metrics is value


def test_cheapest_argon2_is_allowed() -> None:
    """Any cost argon2 accepts is allowed, so tests and benchmarks can be cheap."""
    s = Settings.from_env(
        {"OTS_ARGON2_TIME_COST": "1", "OTS_ARGON2_MEMORY_KIB": "8", "OTS_ARGON2_PARALLELISM": "1"}
    )
    assert s.argon2_memory_kib == 8


BAD = {
    "int-text": ("OTS_PORT", "eighty"),
    "int-float": ("OTS_MAX_ATTEMPTS", "2.5"),
    "port-zero": ("OTS_PORT", "0"),
    "float-nan": ("OTS_SWEEP_INTERVAL", "nan"),
    "float-text": ("OTS_DB_WAIT", "soon"),
    "negative-retention": ("OTS_RECEIPT_RETENTION", "-1"),
    "max-below-min": ("OTS_MAX_TTL", "10"),
    "default-out-of-range": ("OTS_DEFAULT_TTL", "99999999"),
    "argon2-time": ("OTS_ARGON2_TIME_COST", "0"),
    "argon2-lanes": ("OTS_ARGON2_PARALLELISM", "0"),
    "argon2-memory-per-lane": ("OTS_ARGON2_MEMORY_KIB", "15"),
    "argon2-lanes-past-any-use": ("OTS_ARGON2_PARALLELISM", "256"),
    "rate-limit": ("OTS_RATE_LIMIT", "fast"),
    "rate-storage": ("OTS_RATE_LIMIT_STORAGE", "mongodb://x"),
    "database": ("OTS_DATABASE_URL", "ots.sqlite3"),
    "kdf-queue-negative": ("OTS_KDF_QUEUE", "-1"),
    "kdf-max-wait-zero": ("OTS_KDF_MAX_WAIT", "0"),
    "ipv6-prefix-too-long": ("OTS_RATE_LIMIT_IPV6_PREFIX", "129"),
    "ipv6-prefix-zero": ("OTS_RATE_LIMIT_IPV6_PREFIX", "0"),
    "request-timeout-zero": ("OTS_REQUEST_TIMEOUT", "0"),
    "stored-bytes-zero": ("OTS_MAX_STORED_BYTES", "0"),
    "client-share-zero": ("OTS_CLIENT_SHARE", "0"),
    "client-share-negative": ("OTS_CLIENT_SHARE", "-1/64"),
    "client-share-over-one": ("OTS_CLIENT_SHARE", "2"),
    "client-share-not-a-number": ("OTS_CLIENT_SHARE", "a quarter"),
    "client-share-divided-by-zero": ("OTS_CLIENT_SHARE", "1/0"),
    "workers": ("OTS_WORKERS", "-2"),
    "metrics-not-a-boolean": ("OTS_METRICS", "sometimes"),
    "webhook-max-per-host-zero": ("OTS_WEBHOOK_MAX_PER_HOST", "0"),
    "web-not-a-boolean": ("OTS_WEB", "maybe"),
    "cors-wildcard": ("OTS_CORS_ORIGINS", "*"),
    "cors-null": ("OTS_CORS_ORIGINS", "null"),
    "cors-no-scheme": ("OTS_CORS_ORIGINS", "app.example.com"),
    "cors-path": ("OTS_CORS_ORIGINS", "https://app.example.com/app"),
    "cors-other-scheme": ("OTS_CORS_ORIGINS", "ftp://app.example.com"),
    "cors-one-bad-of-two": ("OTS_CORS_ORIGINS", "https://app.example.com,https://*.example.com"),
}


@pytest.mark.parametrize(("variable", "value"), BAD.values(), ids=BAD.keys())
def test_bad_value_names_the_variable(variable: str, value: str) -> None:
    """A bad value raises ConfigError whose message starts with the variable."""
    env = {variable: value}
    if variable == "OTS_ARGON2_MEMORY_KIB":
        env["OTS_ARGON2_PARALLELISM"] = "2"
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable)


def test_env_example_lists_every_setting_with_its_default() -> None:
    """.env.example names every OTS_* variable, with the value that is the default."""
    text = ENV_EXAMPLE.read_text()
    listed = dict(re.findall(r"^#?\s*(OTS_[A-Z0-9_]+)=(.*)$", text, flags=re.M))
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        name = f"OTS_{field.name.upper()}"
        assert name in listed, name
        assert Settings.from_env({name: listed[name]}) == defaults or listed[name] == str(
            getattr(defaults, field.name)
        ), name


def test_request_limit_fits_the_worst_escaping() -> None:
    r"""The body limit admits a maximal secret and passphrase escaped as \uXXXX."""
    s = Settings()
    assert s.request_max_bytes >= 6 * s.max_secret_bytes + 12 * 1024


CGROUPS = {
    "v2-no-quota": ({"cpu.max": "max 100000\n"}, None),
    "v2-one-and-a-half": ({"cpu.max": "150000 100000\n"}, 2),
    "v2-one": ({"cpu.max": "100000 100000\n"}, 1),
    "v2-tiny": ({"cpu.max": "1000 100000\n"}, 1),
    "v1-quota": ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2),
    "v1-none": ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
    "nothing": ({}, None),
}


@pytest.mark.parametrize(("files", "cap"), CGROUPS.values(), ids=CGROUPS.keys())
def test_kdf_threads_follow_the_cpus_this_process_may_use(
    tmp_path: Path, files: dict[str, str], cap: int | None
) -> None:
    """The default is the affinity, capped by a cgroup CPU quota (rounded up), never 0."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    affinity = len(os.sched_getaffinity(0))
    expected = affinity if cap is None else min(affinity, cap)
    assert usable_cpus(tmp_path) == expected


GIB = 1 << 30
MEMORY_CGROUPS = {
    "v2-limit": ({"memory.max": f"{GIB}\n"}, GIB),
    "v2-no-limit": ({"memory.max": "max\n"}, None),
    "v1-limit": ({"memory/memory.limit_in_bytes": f"{2 * GIB}\n"}, 2 * GIB),
    "v1-no-limit": ({"memory/memory.limit_in_bytes": "9223372036854771712\n"}, None),
    "nothing": ({}, None),
}


@pytest.mark.parametrize(("files", "cap"), MEMORY_CGROUPS.values(), ids=MEMORY_CGROUPS.keys())
def test_usable_memory_is_the_ram_capped_by_a_cgroup_limit(
    tmp_path: Path, files: dict[str, str], cap: int | None
) -> None:
    """A container's memory limit caps the machine's RAM."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected = ram if cap is None else min(ram, cap)
    assert usable_memory(tmp_path) == expected


def test_usable_memory_honours_the_address_space_limit(tmp_path: Path) -> None:
    """Under `ulimit -v`, the limit is what the process may use."""
    limit = 3 * GIB
    script = (
        "from pathlib import Path\n"
        "from ots.config import usable_memory\n"
        f"print(usable_memory(Path({str(tmp_path)!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(result.stdout) == limit


def test_empty_variables_mean_the_default() -> None:
    """Compose passes ${OTS_X:-} through as an empty string: that is the default, not an error."""
    assert Settings.from_env({"OTS_KDF_THREADS": "", "OTS_PORT": " "}) == Settings()


def test_settings_built_directly_are_checked() -> None:
    """A Settings made in code is validated like one read from the environment."""
    with pytest.raises(ConfigError, match="OTS_PORT"):
        Settings(port=0)
    with pytest.raises(ConfigError, match="OTS_DEFAULT_TTL"):
        Settings(min_ttl=100, default_ttl=10)


def test_repr_hides_passwords_and_the_forwarded_secret() -> None:
    """Printing settings (a debugger, a log line) shows no password and no shared secret."""
    settings = Settings(
        database_url="postgres://ots:hunter2@db:5432/ots",
        rate_limit_storage="redis://:s3cr3t@redis:6379/0",
        forwarded_secret="proxy-shared",
        metrics_token="scrape-token",
    )
    shown = repr(settings)
    for hidden in ("hunter2", "s3cr3t", "proxy-shared", "scrape-token"):
        assert hidden not in shown
    assert "postgres://ots:**********@db:5432/ots" in shown
    assert "port=8080" in shown
    assert repr(Settings()).count("**********") == 0


ORIGINS = {
    "lower-cased": ("HTTPS://App.Example.COM", "https://app.example.com"),
    "default-port-dropped": ("https://app.example.com:443", "https://app.example.com"),
    "other-port-kept": ("http://app.example.com:8080", "http://app.example.com:8080"),
    "http-default-port": ("http://127.0.0.1:80", "http://127.0.0.1"),
    "ipv6": ("http://[::1]:8080", "http://[::1]:8080"),
    "lone-slash": ("https://app.example.com/", "https://app.example.com"),
    "null": ("null", None),
    "wildcard": ("*", None),
    "path": ("https://app.example.com/x", None),
    "query": ("https://app.example.com?", None),
    "fragment": ("https://app.example.com#", None),
    "user-info": ("https://user@app.example.com", None),
    "port-zero": ("https://app.example.com:0", None),
    "port-too-big": ("https://app.example.com:65536", None),
    "port-not-a-number": ("https://app.example.com:x", None),
    "no-host": ("https://", None),
    "space-in-host": ("https://app example", None),
    "ipv6-zone": ("http://[fe80::1%25eth0]", None),
    "bad-ipv6": ("http://[::g]", None),
    "other-scheme": ("ws://app.example.com", None),
}


@pytest.mark.parametrize(("text", "origin"), ORIGINS.values(), ids=ORIGINS.keys())
def test_origins_are_made_canonical_or_refused(text: str, origin: str | None) -> None:
    """scheme://host[:port] in lower case without the default port; anything else is no origin."""
    assert parse_origin(text) == origin


def test_cors_origins_are_read_as_a_canonical_set() -> None:
    """OTS_CORS_ORIGINS is comma-separated; blanks are skipped and each origin made canonical."""
    s = Settings.from_env({"OTS_CORS_ORIGINS": " https://App.example:443/, ,http://[::1]:8080"})
    assert s.allowed_origins == frozenset({"https://app.example", "http://[::1]:8080"})
    assert Settings().allowed_origins == frozenset()
