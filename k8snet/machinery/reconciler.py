"""The reconcile loop every controller runs: keys in a work queue, one reconcile per key.

What client-go's workqueue and a controller's worker loop are to Kubernetes:

- `WorkQueue`: a key is queued at most once however often it is added; a key being
  processed is never handed to a second worker, and if it is added meanwhile it is
  queued again when the first worker is `done` with it. `add_after` delays a key;
  `add_rate_limited` delays it by the key's own exponential back-off (`Backoff`),
  which `forget` resets.
- `Reconciler`: event sources (informers, `enqueue`) feed keys; workers call
  `reconcile(key)`. It returns None when the key is in the desired state (its
  back-off is forgotten) or a number of seconds after which to look again; an
  exception is logged and the key retried after its back-off. Every `resync`
  seconds `resync_keys()` are queued again (level-triggered: nothing is lost to a
  missed event).

The clock is passed in. Tests drive a Reconciler without threads: `process_ready()`
reconciles every key that is due at the clock's current time.

    rec = Reconciler("endpoints", sync_service, resync=30.0, resync_keys=services.keys)
    rec.watch(services, keys=lambda items: items.keys())
    rec.watch(pods)                       # any Pod change: reconcile the ALL key
    rec.run(stop)                         # until stop is set
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from k8snet.errors import K8snetError
from k8snet.machinery.informer import Informer

Clock = Callable[[], float]
Keys = Callable[[dict[str, dict]], Iterable[str]]
ALL = "*"  # the key of a controller that reconciles everything in one pass


# A component's informers must list within this (else it says what it could not list).
FIRST_LIST_DEADLINE = 60.0
# After stop: how long workers get, together, to finish the key in hand. They are daemon
# threads, so one still blocked in an API call does not hold the process up.
STOP_GRACE = 0.5


def join_all(threads: list, grace: float) -> None:
    """Join threads against one shared deadline (not `grace` each)."""
    end = time.monotonic() + grace
    for t in threads:
        t.join(timeout=max(0.0, end - time.monotonic()))


@dataclass(frozen=True)
class Backoff:
    """Per-key exponential back-off: `base`, doubled after each failure, at most `cap`."""

    base: float = 0.5
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        """The delay before retry number `failures` (1 for the first retry)."""
        return min(self.cap, self.base * 2 ** max(0, min(failures - 1, 62)))


def _all(_items: dict[str, dict]) -> Iterable[str]:
    return (ALL,)


class WorkQueue:
    """A de-duplicating, rate-limited work queue of string keys (client-go's semantics)."""

    def __init__(self, clock: Clock = time.monotonic, backoff: Backoff = Backoff()):
        self.clock = clock
        self.backoff = backoff
        self._cond = threading.Condition()
        self._queue: list[str] = []
        self._dirty: set[str] = set()        # queued, or to queue again when done
        self._processing: set[str] = set()
        self._waiting: list[tuple[float, int, str]] = []   # heap of (ready at, seq, key)
        self._ready_at: dict[str, float] = {}
        self._seq = 0
        self._failures: dict[str, int] = {}
        self._shutdown = False

    def add(self, key: str) -> None:
        """Queue `key` now (no-op when already queued; after `done` when being processed)."""
        with self._cond:
            self._add(key)

    def _add(self, key: str) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        self._ready_at.pop(key, None)
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Queue `key` once `delay` seconds have passed (the earliest of several wins)."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shutdown or key in self._dirty:
                return
            at = self.clock() + delay
            if key in self._ready_at and self._ready_at[key] <= at:
                return
            self._ready_at[key] = at
            self._seq += 1
            heapq.heappush(self._waiting, (at, self._seq, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Queue `key` after its back-off; each call doubles it. Returns the delay."""
        with self._cond:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
        delay = self.backoff.delay(failures)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the key's back-off (it succeeded)."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def _promote(self) -> Optional[float]:
        """Move due delayed keys into the queue; seconds until the next one (None: none)."""
        now = self.clock()
        while self._waiting:
            at, _seq, key = self._waiting[0]
            if self._ready_at.get(key) != at:
                heapq.heappop(self._waiting)          # superseded or added meanwhile
                continue
            if at > now:
                return at - now
            heapq.heappop(self._waiting)
            del self._ready_at[key]
            self._add(key)
        return None

    def get(self, timeout: float = 0.0) -> Optional[str]:
        """The next ready key (now marked processing), waiting up to `timeout` seconds;
        None at the timeout or once shut down."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutdown:
                    return None
                next_in = self._promote()
                if self._queue:
                    key = self._queue.pop(0)
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left if next_in is None else min(left, next_in))

    def done(self, key: str) -> None:
        """The worker finished `key`; queue it again if it was added meanwhile."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shutdown(self) -> None:
        """Wake every waiting worker; `get` returns None from now on."""
        with self._cond:
            self._shutdown = True
            self._cond.notify_all()

    def __len__(self) -> int:
        """Keys queued now (not those waiting for a delay or being processed)."""
        with self._cond:
            self._promote()
            return len(self._queue)

    def pending(self) -> set[str]:
        """Every key queued, waiting for a delay, or to be queued again after processing."""
        with self._cond:
            return set(self._dirty) | set(self._ready_at)


Reconcile = Callable[[str], Optional[float]]


class Reconciler:
    """Runs `reconcile(key)` for the keys its event sources and resyncs put in its queue."""

    def __init__(self, name: str, reconcile: Reconcile, clock: Clock = time.monotonic,
                 backoff: Backoff = Backoff(), resync: Optional[float] = None,
                 resync_keys: Callable[[], Iterable[str]] = lambda: (ALL,), workers: int = 1,
                 log: Optional[logging.Logger] = None):
        self.name = name
        self.reconcile = reconcile
        self.clock = clock
        self.resync = resync
        self.resync_keys = resync_keys
        self.workers = workers
        self.log = log or logging.getLogger(f"k8snet.{name}")
        self.queue = WorkQueue(clock, backoff)
        self.informers: list[Informer] = []
        self._resync_lock = threading.Lock()
        self._next_resync: Optional[float] = None

    # -- event sources ----------------------------------------------------------

    def enqueue(self, key: str = ALL) -> None:
        self.queue.add(key)

    def enqueue_after(self, key: str, delay: float) -> None:
        self.queue.add_after(key, delay)

    def watch(self, informer: Informer, keys: Keys = _all) -> None:
        """Queue `keys(items)` after every change of the informer's cache; `run` waits
        for the informer's first list before reconciling."""
        self.informers.append(informer)

        def on_change(items: dict[str, dict]) -> None:
            for key in keys(items):
                self.queue.add(key)

        informer.add_listener(on_change)

    @property
    def synced(self) -> bool:
        """Whether every watched informer has listed once."""
        return all(inf.synced for inf in self.informers)

    # -- processing -------------------------------------------------------------

    def _maybe_resync(self) -> Optional[float]:
        """Queue the resync keys when due; seconds until the next resync (None: never)."""
        if self.resync is None:
            return None
        with self._resync_lock:
            now = self.clock()
            if self._next_resync is None or now >= self._next_resync:
                self._next_resync = now + self.resync
                try:
                    keys = list(self.resync_keys())
                except Exception as exc:  # e.g. the runtime did not answer: next period
                    self.log.warning("%s: resync failed: %s", self.name, exc)
                    keys = []
                for key in keys:
                    self.queue.add(key)
            return max(0.0, self._next_resync - now)

    def process_next(self, timeout: float = 0.0) -> bool:
        """Reconcile one ready key (waiting up to `timeout`); False when there was none."""
        next_resync = self._maybe_resync()
        if next_resync is not None:
            timeout = min(timeout, next_resync)
        key = self.queue.get(timeout)
        if key is None:
            return False
        try:
            again = self.reconcile(key)
        except Exception as exc:  # one key's failure must not stop the others
            delay = self.queue.add_rate_limited(key)
            if isinstance(exc, K8snetError):
                self.log.warning("%s %s: %s; retrying in %.1fs", self.name, key, exc, delay)
            else:
                self.log.exception("%s %s crashed; retrying in %.1fs", self.name, key, delay)
        else:
            self.queue.forget(key)
            if again is not None:
                self.queue.add_after(key, again)
        finally:
            self.queue.done(key)
        return True

    def process_ready(self, limit: int = 10_000) -> int:
        """Reconcile every key that is due now, one after another; how many were done."""
        done = 0
        while done < limit and self.process_next(0.0):
            done += 1
        return done

    def run(self, stop: threading.Event, sync_timeout: Optional[float] = None) -> None:
        """Wait for the watched informers to list, then reconcile with `workers` threads
        until `stop` is set. K8snetError when they have not listed within `sync_timeout`."""
        started = time.monotonic()
        noted = started
        while not self.synced and not stop.is_set():
            waited = time.monotonic() - started
            if sync_timeout is not None and waited > sync_timeout:
                missing = ", ".join(i.resource for i in self.informers if not i.synced)
                raise K8snetError(f"{self.name}: could not list {missing} within "
                                  f"{sync_timeout:.0f}s: is the apiserver reachable?")
            if time.monotonic() - noted > 30:
                noted = time.monotonic()
                self.log.info("%s: still waiting for the first list (%.0fs)", self.name, waited)
            stop.wait(0.05)
        if stop.is_set():
            return
        threads = [threading.Thread(target=self._work, args=(stop,), daemon=True,
                                    name=f"{self.name}-{i}") for i in range(self.workers)]
        for t in threads:
            t.start()
        stop.wait()
        self.queue.shutdown()
        join_all(threads, STOP_GRACE)

    def _work(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.process_next(timeout=1.0)
