"""The store interface every backend implements, its events and its errors.

Values are bytes (JSON-encoded objects). Revisions are integers, global to the
store and increasing: every write (create, update, delete) gets the next one,
and an object's ``mod_revision`` is the revision of its last write, which the
apiserver hands out as ``metadata.resourceVersion``.

Keys are ``/registry/<resource>/<namespace>/<name>`` (cluster-scoped:
``/registry/<resource>/<name>``); a list or watch takes a key prefix.
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from k8snet.errors import K8snetError

Item = Tuple[str, bytes, int]
"""One listed key: (key, value, mod_revision)."""


def triggered(value: Optional[bytes], prev_value: Optional[bytes],
              trigger: Optional[bytes]) -> bool:
    """Whether an event with these values concerns a watch with ``trigger`` (bytes the
    stored form of every object it wants contains: ``"nodeName":"worker-3"``)."""
    return trigger is None or (value is not None and trigger in value) or \
        (prev_value is not None and trigger in prev_value)


class WatchStop(threading.Event):
    """A watch's stop flag that also runs hooks when set: a store's watch asks to be
    woken by it (``on_set``) instead of looking at it every fraction of a second,
    which an apiserver with hundreds of watches paid for with hundreds of wake-ups
    a second."""

    def __init__(self) -> None:
        super().__init__()
        self._hooks: list = []
        self._hooks_lock = threading.Lock()

    def on_set(self, hook) -> None:
        """Call ``hook()`` when the flag is set (now, if it is already)."""
        with self._hooks_lock:
            if not self.is_set():
                self._hooks.append(hook)
                return
        hook()

    def set(self) -> None:
        super().set()
        with self._hooks_lock:
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()


class StoreError(K8snetError):
    """The store failed or was asked for something it cannot do."""


class StoreUnavailable(StoreError):
    """No backend endpoint answered (etcd down, database unreadable)."""


class KeyExists(StoreError):
    """create() of a key that already exists."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} already exists")
        self.key = key


class KeyNotFound(StoreError):
    """update() or delete() of a key that does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} not found")
        self.key = key


class RevisionMismatch(StoreError):
    """Compare-and-swap lost: the key's mod_revision is not the expected one."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(
            f"key {key!r} is at revision {actual}, not the expected {expected}"
        )
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StoreError):
    """The history no longer holds the revisions asked for (HTTP 410 Gone)."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted (oldest available: "
            f"{compact_revision}); list again and watch from the list's revision"
        )
        self.requested = requested
        self.compact_revision = compact_revision


class FutureRevision(StoreError):
    """A list at a revision the store has not reached yet."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"revision {requested} is newer than the store's {current}")
        self.requested = requested
        self.current = current


@dataclass(frozen=True)
class WatchEvent:
    """One change: ``type`` is "PUT" or "DELETE"; ``created`` is True for the
    PUT that made the key. ``value`` is None for a DELETE; ``prev_value`` is
    None for a creation. A watch asked for progress also yields "PROGRESS" events
    (key "", no values): every change under the prefix up to ``revision`` has been
    delivered (what a BOOKMARK may promise)."""

    type: str
    key: str
    value: Optional[bytes]
    prev_value: Optional[bytes]
    revision: int
    created: bool


def prefix_end(prefix: bytes) -> Optional[bytes]:
    """The smallest byte string greater than every one starting with ``prefix``,
    or None when there is none (empty prefix: the range runs to the end)."""
    data = bytearray(prefix)
    while data:
        if data[-1] < 0xFF:
            data[-1] += 1
            return bytes(data)
        data.pop()
    return None


class Store(abc.ABC):
    """A revisioned key-value store with compare-and-swap and watch."""

    @abc.abstractmethod
    def get(self, key: str) -> Optional[Tuple[bytes, int]]:
        """(value, mod_revision) of ``key``, or None when absent."""

    @abc.abstractmethod
    def list(
        self,
        prefix: str,
        revision: Optional[int] = None,
        limit: Optional[int] = None,
        start_after: Optional[str] = None,
    ) -> Tuple[List[Item], int]:
        """Keys under ``prefix`` sorted by key, and the revision the list reflects.

        ``revision`` (None or 0: now) lists the state as it was then (Compacted when too old,
        FutureRevision when not reached); ``limit`` caps the items;
        ``start_after`` skips keys up to and including it. To page, pass the
        returned revision and the last key back.
        """

    @abc.abstractmethod
    def create(self, key: str, value: bytes) -> int:
        """Create ``key``; return its revision. KeyExists when present."""

    @abc.abstractmethod
    def update(self, key: str, value: bytes, expected_revision: int) -> int:
        """Replace ``key`` if its mod_revision is ``expected_revision``; return
        the new revision. RevisionMismatch / KeyNotFound otherwise."""

    @abc.abstractmethod
    def delete(self, key: str, expected_revision: Optional[int] = None) -> Tuple[int, bytes]:
        """Delete ``key`` (if at ``expected_revision`` when given); return
        (revision of the delete, old value). KeyNotFound / RevisionMismatch."""

    @abc.abstractmethod
    def watch(
        self, prefix: str, from_revision: int, stop: threading.Event, progress: bool = False,
        trigger: Optional[bytes] = None,
    ) -> Iterator[WatchEvent]:
        """Events under ``prefix`` with revision > ``from_revision``, in order,
        until ``stop`` is set. Compacted when the history no longer has them
        (raised at the start or, if compaction overtakes a slow watcher, later).
        With ``progress``, PROGRESS events now and then while nothing changes under
        the prefix (SQLite: at most once a second; etcd: its progress notifications).
        With ``trigger``, only the events whose new or old value contains those bytes
        (``triggered``); the others pass unseen (progress reports still cover them)."""

    @abc.abstractmethod
    def current_revision(self) -> int:
        """The revision of the latest write."""

    @abc.abstractmethod
    def compact_revision(self) -> int:
        """The oldest revision a list or watch may still start from."""

    @abc.abstractmethod
    def compact(self, keep_revisions: int) -> None:
        """Forget history older than the latest ``keep_revisions`` revisions."""

    @abc.abstractmethod
    def compact_to(self, revision: int) -> None:
        """Forget history up to and including ``revision`` (no-op when already past it)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; running watches end."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
