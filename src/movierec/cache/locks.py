"""Job locks: ``{p}:lock:{job}``, held by the one process running a job that must not
overlap another run of it (two schedulers, or a scheduler and a manual ``movierec train``): a
short-lived Redis lock renewed while the job runs, so a killed job frees it within a minute."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError

from movierec.cache.connection import RedisConnection, log

# A job lock expires this long after its holder stops renewing it (killed, frozen, cut off).
LOCK_TTL_SECONDS = 60

_DELETE_IF_HELD_BY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LockBusy(Exception):
    """Another process holds the job lock; the message says which job and who holds it."""


class JobLocks(RedisConnection):
    """Locks of jobs that must not overlap, renewed while their holder runs."""

    @contextmanager
    def hold_lock(self, job: str, ttl: float = LOCK_TTL_SECONDS) -> Iterator[None]:
        """Run the block as the only holder of ``job``'s lock, or raise ``LockBusy`` at once.

        The lock expires ``ttl`` seconds after the last renewal; a thread renews it every
        ``ttl / 3`` seconds while the block runs, so a long refresh keeps it and a killed one
        loses it soon.
        """
        name = self.key("lock", job)
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lock = self.client.lock(name, timeout=ttl, blocking=False, thread_local=False)
        if not lock.acquire(token=holder):
            raise LockBusy(
                f"another {job} job is running (lock {name} held by {self.client.get(name)})"
            )
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(ttl / 3):
                try:
                    lock.reacquire()
                except (LockError, redis.RedisError) as error:
                    log.warning("could not renew lock %s: %s", name, error)

        renewer = threading.Thread(target=renew, name=f"renew-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            try:
                lock.release()
            except (LockError, redis.RedisError) as error:
                log.warning("lock %s was lost before release: %s", name, error)

    def lock_holder(self, job: str) -> str | None:
        """Who holds ``job``'s lock now (host:pid:token), or None."""
        return self.client.get(self.key("lock", job))

    def break_lock(self, job: str, holder: str) -> bool:
        """Delete ``job``'s lock if ``holder`` still holds it (a holder known to be dead); True
        if it was deleted. Atomic, so a lock a live process took meanwhile is never touched."""
        return bool(self._script(_DELETE_IF_HELD_BY)(keys=[self.key("lock", job)], args=[holder]))
