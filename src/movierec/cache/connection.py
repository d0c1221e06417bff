"""What every part of the Redis store shares: the connection (a client of text and one of
bytes, made on first use), the key prefix and the registered Lua scripts."""

from __future__ import annotations

import logging
import threading

import redis

# One logger for the whole store, under the name its records have always carried.
log = logging.getLogger("movierec.cache.store")

# Redis cannot answer at all (refused, lost, timed out), as opposed to a bug: readers that have
# a fallback read around it.
REDIS_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError)


class RedisConnection:
    """Lazily connects, so that nothing touches Redis at import or app-creation time."""

    def __init__(
        self, url: str | None = None, prefix: str = "movierec", chunk_size: int = 1000
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.chunk_size = chunk_size
        self._client: redis.Redis | None = None
        self._binary_client: redis.Redis | None = None
        self._scripts: dict[str, redis.commands.core.Script] = {}
        # Concurrent first uses (gthread workers, scheduler jobs) must share one client and pool.
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self.url is None:
                        raise RuntimeError("CacheStore has no URL: call init_app() or pass one")
                    self._client = redis.Redis.from_url(
                        self.url,
                        decode_responses=True,
                        socket_timeout=5,
                        socket_connect_timeout=5,
                        health_check_interval=30,
                    )
        return self._client

    @property
    def binary_client(self) -> redis.Redis:
        """A client that returns bytes (model blobs), sharing nothing with ``client``."""
        if self._binary_client is None:
            with self._lock:
                if self._binary_client is None:
                    if self.url is None:
                        raise RuntimeError("CacheStore has no URL: call init_app() or pass one")
                    self._binary_client = redis.Redis.from_url(
                        self.url, socket_timeout=30, socket_connect_timeout=5
                    )
        return self._binary_client

    def key(self, *parts: object) -> str:
        return ":".join([self.prefix, *(str(part) for part in parts)])

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
            self._scripts.clear()
        if self._binary_client is not None:
            self._binary_client.close()
            self._binary_client = None

    def _script(self, source: str) -> redis.commands.core.Script:
        # Registered once per client: later calls are a single EVALSHA.
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]
