"""Redis locks held as leases: a short expiry, renewed while the holder is alive.

A plain lock with a long timeout outlives a crashed (SIGKILLed) holder by that timeout: the
other workers then wait minutes (stats), or a day (re-score jobs). A lease expires ``ttl``
seconds after its holder stops renewing it, and never while the holder runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterator

log = logging.getLogger("invarium.locks")

LEASE_TTL_S = 10.0


@contextlib.asynccontextmanager
async def lease(client, name: str, *, ttl: float = LEASE_TTL_S, blocking: bool = True,
                blocking_timeout: float | None = None) -> AsyncIterator[bool]:  # fmt: skip
    """``async with lease(redis, name) as held``: ``held`` is False only when ``blocking`` is off
    (or ``blocking_timeout`` ran out) and another process holds it."""
    lock = client.lock(name, timeout=ttl, blocking=blocking, blocking_timeout=blocking_timeout)
    if not await lock.acquire():
        yield False
        return

    async def renew() -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            await lock.reacquire()

    keeper = asyncio.create_task(renew())
    try:
        yield True
    finally:
        keeper.cancel()
        with contextlib.suppress(Exception):  # expired or lost: nothing left to release
            await lock.release()


@contextlib.contextmanager
def lease_sync(client, name: str, *, ttl: float = LEASE_TTL_S) -> Iterator[None]:
    """The blocking form, for code running in a thread (waits as long as it takes)."""
    # thread_local off: the renewing thread must see the token the acquiring thread got
    lock = client.lock(name, timeout=ttl, blocking=True, blocking_timeout=None, thread_local=False)
    lock.acquire()
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                lock.reacquire()
            except Exception:  # noqa: BLE001 - the next round tries again; the holder is told nothing
                log.warning("could not renew lease %s", name)

    keeper = threading.Thread(target=renew, name=f"lease:{name}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        with contextlib.suppress(Exception):
            lock.release()
