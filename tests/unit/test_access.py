"""The gate's rules without a server: a burst of guesses, checked while each lookup waits."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ots.access import AUTH_FAILURES, Gate
from ots.errors import RateLimitedError, UnauthorizedError
from ots.ratelimit import ClientRateLimiter
from ots.store.tokens import TokenStore
from ots.tokens import AccessMode, Token
from tests.support import server_keys


class SlowTokens:
    """A token store whose lookups all wait until the test lets them go; it knows no token."""

    def __init__(self) -> None:
        """Nothing looked up yet."""
        self.asked = 0
        self.go = asyncio.Event()

    async def find(self, token_id: int) -> Token | None:
        """Count the lookup, wait, find nothing."""
        del token_id
        self.asked += 1
        await self.go.wait()
        return None


def test_a_burst_of_guesses_cannot_pass_the_failure_count_together() -> None:
    """Guesses sent at once are held to the failure limit while their lookups are under way."""

    async def main() -> tuple[list[str], int]:
        tokens = SlowTokens()
        gate = Gate(
            AccessMode.TOKEN,
            (),
            cast(TokenStore, tokens),
            server_keys(),
            ClientRateLimiter("1000/minute", "memory://"),
        )
        guess = "Bearer ots_1_" + "A" * 43

        async def attempt() -> str:
            try:
                await gate.authenticate(guess, "192.0.2.1")
            except RateLimitedError:
                return "429"
            except UnauthorizedError:
                return "401"
            return "200"

        burst: list[asyncio.Task[Any]] = [asyncio.create_task(attempt()) for _ in range(30)]
        while tokens.asked < AUTH_FAILURES.amount and not all(t.done() for t in burst):
            await asyncio.sleep(0)
        await asyncio.sleep(0.01)
        tokens.go.set()
        answers = [await task for task in burst]
        after = await attempt()
        return [*answers, after], tokens.asked

    answers, asked = asyncio.run(main())
    assert asked == AUTH_FAILURES.amount
    assert answers.count("401") == AUTH_FAILURES.amount
    assert answers.count("429") == 30 - AUTH_FAILURES.amount + 1
