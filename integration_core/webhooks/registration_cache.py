"""Registrations and their signing secrets, kept in memory for a few seconds per id.

Every delivery needs its registration (a cross-partition query) and its secrets (the
credential's metadata read); at hundreds of deliveries a second those reads were most of
the receiver's own cost. One cache per document store (so runtimes in one process never
share entries) holds both for `CACHE_SECONDS`.

How stale an entry can be, and why that is safe:
- In this process every change (disable, enable, failure, success, rotate, Notion's token,
  unregister) goes through `WebhookRegistrations`, which forgets the id first: the next
  delivery reads the store. A read that began before the change is not cached after it
  (a generation count), so a change is never hidden by a read racing it.
- A change made by another instance reaches this one within `CACHE_SECONDS`: a disabled or
  deleted registration stops being accepted here at most that long after, and a secret
  whose rotation overlap has ended verifies at most that long after the end.
- A secret rotated elsewhere is not refused meanwhile: a signature that fails against the
  cached secrets is checked again against the store's before the delivery is refused.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integration_core.storage import DocumentStore

if TYPE_CHECKING:
    from integration_core.webhooks.registrations import WebhookRegistration

__all__ = ["CACHE_SECONDS", "RegistrationCache", "cache_for"]

CACHE_SECONDS = 5.0
_SIZE = 10_000


@dataclass(frozen=True)
class _Entry:
    registration: WebhookRegistration
    secrets: tuple[str, ...] | None
    expires: float


class RegistrationCache:
    """Thread-safe; `clock` is monotonic seconds (tests move it)."""

    def __init__(
        self,
        *,
        ttl: float = CACHE_SECONDS,
        size: int = _SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def generation(self) -> int:
        """Take before a read of the store; pass to `put` so a change since is not hidden."""
        return self._generation

    def registration(self, registration_id: str) -> WebhookRegistration | None:
        entry = self._fresh(registration_id)
        return entry.registration if entry is not None else None

    def secrets(self, registration: WebhookRegistration) -> tuple[str, ...] | None:
        entry = self._fresh(registration.id)
        if entry is None or entry.registration is not registration:
            return None
        return entry.secrets

    def put(self, registration: WebhookRegistration, generation: int) -> None:
        """Keep `registration`, read from the store, unless something changed since."""
        with self._lock:
            if generation != self._generation:
                return
            self._entries.pop(registration.id, None)
            self._entries[registration.id] = _Entry(registration, None, self._clock() + self._ttl)
            if len(self._entries) > self._size:
                del self._entries[next(iter(self._entries))]

    def attach(
        self, registration: WebhookRegistration, generation: int, secrets: tuple[str, ...]
    ) -> None:
        """Keep `secrets` with the entry `registration` is (expiring with it)."""
        with self._lock:
            held = self._entries.get(registration.id)
            fresh = generation == self._generation
            if fresh and held is not None and held.registration is registration:
                self._entries[registration.id] = _Entry(registration, secrets, held.expires)

    def forget(self, registration_id: str) -> None:
        """The registration changed here (call after the write): the next delivery reads
        the store."""
        with self._lock:
            self._generation += 1
            self._entries.pop(registration_id, None)

    def _fresh(self, registration_id: str) -> _Entry | None:
        entry = self._entries.get(registration_id)
        if entry is None or entry.expires <= self._clock():
            return None
        return entry


_caches: weakref.WeakKeyDictionary[DocumentStore, RegistrationCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(store: DocumentStore) -> RegistrationCache:
    """The cache of registrations read from `store` (one per store, made on first use)."""
    cache = _caches.get(store)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(store, RegistrationCache())
    return cache
