"""Settings for tests: cheap argon2, one keyring for the run, and their environment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ots import keyring
from ots.config import Settings
from ots.keyring import KeyFile

# argon2 accepts these; they make a hash take microseconds. Only for tests.
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}
# One server keyring for the whole run, outside the checkout (the PostgreSQL default,
# ots.key in the working directory, would land in the repository).
TEST_KEY_FILE = Path(tempfile.mkdtemp(prefix="ots-test-keys-")) / "ots.key"


def make_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for tests: cheap argon2, short minimum TTL, slow sweeper."""
    values: dict[str, object] = {
        "database_url": database_url,
        "min_ttl": 1,
        "sweep_interval": 3600.0,
        "rate_limit": "100000/minute",
        "server_key_file": str(TEST_KEY_FILE),
        **CHEAP_ARGON2,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def server_keys(path: Path = TEST_KEY_FILE) -> KeyFile:
    """The server keyring at ``path``, created on first use."""
    ring, _ = keyring.ensure(path)
    return KeyFile(path, ring)


def settings_env(settings: Settings) -> dict[str, str]:
    """Return the ``OTS_*`` environment that reproduces ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTS_")}
    for name in Settings.__dataclass_fields__:
        env[f"OTS_{name.upper()}"] = str(getattr(settings, name))
    return env
