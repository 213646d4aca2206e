"""The service with an injected KDF pool: argon2id never runs on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ots import db
from ots.crypto import Concealed
from ots.kdf import KdfPool
from ots.service import SecretService
from tests.support import FakeClock, make_settings, server_keys


class RecordingPool(ThreadPoolExecutor):
    """A thread pool that notes which thread ran each job."""

    def __init__(self) -> None:
        """Start one worker thread."""
        super().__init__(max_workers=1)
        self.threads: list[int] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run ``fn`` on the pool, recording the thread it runs on."""

        def job() -> Any:
            self.threads.append(threading.get_ident())
            return fn(*args, **kwargs)

        return super().submit(job)


def test_key_derivation_runs_on_the_pool_not_the_loop(db_url: str) -> None:
    """Create and reveal each derive the key once, on the KDF pool's thread."""
    pool = RecordingPool()

    async def main() -> tuple[str, int]:
        context = await db.open_database(make_settings(db_url))
        try:
            service = SecretService(
                make_settings(db_url), FakeClock(), KdfPool(pool, 1), server_keys()
            )
            created = await service.create_secret("s", Concealed("p"), None)
            revealed = await service.reveal_secret(created.secret_key, Concealed("p"))
            return revealed, threading.get_ident()
        finally:
            await db.close_database(context)

    revealed, loop_thread = asyncio.run(main())
    pool.shutdown()
    assert revealed == "s"
    assert len(pool.threads) == 2
    assert loop_thread not in pool.threads
