"""The RBAC objects of the store, kept in memory by two watches, and the policy snapshot the
authorizer reads: a request never lists bindings from the store.

One watch covers ``/registry/clusterrole`` (ClusterRoles and ClusterRoleBindings), the
other ``/registry/role`` (Roles and RoleBindings): each lists, then watches from the list's
revision, and lists again when the history was compacted under it. Every change rebuilds
the immutable ``rbac.Policy`` (a few hundred objects at most; RBAC changes are rare) and
swaps it in; readers take the current one without a lock.

Aggregated ClusterRoles (admin, edit, view and any with an aggregationRule): the policy
holds their union at once, so a new aggregate-to-view role counts as soon as the watch
sees it; the cache then writes the union into the stored object too (through
`reconcile`), so ``kubectl get clusterrole view -o yaml`` shows it, as the clusterrole
aggregation controller keeps it upstream.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Callable, Optional

from k8snet.apiserver import rbac
from k8snet.store.base import Compacted, Store, WatchEvent

PREFIXES = ("/registry/clusterrole", "/registry/role")
PLURALS = ("clusterroles", "clusterrolebindings", "roles", "rolebindings")

Reconcile = Callable[[str, list], None]
"""reconcile(cluster role name, rules as API dicts): store these rules in that role."""


def plural_of(key: str) -> str:
    """'/registry/roles/ns/x' -> 'roles' ('' for keys of other resources)."""
    parts = key.split("/")
    return parts[2] if len(parts) > 3 and parts[2] in PLURALS else ""


def policy_from(objects: dict[str, dict]) -> rbac.Policy:
    """The policy for a key -> object map of the four kinds (pure)."""
    by_plural: dict[str, list[dict]] = {p: [] for p in PLURALS}
    for key, obj in objects.items():
        plural = plural_of(key)
        if plural:
            by_plural[plural].append(obj)
    return rbac.build_policy(by_plural["clusterroles"], by_plural["roles"],
                             by_plural["clusterrolebindings"], by_plural["rolebindings"])


def stale_aggregates(objects: dict[str, dict], policy: rbac.Policy) -> dict[str, list]:
    """Aggregated ClusterRoles whose stored rules differ from the union (pure)."""
    out: dict[str, list] = {}
    for key, obj in objects.items():
        if plural_of(key) != "clusterroles" or not isinstance(obj.get("aggregationRule"),
                                                               dict):
            continue
        name = str((obj.get("metadata") or {}).get("name") or "")
        want = [r.to_api() for r in policy.cluster_roles.get(name, ())]
        if (obj.get("rules") or []) != want:
            out[name] = want
    return out


class RbacCache:
    """Watch-fed RBAC objects and the current policy."""

    def __init__(self, store: Store, reconcile: Optional[Reconcile] = None,
                 retry_interval: float = 1.0) -> None:
        self.store = store
        self.reconcile = reconcile
        self.retry_interval = retry_interval
        self._objects: dict[str, dict] = {}
        self._revisions: dict[str, int] = {}
        self._policy = rbac.Policy()
        self._synced: set[str] = set()
        self._cond = threading.Condition()
        self.last_build_seconds = 0.0

    def policy(self) -> rbac.Policy:
        """The current snapshot (never blocks)."""
        return self._policy

    def start(self, stop: threading.Event) -> None:
        for prefix in PREFIXES:
            threading.Thread(target=self._run, args=(prefix, stop), daemon=True,
                             name=f"rbac-watch{prefix.replace('/registry', '')}").start()

    @property
    def synced(self) -> bool:
        return len(self._synced) == len(PREFIXES)

    def wait_synced(self, timeout: float) -> None:
        """Until both watches have listed; TimeoutError naming what was missing."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.synced, timeout):
                missing = sorted(set(PREFIXES) - self._synced)
                raise TimeoutError(f"the RBAC cache did not list {', '.join(missing)} within "
                                   f"{timeout:.0f}s")

    def wait_observed(self, key: str, revision: Optional[int], timeout: float) -> bool:
        """Until the cache holds `key` at `revision` or later (None: until it is gone)."""
        def seen() -> bool:
            if revision is None:
                return key not in self._objects
            return self._revisions.get(key, 0) >= revision
        with self._cond:
            return self._cond.wait_for(seen, timeout)

    # -- the watch loops --------------------------------------------------------------
    def _run(self, prefix: str, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                items, revision = self.store.list(prefix)
                with self._cond:
                    for key in [k for k in self._objects if k.startswith(prefix)]:
                        self._forget(key)
                    for key, value, rev in items:
                        if plural_of(key):
                            self._objects[key] = json.loads(value)
                            self._revisions[key] = rev
                    self._synced.add(prefix)
                    self._rebuild()
                self._reconcile()
                for ev in self.store.watch(prefix, revision, stop):
                    with self._cond:
                        self._apply(ev)
                        self._rebuild()
                    self._reconcile()
            except Compacted:
                continue
            except Exception as e:  # noqa: BLE001 - say it, keep the last policy, retry
                if stop.is_set():
                    return
                print(f"k8snet apiserver: RBAC watch on {prefix}: {e}; retrying",
                      file=sys.stderr, flush=True)
                stop.wait(self.retry_interval)

    def _forget(self, key: str) -> None:
        self._objects.pop(key, None)
        self._revisions.pop(key, None)

    def _apply(self, ev: WatchEvent) -> None:
        if not plural_of(ev.key):
            return
        if ev.type == "DELETE" or ev.value is None:
            self._forget(ev.key)
        else:
            self._objects[ev.key] = json.loads(ev.value)
            self._revisions[ev.key] = ev.revision

    def _rebuild(self) -> None:
        started = time.perf_counter()
        self._policy = policy_from(self._objects)
        self.last_build_seconds = time.perf_counter() - started
        self._cond.notify_all()

    def _reconcile(self) -> None:
        if self.reconcile is None or "/registry/clusterrole" not in self._synced:
            return
        with self._cond:
            stale = stale_aggregates(self._objects, self._policy)
        for name, rules in sorted(stale.items()):
            try:
                self.reconcile(name, rules)
            except Exception as e:  # noqa: BLE001 - the next change retries
                print(f"k8snet apiserver: aggregating ClusterRole {name}: {e}",
                      file=sys.stderr, flush=True)
