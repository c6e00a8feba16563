"""The RBAC objects of the store, kept in memory by two watches, and the policy snapshot the
authorizer reads: a request never lists bindings from the store.

One watch covers ``/registry/clusterrole`` (ClusterRoles and ClusterRoleBindings), the
other ``/registry/role`` (Roles and RoleBindings): each lists, then watches from the list's
revision, and lists again when the history was compacted under it. A builder thread
rebuilds the immutable ``rbac.Policy`` after changes (coalescing bursts) and swaps it in;
readers take the current one without a lock.

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
MAX_BUILD_PAUSE = 0.5

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
    """Watch-fed RBAC objects and the current policy.

    Watch threads only record changes; one builder thread rebuilds the policy from the
    latest objects whenever something changed, then pauses twice the build's duration, so
    a burst of writes (a thousand RoleBindings created in a loop) costs a few rebuilds,
    not one per object.
    """

    def __init__(self, store: Store, reconcile: Optional[Reconcile] = None,
                 retry_interval: float = 1.0) -> None:
        self.store = store
        self.reconcile = reconcile
        self.retry_interval = retry_interval
        self._objects: dict[str, dict] = {}
        self._revisions: dict[str, int] = {}
        self._listed: set[str] = set()
        self._dirty = False
        self._policy = rbac.Policy()
        self._built_revisions: dict[str, int] = {}
        self._built_listed: frozenset = frozenset()
        self._cond = threading.Condition()
        self.builds = 0
        self.last_build_seconds = 0.0

    def policy(self) -> rbac.Policy:
        """The current snapshot (never blocks)."""
        return self._policy

    def start(self, stop: threading.Event) -> None:
        for prefix in PREFIXES:
            threading.Thread(target=self._run, args=(prefix, stop), daemon=True,
                             name=f"rbac-watch{prefix.replace('/registry', '')}").start()
        threading.Thread(target=self._build_loop, args=(stop,), daemon=True,
                         name="rbac-policy").start()

    @property
    def synced(self) -> bool:
        """Has the policy been built from complete lists of both prefixes?"""
        return len(self._built_listed) == len(PREFIXES)

    def wait_synced(self, timeout: float) -> None:
        """Until both watches have listed and the policy reflects it; TimeoutError naming
        what was missing."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.synced, timeout):
                missing = sorted(set(PREFIXES) - self._built_listed)
                raise TimeoutError(f"the RBAC cache did not list {', '.join(missing)} within "
                                   f"{timeout:.0f}s")

    def wait_observed(self, key: str, revision: Optional[int], timeout: float) -> bool:
        """Until the policy reflects `key` at `revision` or later (None: its removal)."""
        def seen() -> bool:
            if revision is None:
                return key not in self._built_revisions
            return self._built_revisions.get(key, 0) >= revision
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
                    self._listed.add(prefix)
                    self._changed()
                for ev in self.store.watch(prefix, revision, stop):
                    if plural_of(ev.key):
                        with self._cond:
                            self._apply(ev)
                            self._changed()
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
        if ev.type == "DELETE" or ev.value is None:
            self._forget(ev.key)
        else:
            self._objects[ev.key] = json.loads(ev.value)
            self._revisions[ev.key] = ev.revision

    def _changed(self) -> None:
        self._dirty = True
        self._cond.notify_all()

    # -- the builder --------------------------------------------------------------------
    def _build_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._cond:
                if not self._cond.wait_for(lambda: self._dirty or stop.is_set(), 1.0):
                    continue
                if stop.is_set():
                    return
                objects = dict(self._objects)
                revisions = dict(self._revisions)
                listed = frozenset(self._listed)
                self._dirty = False
            started = time.perf_counter()
            try:
                policy = policy_from(objects)
            except Exception as e:  # noqa: BLE001 - keep the last policy; say why
                print(f"k8snet apiserver: building the RBAC policy: {e}", file=sys.stderr,
                      flush=True)
                stop.wait(self.retry_interval)
                continue
            with self._cond:
                self._policy = policy
                self._built_revisions = revisions
                self._built_listed = listed
                self.builds += 1
                self.last_build_seconds = time.perf_counter() - started
                self._cond.notify_all()
            if "/registry/clusterrole" in listed:
                self._reconcile(objects, policy)
            # let changes gather for twice as long as a build takes: during a burst the
            # builder uses at most a third of a core, and a change waits at most ~3 builds
            stop.wait(min(2 * self.last_build_seconds, MAX_BUILD_PAUSE))

    def _reconcile(self, objects: dict[str, dict], policy: rbac.Policy) -> None:
        if self.reconcile is None:
            return
        for name, rules in sorted(stale_aggregates(objects, policy).items()):
            try:
                self.reconcile(name, rules)
            except Exception as e:  # noqa: BLE001 - the next change retries
                print(f"k8snet apiserver: aggregating ClusterRole {name}: {e}",
                      file=sys.stderr, flush=True)
