"""The namespace controller: empties terminating Namespaces through the API (every
namespaced resource discovery lists, custom resources too) and finalizes them (decisions
in k8snet.kcm.namespace)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Optional

from k8snet.kcm import namespace as nsc
from k8snet.kcm.base import Loop
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery import resources as kinds
from k8snet.machinery.client import ApiError, Conflict, NotFound
from k8snet.machinery.timefmt import format_time

BACKGROUND = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}


class NamespaceLoop(Loop):
    """Terminating Namespaces -> empty -> finalized (then the apiserver removes them).
    Pod changes wake it too, so a namespace goes as soon as its last Pod has."""

    name = "namespace"
    event_component = "namespace-controller"
    watches = ("namespaces", "pods")
    period = 30.0

    def _reconcile(self, _key: str) -> Optional[float]:
        """One pass; look again when the soonest terminating namespace asks to."""
        waits = []
        for ns in self.ctx.items("namespaces"):
            if not meta(ns).get("deletionTimestamp"):
                continue
            try:
                wait = self._sync_one(name_of(ns))
            except ApiError as exc:
                self.log.warning("namespace %s: %s (retrying)", name_of(ns), exc)
                wait = 1.0
            if wait:
                waits.append(wait)
        return min(waits) if waits else None

    def sync(self) -> None:
        self._reconcile("")

    def _sync_one(self, name: str) -> float:
        """One pass over a terminating namespace; seconds until the next look (0: done)."""
        client = self.ctx.client
        try:
            ns = client.get("namespaces", name)
        except NotFound:
            return 0
        if not meta(ns).get("deletionTimestamp"):
            return 0
        if (ns.get("status") or {}).get("phase") != "Terminating":
            ns = client.update("namespaces", dict(ns, status=dict(
                ns.get("status") or {}, phase="Terminating")), subresource="status")
        if not (ns.get("spec") or {}).get("finalizers"):
            return 0
        estimate, errors, results, discovery = self._delete_all_content(ns)
        now = format_time(self.ctx.clock())
        failing = nsc.new_conditions(results, [e for e in errors if e != discovery], now,
                                     discovery)
        conds, changed = nsc.merge_conditions((ns.get("status") or {}).get("conditions") or [],
                                              failing, now)
        if changed:
            try:
                ns = client.update("namespaces", dict(ns, status=dict(
                    ns.get("status") or {}, conditions=conds)), subresource="status")
            except (Conflict, NotFound) as exc:
                self.log.debug("namespace %s status: %s", name, exc.reason)
        if errors:
            return 1.0
        if estimate > 0:
            return nsc.requeue_after(estimate)
        self._finalize(name)
        return 0

    def _discover(self) -> tuple[list[kinds.KindInfo], dict[str, str]]:
        """The namespaced deletable resources the apiserver serves now (CRDs included),
        and the groupVersions whose discovery failed (their error texts)."""
        client, failed = self.ctx.client, {}
        core = groups = None
        lists: dict[str, dict] = {}
        try:
            core = client.raw("GET", "/api/v1")
        except ApiError as exc:
            failed["v1"] = exc.message
        try:
            groups = client.raw("GET", "/apis")
        except ApiError as exc:
            failed["apis"] = exc.message
        for g in (groups or {}).get("groups") or []:
            gv = (g.get("preferredVersion") or {}).get("groupVersion")
            if not gv:
                continue
            try:
                lists[gv] = client.raw("GET", f"/apis/{gv}")
            except ApiError as exc:
                failed[gv] = exc.message
        return nsc.deletable_resources(nsc.discovered_resources(core, groups, lists)), failed

    def _delete_all_content(self, ns: dict) \
            -> tuple[int, list[str], dict[kinds.KindInfo, nsc.ResourceOutcome], Optional[str]]:
        name = name_of(ns)
        now: dt.datetime = self.ctx.clock()
        infos, failed = self._discover()
        discovery = nsc.discovery_failure(failed)
        estimate, errors = 0, ([discovery] if discovery else [])
        results: dict[kinds.KindInfo, nsc.ResourceOutcome] = {}
        for info in infos:
            try:
                out = self._delete_resource(info, name, meta(ns).get("deletionTimestamp"), now)
            except ApiError as exc:
                errors.append(exc.message)
                continue
            results[info] = out
            estimate = max(estimate, out.estimate)
            if out.error:
                errors.append(out.error)
        return estimate, errors, results, discovery

    def _delete_resource(self, info: kinds.KindInfo, namespace: str, deleted_at: str,
                         now: dt.datetime) -> nsc.ResourceOutcome:
        client, path = self.ctx.client, nsc.collection_path(info, namespace)
        estimate = 0
        if (info.group, info.plural) == ("", "pods"):
            estimate = nsc.pod_estimate(client.raw("GET", path).get("items") or [],
                                        deleted_at, now)
        if "deletecollection" in info.verbs:
            client.raw("DELETE", path, BACKGROUND)
        elif "list" in info.verbs:
            for item in client.raw("GET", path).get("items") or []:
                try:
                    client.raw("DELETE", f"{path}/{name_of(item)}", BACKGROUND)
                except NotFound:
                    pass
        if "list" not in info.verbs:
            return nsc.ResourceOutcome(estimate)
        left = client.raw("GET", path).get("items") or []
        return nsc.outcome(info, namespace, left, estimate)

    def _finalize(self, name: str) -> None:
        for _ in range(5):
            try:
                ns = self.ctx.client.get("namespaces", name)
            except NotFound:
                return
            ns["spec"] = dict(ns.get("spec") or {}, finalizers=nsc.finalized_spec(ns))
            try:
                self.ctx.client.update("namespaces", ns, subresource="finalize")
                self.log.info("namespace %s: empty, finalized", name)
                return
            except NotFound:
                return
            except Conflict:
                time.sleep(0.1)
        raise Conflict(409, "Conflict", f"namespace {name} kept changing while finalizing")
