"""Controller expectations: after creating or deleting Pods, a controller waits until its
informer has seen those changes before deciding again, so a stale cache never makes it
create (or delete) the same Pods twice. As client-go's ControllerExpectations, with a
timeout after which the expectation is dropped."""

from __future__ import annotations

from typing import Iterable

TIMEOUT = 30.0


class Expectations:
    """Per owner key: the Pod names (namespace/name) it created and deleted, and when."""

    def __init__(self, timeout: float = TIMEOUT):
        self.timeout = timeout
        self._pending: dict[str, tuple[float, frozenset, frozenset]] = {}

    def expect(self, owner: str, now: float, created: Iterable[str],
               deleted: Iterable[str]) -> None:
        """Remember that `owner` created and deleted these Pods (namespace/name keys)."""
        created, deleted = frozenset(created), frozenset(deleted)
        if created or deleted:
            self._pending[owner] = (now, created, deleted)

    def satisfied(self, owner: str, pods: dict[str, dict], now: float) -> bool:
        """Whether the snapshot `pods` (by namespace/name) shows every expected change
        (a deleted Pod may still be there with a deletionTimestamp)."""
        entry = self._pending.get(owner)
        if entry is None:
            return True
        at, created, deleted = entry
        seen = all(k in pods for k in created) and all(
            k not in pods or (pods[k].get("metadata") or {}).get("deletionTimestamp")
            for k in deleted)
        if seen or now - at > self.timeout:
            del self._pending[owner]
            return True
        return False

    def forget(self, owner: str) -> None:
        self._pending.pop(owner, None)
