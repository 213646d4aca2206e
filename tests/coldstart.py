"""Cold-start measurement: process start to first answered request under uvicorn.

Usage::

    python -m tests.coldstart

For SQLite and PostgreSQL it starts ``uvicorn ots.asgi:app`` on an empty
database (the first start migrates it) and again on the migrated database,
polling ``/health`` every 5 ms, and prints the time until the first 200.
Figures go to stdout; nothing is asserted.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support import (
    create_postgres_database,
    drop_postgres_database,
    free_port,
    make_settings,
    server_command,
    settings_env,
)


def first_answer_seconds(database_url: str) -> float:
    """Start uvicorn on ``database_url``; return seconds until /health answered 200."""
    settings = make_settings(database_url, port=free_port())
    base = f"http://127.0.0.1:{settings.port}"
    started = time.perf_counter()
    proc = subprocess.Popen(
        server_command(settings, "uvicorn"),
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("uvicorn exited")
            time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    """Measure and print both databases, empty and migrated."""
    with tempfile.TemporaryDirectory() as tmp:
        targets = {
            "sqlite": f"sqlite://{Path(tmp) / 'cold.sqlite3'}",
            "postgres": create_postgres_database(),
        }
        try:
            for name, url in targets.items():
                empty = first_answer_seconds(url)
                migrated = first_answer_seconds(url)
                print(f"{name:9} empty database {empty:5.2f} s   migrated {migrated:5.2f} s")
        finally:
            drop_postgres_database(targets["postgres"])


if __name__ == "__main__":
    main()
