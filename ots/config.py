"""Settings of ots, read from ``OTS_*`` environment variables and checked at start.

Every setting has a working default. ``Settings.from_env`` raises
``ConfigError`` naming the first bad variable, so the server refuses to start
rather than run with a value nobody meant. Neither Sanic nor Tortoise is
imported here.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import math
import os
import re
import resource
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from limits import parse as parse_rate_limit

from ots import sealed
from ots.errors import ConfigError
from ots.tokens import AccessMode, Network, parse_networks

DEFAULT_DATABASE_URL: Final = "sqlite://ots.sqlite3"
DEFAULT_KEY_FILE: Final = "ots.key"
DATABASE_SCHEMES: Final = ("sqlite", "postgres", "postgresql")
CREATE_ACCESS_MODES: Final = tuple(mode.value for mode in AccessMode)
# argon2 itself refuses a time cost below 1, lanes below 1 and memory below 8 KiB per lane;
# the upper bound of time and memory is argon2's own (2^32 - 1). What this machine can
# afford is checked at start (ots.kdf.check_argon2): memory against the memory there
# is, time against OTS_RESPONSE_TIMEOUT.
ARGON2_MAX: Final = 2**32 - 1
# Each lane is a thread of its own in every hash in flight, and beyond the CPUs there
# are, lanes only add threads: 255 (what Go's x/crypto/argon2 takes, a uint8) is far
# past any use, and argon2's own 2^24 - 1 would be 16 million threads per hash.
ARGON2_MAX_LANES: Final = 255

# The schemes an origin may have, with their default ports (left out of a canonical origin).
ORIGIN_PORTS: Final = {"http": 80, "https": 443}
_HOSTNAME: Final = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")

# Settings that may carry a password (redis://:pw@host too) or are secret themselves.
_URL_SETTINGS: Final = frozenset({"database_url", "rate_limit_storage"})
_SECRET_SETTINGS: Final = frozenset({"forwarded_secret", "metrics_token"})


@dataclass(frozen=True, repr=False)
class Settings:
    """Every tunable of ots; field ``x`` is read from ``OTS_X``.

    Checked whenever one is built (``ConfigError`` names the variable), and
    its ``repr`` hides what may not be printed: passwords in URLs and the
    forwarded secret.
    """

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    default_ttl: int = 604800
    min_ttl: int = 60
    max_ttl: int = 2592000
    max_secret_bytes: int = 65536
    max_attempts: int = 5
    rate_limit: str = "600/minute"
    rate_limit_storage: str = "memory://"
    proxies_count: int = 0
    forwarded_secret: str = ""
    real_ip_header: str = ""
    max_live_secrets: int = 1_000_000
    sweep_interval: float = 60.0
    sweep_batch: int = 1000
    receipt_retention: int = 604800
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19456
    argon2_parallelism: int = 1
    # 0: the usable CPUs shared among the workers (``kdf_pool_threads``).
    kdf_threads: int = 0
    kdf_queue: int = 128
    kdf_max_wait: float = 5.0
    max_stored_bytes: int = 1 << 30
    # The part of each quota one client may hold: 1/64 of the live secrets, and of the bytes.
    client_share: Fraction = Fraction(1, 64)
    rate_limit_ipv6_prefix: int = 64
    request_timeout: int = 10
    response_timeout: int = 30
    keep_alive_timeout: int = 5
    db_wait: float = 30.0
    server_key_file: str = ""
    metrics: bool = True
    metrics_token: str = ""
    webhooks: bool = True
    webhook_allow_private: bool = False
    webhook_allow_http: bool = False
    webhook_timeout: float = 5.0
    webhook_retry_base: int = 10
    webhook_retry_period: int = 86400
    webhook_max_per_host: int = 4
    audit_client_address: bool = False
    access_log: bool = False
    cors_origins: str = ""
    web: bool = True
    create_access: str = "open"
    create_networks: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``).

        Raises:
            ConfigError: a variable is set to a value that cannot be used.
        """
        env = os.environ if environ is None else environ
        types = typing.get_type_hints(cls)
        values: dict[str, Any] = {}  # each value has its own field's type
        for f in dataclasses.fields(cls):
            name = variable(f.name)
            raw = env.get(name)
            if raw is None or not raw.strip():
                # Empty means unset: compose passes ${OTS_X:-} through as "".
                continue
            values[f.name] = _CASTS[types[f.name]](name, raw.strip())
        return dataclasses.replace(cls(), **values)

    def __post_init__(self) -> None:
        """Refuse a value nobody meant, however the settings were built."""
        self.check()

    @property
    def kdf_pool_threads(self) -> int:
        """Return the argon2 threads of each worker: ``OTS_KDF_THREADS``, or automatic.

        Automatic: the CPUs this process may use, shared among the workers
        (at least one each), so that the workers' hashes together fill the
        cores without more of them running at once than there are cores: a
        19 MiB argon2id hash that shares its core (and the last-level cache)
        with another runs slower, not more of them (measured: 2 workers with
        2 threads each on 2 cores did 6 % fewer hashes than with 1 each).
        """
        return self.kdf_threads or max(1, usable_cpus() // self.workers)

    def __repr__(self) -> str:
        """Show every setting, with passwords and the forwarded secret as stars."""
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in _URL_SETTINGS:
                value = _hide_password(value)
            elif f.name in _SECRET_SETTINGS and value:
                value = "**********"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def check(self) -> None:
        """Check the relations between settings.

        Raises:
            ConfigError: a value is out of range or contradicts another.
        """
        scheme = self.database_url.split("://", 1)[0] if "://" in self.database_url else ""
        if scheme not in DATABASE_SCHEMES:
            raise ConfigError(
                "OTS_DATABASE_URL", "must start with sqlite://, postgres:// or postgresql://"
            )
        _require("OTS_PORT", 0 < self.port < 65536, "must be between 1 and 65535")
        _require("OTS_HOST", bool(self.host), "must not be empty")
        positives = {
            "OTS_WORKERS": self.workers,
            "OTS_MIN_TTL": self.min_ttl,
            "OTS_MAX_SECRET_BYTES": self.max_secret_bytes,
            "OTS_MAX_ATTEMPTS": self.max_attempts,
            "OTS_MAX_LIVE_SECRETS": self.max_live_secrets,
            "OTS_SWEEP_INTERVAL": self.sweep_interval,
            "OTS_SWEEP_BATCH": self.sweep_batch,
            "OTS_KDF_MAX_WAIT": self.kdf_max_wait,
            "OTS_MAX_STORED_BYTES": self.max_stored_bytes,
            "OTS_REQUEST_TIMEOUT": self.request_timeout,
            "OTS_RESPONSE_TIMEOUT": self.response_timeout,
            "OTS_KEEP_ALIVE_TIMEOUT": self.keep_alive_timeout,
            "OTS_WEBHOOK_TIMEOUT": self.webhook_timeout,
            "OTS_WEBHOOK_RETRY_BASE": self.webhook_retry_base,
            "OTS_WEBHOOK_MAX_PER_HOST": self.webhook_max_per_host,
        }
        for name, value in positives.items():
            _require(name, value > 0, "must be greater than 0")
        _require("OTS_RECEIPT_RETENTION", self.receipt_retention >= 0, "must not be negative")
        _require(
            "OTS_CLIENT_SHARE",
            0 < self.client_share <= 1,
            "must be a fraction above 0 and at most 1 (1: no per-client share), e.g. 1/64",
        )
        _require("OTS_KDF_QUEUE", self.kdf_queue >= 0, "must not be negative")
        _require("OTS_KDF_THREADS", self.kdf_threads >= 0, "must not be negative (0: automatic)")
        _require(
            "OTS_RATE_LIMIT_IPV6_PREFIX",
            1 <= self.rate_limit_ipv6_prefix <= 128,
            "must be between 1 and 128",
        )
        _require("OTS_PROXIES_COUNT", self.proxies_count >= 0, "must not be negative")
        _require("OTS_DB_WAIT", self.db_wait >= 0, "must not be negative")
        _require("OTS_WEBHOOK_RETRY_PERIOD", self.webhook_retry_period >= 0, "must not be negative")
        _require("OTS_MAX_TTL", self.max_ttl >= self.min_ttl, "must not be below OTS_MIN_TTL")
        _require(
            "OTS_DEFAULT_TTL",
            self.min_ttl <= self.default_ttl <= self.max_ttl,
            "must lie between OTS_MIN_TTL and OTS_MAX_TTL",
        )
        _require(
            "OTS_ARGON2_TIME_COST",
            1 <= self.argon2_time_cost <= ARGON2_MAX,
            f"must be between 1 and {ARGON2_MAX}",
        )
        _require(
            "OTS_ARGON2_PARALLELISM",
            1 <= self.argon2_parallelism <= ARGON2_MAX_LANES,
            f"must be between 1 and {ARGON2_MAX_LANES}",
        )
        _require(
            "OTS_ARGON2_MEMORY_KIB",
            8 * self.argon2_parallelism <= self.argon2_memory_kib <= ARGON2_MAX,
            "must be at least 8 KiB per lane (8 x OTS_ARGON2_PARALLELISM)",
        )
        try:
            parse_rate_limit(self.rate_limit)
        except ValueError as exc:
            raise ConfigError("OTS_RATE_LIMIT", "must look like '600/minute'") from exc
        for origin in self.cors_origins.split(","):
            _require(
                "OTS_CORS_ORIGINS",
                not origin.strip() or parse_origin(origin) is not None,
                f"{origin.strip()!r} is not an origin such as https://app.example.com "
                "(http or https, a host and an optional port; no path, * or null)",
            )
        _require(
            "OTS_CREATE_ACCESS",
            self.create_access in CREATE_ACCESS_MODES,
            f"must be one of {', '.join(CREATE_ACCESS_MODES)}",
        )
        try:
            networks = parse_networks(self.create_networks)
        except ValueError as exc:
            raise ConfigError(
                "OTS_CREATE_NETWORKS",
                f"must list networks such as 10.0.0.0/8,2001:db8::/32 ({exc})",
            ) from None
        _require(
            "OTS_CREATE_NETWORKS",
            bool(networks) or self.create_access not in ("network", "token_or_network"),
            f"must list at least one network when OTS_CREATE_ACCESS is {self.create_access}",
        )
        _require(
            "OTS_RATE_LIMIT_STORAGE",
            self.rate_limit_storage.split("://", 1)[0]
            in ("memory", "redis", "rediss", "async+memory", "async+redis"),
            "must be memory:// or redis://host:port",
        )

    @cached_property
    def allowed_origins(self) -> frozenset[str]:
        """The origins of ``OTS_CORS_ORIGINS``, canonical (see ``parse_origin``)."""
        parsed = (parse_origin(origin) for origin in self.cors_origins.split(","))
        return frozenset(origin for origin in parsed if origin is not None)

    @cached_property
    def access_mode(self) -> AccessMode:
        """``OTS_CREATE_ACCESS``: who may create secrets."""
        return AccessMode(self.create_access)

    @cached_property
    def allowed_networks(self) -> tuple[Network, ...]:
        """The networks of ``OTS_CREATE_NETWORKS``."""
        return parse_networks(self.create_networks)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is an embedded SQLite file."""
        return self.database_url.startswith("sqlite://")

    @property
    def server_key_path(self) -> Path:
        """The keyring file: ``OTS_SERVER_KEY_FILE``, else ``ots.key`` beside the SQLite file.

        On PostgreSQL the default is ``ots.key`` in the working directory.
        """
        if self.server_key_file:
            return Path(self.server_key_file)
        if self.is_sqlite:
            return Path(sqlite_path(self.database_url)).parent / DEFAULT_KEY_FILE
        return Path(DEFAULT_KEY_FILE)

    @property
    def request_max_bytes(self) -> int:
        r"""Largest request body accepted.

        Any body whose decoded fields are within the field limits must fit,
        however the client escaped it: one UTF-8 byte of the secret can take
        six bytes as ``\u00XX``, one passphrase character twelve (a surrogate
        pair), and the rest (keys, ttl, punctuation) gets a fixed allowance.
        A sealed body's ciphertext is base64url, 4 characters per 3 bytes
        (and its tag), each of which may be escaped the same way.
        """
        sealed_chars = sealed.b64_chars(self.max_secret_bytes + sealed.TAG_BYTES)
        return 6 * max(self.max_secret_bytes, sealed_chars) + 12 * 1024 + 4096


# One line per setting for `ots COMMAND --help`; .env.example and the README say more.
HELP: Final[dict[str, str]] = {
    "database_url": "sqlite://PATH (a file) or postgres://user:password@host:5432/db",
    "host": "address to listen on (0.0.0.0 in a container)",
    "port": "port to listen on",
    "workers": "worker processes",
    "default_ttl": "seconds a secret lives when the client names no ttl",
    "min_ttl": "shortest ttl a client may ask for, in seconds",
    "max_ttl": "longest ttl a client may ask for, in seconds",
    "max_secret_bytes": "largest secret, in bytes of UTF-8",
    "max_attempts": "wrong passphrases before a secret is destroyed",
    "rate_limit": "requests per client address, e.g. 600/minute",
    "rate_limit_storage": "memory:// (per process) or redis://host:6379 (shared)",
    "proxies_count": "proxies in front that append to X-Forwarded-For",
    "forwarded_secret": "the secret= a proxy puts in its Forwarded header",
    "real_ip_header": "a header holding the client address, e.g. X-Real-IP",
    "max_live_secrets": "unread secrets and open requests kept before creates answer 507",
    "sweep_interval": "seconds between sweeps of expired secrets",
    "sweep_batch": "rows deleted per sweep statement",
    "receipt_retention": "seconds a receipt is kept after its secret ends",
    "argon2_time_cost": "argon2id passes per secret",
    "argon2_memory_kib": "argon2id memory per secret, KiB",
    "argon2_parallelism": "argon2id lanes per secret",
    "kdf_threads": "argon2 threads per worker "
    "(default 0: the usable CPUs divided among the workers, at least 1)",
    "kdf_queue": "argon2 jobs that may wait per worker, at most, before 503 overloaded",
    "kdf_max_wait": "seconds a new argon2 job may expect to wait and run before 503 overloaded "
    "(at most OTS_RESPONSE_TIMEOUT)",
    "max_stored_bytes": "bytes stored before creates (and answers to requests) answer 507",
    "client_share": "part of OTS_MAX_LIVE_SECRETS and OTS_MAX_STORED_BYTES one client may hold "
    "before it gets 507, e.g. 1/64 or 0.05 (1: no per-client share)",
    "rate_limit_ipv6_prefix": "IPv6 clients are counted by this prefix",
    "request_timeout": "seconds a client has to send a whole request (else 408)",
    "response_timeout": "seconds the server has to answer (else 503)",
    "keep_alive_timeout": "seconds an idle keep-alive connection stays open",
    "db_wait": "seconds to wait for the database at start",
    "server_key_file": "the server keyring (default: ots.key beside the SQLite file)",
    "metrics": "serve Prometheus metrics at /metrics (true or false)",
    "metrics_token": "when set, /metrics wants Authorization: Bearer <token>",
    "webhooks": "accept notify (per-secret webhooks) on /generate (true or false)",
    "webhook_allow_private": "let webhooks reach loopback, private and link-local addresses",
    "webhook_allow_http": "let webhooks use http:// (default: https:// only)",
    "webhook_timeout": "seconds one webhook delivery may take",
    "webhook_retry_base": "seconds before the first retry of a failed delivery (doubling)",
    "webhook_retry_period": "seconds after an event when its delivery is given up (dead)",
    "webhook_max_per_host": "webhook sends in flight per destination host, per worker",
    "audit_client_address": "put the client address in audit log lines (true or false)",
    "access_log": "one line per request on the error stream, keys redacted (true or false)",
    "cors_origins": "other sites whose pages may call the API, e.g. https://app.example.com,...",
    "web": "serve the pages for browsers at /, /secrets/KEY and /receipts/KEY (true or false)",
    "create_access": "who may create secrets: open, token, network or token_or_network",
    "create_networks": "client networks that may create (network modes), e.g. 10.0.0.0/8,...",
}
# The settings each command reads, beside `serve` (which reads them all).
COMMAND_SETTINGS: Final[dict[str, tuple[str, ...]]] = {
    "migrate": ("database_url", "db_wait", "server_key_file"),
    "sweep": ("database_url", "db_wait", "sweep_batch", "receipt_retention"),
    "keys": ("server_key_file", "database_url"),
    "tokens": ("database_url", "db_wait", "server_key_file"),
}
# Read by someone other than the server: the client commands, and docker compose.
OTHER_VARIABLES: Final = frozenset(
    {
        "OTS_URL",
        "OTS_TOKEN",
        "OTS_PUBLISH_ADDRESS",
        "OTS_PUBLISH_PORT",
        "OTS_IMAGE",
        "OTS_PYTHON_IMAGE",
        "OTS_POSTGRES_IMAGE",
        "OTS_REDIS_IMAGE",
    }
)


def variable(name: str) -> str:
    """Return the environment variable of setting ``name``."""
    return "OTS_" + name.upper()


def describe_settings(names: Iterable[str]) -> str:
    """Return one help line per setting: its variable, default and meaning."""
    defaults = Settings()
    lines = []
    for name in names:
        default = f" (default {getattr(defaults, name)})"
        lines.append(f"  {variable(name)}{default}\n      {HELP[name]}")
    return "\n".join(lines)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return a warning for each ``OTS_*`` variable that nothing reads (a typo, usually)."""
    env = os.environ if environ is None else environ
    known = {variable(f.name) for f in dataclasses.fields(Settings)} | OTHER_VARIABLES
    warnings = []
    for name in sorted(env):
        if not name.startswith("OTS_") or name in known:
            continue
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {guess[0]}?" if guess else ""
        warnings.append(f"{name} is not a setting of ots and is ignored{hint}")
    return warnings


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Return the CPUs this process may really use: its affinity, capped by a cgroup quota.

    ``os.cpu_count()`` is the host's count: in a container limited to two
    CPUs on a 64-CPU host it would start 64 argon2 threads of 19 MiB each.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity (macOS)
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpu_quota(cgroup)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def usable_memory(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Return the bytes of memory this process may really use.

    The machine's RAM, capped by a cgroup memory limit (a container's) and by
    the address-space limit (``ulimit -v``), whichever is lowest.
    """
    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    cgroup_limit = _cgroup_memory_limit(cgroup)
    if cgroup_limit is not None:
        limits.append(cgroup_limit)
    address_space, _ = resource.getrlimit(resource.RLIMIT_AS)
    if address_space != resource.RLIM_INFINITY:
        limits.append(address_space)
    return min(limits)


def _cgroup_memory_limit(cgroup: Path) -> int | None:
    # cgroup v2: "memory.max" holds bytes or "max"; cgroup v1:
    # memory/memory.limit_in_bytes (a huge number when there is no limit).
    for path in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        try:
            return int(path.read_text().strip())
        except OSError:
            continue
        except ValueError:  # "max": no limit
            return None
    return None


def _cgroup_cpu_quota(cgroup: Path) -> float | None:
    # cgroup v2: "cpu.max" holds "<quota> <period>" or "max <period>";
    # cgroup v1: cpu/cpu.cfs_quota_us (-1 for none) and cpu/cpu.cfs_period_us.
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        value, per = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return value / per if value > 0 and per > 0 else None


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:**********@{host}"))


def parse_origin(text: str) -> str | None:
    """Return ``text`` as a canonical web origin, or None if it is not one.

    Canonical: ``scheme://host[:port]`` in lower case, without the scheme's
    default port, an IPv6 host in brackets. Only ``http`` and ``https`` with
    a host (and at most a lone ``/`` after it) are origins; ``null`` and
    ``*`` are not.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if (
        scheme not in ORIGIN_PORTS
        or parts.path not in ("", "/")
        or "?" in text
        or "#" in text
        or "@" in parts.netloc
        or port == 0
    ):
        return None
    if ":" in host:
        try:
            ip = ipaddress.IPv6Address(host)
        except ValueError:
            return None
        if ip.scope_id is not None:
            return None
        host = f"[{host}]"
    elif not _HOSTNAME.fullmatch(host):
        return None
    if port is None or port == ORIGIN_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def sqlite_path(database_url: str) -> str:
    """Return the file path of a ``sqlite://`` URL (relative to the working directory)."""
    return database_url.removeprefix("sqlite://").split("?", 1)[0]


def _require(variable: str, condition: bool, problem: str) -> None:
    if not condition:
        raise ConfigError(variable, problem)


def _cast_int(name: str, raw: str) -> int:
    try:
        return int(raw, 10)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, got {raw!r}") from None


def _cast_fraction(name: str, raw: str) -> Fraction:
    try:
        return Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(name, f"must be a fraction such as 1/64 or 0.05, got {raw!r}") from None


def _cast_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(name, f"must be a finite number, got {raw!r}")
    return value


_BOOLEANS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _cast_bool(name: str, raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise ConfigError(name, f"must be true or false, got {raw!r}") from None


def _cast_str(name: str, raw: str) -> str:
    del name
    return raw


# A setting's cast is chosen by its annotated type; a new type needs a cast here.
_CASTS: Final[dict[type, Callable[[str, str], object]]] = {
    int: _cast_int,
    float: _cast_float,
    Fraction: _cast_fraction,
    bool: _cast_bool,
    str: _cast_str,
}
