"""apps loops beyond Deployments: DaemonSet and StatefulSet -> Pods (and their
ControllerRevisions; a StatefulSet's PersistentVolumeClaims)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from k8snet.kcm import daemonset as dsc
from k8snet.kcm import history
from k8snet.kcm import statefulset as stsc
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.expectations import Expectations
from k8snet.kcm.objects import meta, name_of, owned_by
from k8snet.kcm.replicaset import slow_start_batches
from k8snet.machinery.client import AlreadyExists, ApiError, Conflict, NotFound
from k8snet.machinery.events import NORMAL

CREATE_WORKERS = 8


def _key(obj: dict) -> str:
    return f"{meta(obj).get('namespace')}/{name_of(obj)}"


def _status_differs(old: Optional[dict], new: dict) -> bool:
    old = old or {}
    return any(old.get(k) != v for k, v in new.items())


class RevisionedLoop(Loop):
    """What the DaemonSet and StatefulSet loops share: their ControllerRevisions, Pod
    creation in slow-start batches, deletions, expectations and Events."""

    kind = ""
    resource = ""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.expect = Expectations()

    def revisions(self, owner: dict, pods: list[dict]) -> history.RevisionPlan:
        """Bring the owner's ControllerRevisions up to date; the current revision."""
        client, ns = self.ctx.client, meta(owner).get("namespace")
        live = {(meta(p).get("labels") or {}).get(history.HASH_LABEL)
                for p in owned_by(pods, owner)}
        limit = (owner.get("spec") or {}).get("revisionHistoryLimit", 10)
        plan = history.plan_revisions(owner, self.kind, self.ctx.items("controllerrevisions"),
                                      live, 10 if limit is None else int(limit))
        if plan.create is not None:
            try:
                client.create("controllerrevisions", plan.create, ns)
            except AlreadyExists:
                pass
        for name, number in plan.renumber.items():
            client.patch("controllerrevisions", name, {"revision": number}, ns)
        for name in plan.delete:
            try:
                client.delete("controllerrevisions", name, ns)
            except NotFound:
                pass
        return plan

    def create_pods(self, owner: dict, pods: list[dict], created: list[str]) -> None:
        """Create `pods` in batches of 1, 2, 4, ... (the first error stops it)."""
        client, ns = self.ctx.client, meta(owner).get("namespace")
        pending = list(pods)
        with ThreadPoolExecutor(CREATE_WORKERS, thread_name_prefix=f"{self.name}-create") as pool:
            for size in slow_start_batches(len(pending)):
                batch, pending = pending[:size], pending[size:]
                futures = [pool.submit(client.create, "pods", p, ns) for p in batch]
                errors = []
                for future in futures:
                    try:
                        name = name_of(future.result())
                        created.append(f"{ns}/{name}")
                        self.events.event(with_kind(self.resource, owner), NORMAL,
                                          "SuccessfulCreate", f"Created pod: {name}")
                    except ApiError as exc:
                        errors.append(exc)
                if errors:
                    raise errors[0]

    def delete_pods(self, owner: dict, names: list[str], deleted: list[str]) -> None:
        ns = meta(owner).get("namespace")
        for name in names:
            try:
                self.ctx.client.delete("pods", name, ns)
                self.events.event(with_kind(self.resource, owner), NORMAL, "SuccessfulDelete",
                                  f"Deleted pod: {name}")
            except NotFound:
                pass
            deleted.append(f"{ns}/{name}")

    def expect_changes(self, owner: dict, created: list[str], deleted: list[str]) -> None:
        if created or deleted:
            # from when the calls ended (see ReplicaSetLoop._apply)
            self.expect.expect(_key(owner), self.ctx.clock().timestamp(), created, deleted)
            self.log.info("%s: created %d, deleted %d Pods", _key(owner), len(created),
                          len(deleted))
            self.requeue()

    def write_status(self, owner: dict, status: dict) -> None:
        if _status_differs(owner.get("status"), status):
            self.ctx.client.update(self.resource, dict(with_kind(self.resource, owner),
                                                       status=dict(owner.get("status") or {},
                                                                   **status)),
                                   meta(owner).get("namespace"), subresource="status")


class DaemonSetLoop(RevisionedLoop):
    """DaemonSet -> one Pod per eligible Node."""

    name = "daemonset"
    kind = "DaemonSet"
    resource = "daemonsets"
    watches = ("daemonsets", "pods", "nodes", "controllerrevisions")
    event_component = "daemonset-controller"

    def sync(self) -> None:
        now = self.ctx.clock()
        pods_by_key = self.ctx.by_key("pods")
        pods, nodes = list(pods_by_key.values()), self.ctx.items("nodes")
        for ds in self.ctx.items("daemonsets"):
            key = _key(ds)
            if not self.expect.satisfied(key, pods_by_key, now.timestamp()):
                continue
            try:
                rev = self.revisions(ds, pods)
                plan = dsc.reconcile_daemonset(ds, nodes, pods, rev.hash, now)
                created: list[str] = []
                deleted: list[str] = []
                try:
                    self.create_pods(ds, [dsc.pod_for_node(ds, n, rev.hash)
                                          for n in plan.create], created)
                    self.delete_pods(ds, plan.delete, deleted)
                finally:
                    self.expect_changes(ds, created, deleted)
                self.write_status(ds, plan.status)
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)


def revision_template(revisions: list[dict], owner: dict, revision_hash: str) -> dict:
    """The Pod template a ControllerRevision of `owner` holds (the owner's own template
    when that revision is gone)."""
    name, ns = f"{name_of(owner)}-{revision_hash}", meta(owner).get("namespace")
    for rev in revisions:
        if name_of(rev) == name and meta(rev).get("namespace") == ns:
            template = dict(((rev.get("data") or {}).get("spec") or {}).get("template") or {})
            template.pop("$patch", None)
            if template:
                return template
    return (owner.get("spec") or {}).get("template") or {}


class StatefulSetLoop(RevisionedLoop):
    """StatefulSet -> Pods `<set>-<i>` and their PersistentVolumeClaims."""

    name = "statefulset"
    kind = "StatefulSet"
    resource = "statefulsets"
    watches = ("statefulsets", "pods", "controllerrevisions", "persistentvolumeclaims")
    event_component = "statefulset-controller"

    def sync(self) -> None:
        now = self.ctx.clock()
        pods_by_key = self.ctx.by_key("pods")
        pods, claims = list(pods_by_key.values()), self.ctx.items("persistentvolumeclaims")
        for sts in self.ctx.items("statefulsets"):
            key = _key(sts)
            if not self.expect.satisfied(key, pods_by_key, now.timestamp()):
                continue
            try:
                rev = self.revisions(sts, pods)
                current, update = stsc.revisions_in_use(sts, rev.hash)
                plan = stsc.reconcile_statefulset(sts, pods, claims, current, update, now)
                self._apply(sts, plan, current)
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", key, exc.reason)

    def _apply(self, sts: dict, plan: stsc.StatefulSetPlan, current: str) -> None:
        client, ns = self.ctx.client, meta(sts).get("namespace")
        ref = with_kind("statefulsets", sts)
        for claim in plan.create_claims:
            try:
                client.create("persistentvolumeclaims", claim, ns)
                self.events.event(ref, NORMAL, "SuccessfulCreate",
                                  f"create Claim {name_of(claim)} in StatefulSet "
                                  f"{name_of(sts)} success")
            except AlreadyExists:
                pass
        created: list[str] = []
        deleted: list[str] = []
        try:
            revisions = self.ctx.items("controllerrevisions")
            for ordinal, revision in plan.create:
                template = revision_template(revisions, sts, revision)
                pod = stsc.pod_for_ordinal(sts, ordinal, template, revision)
                try:
                    client.create("pods", pod, ns)
                except AlreadyExists:
                    continue
                created.append(f"{ns}/{name_of(pod)}")
                self.events.event(ref, NORMAL, "SuccessfulCreate",
                                  f"create Pod {name_of(pod)} in StatefulSet {name_of(sts)} "
                                  "successful")
            for name in plan.delete:
                try:
                    client.delete("pods", name, ns)
                    self.events.event(ref, NORMAL, "SuccessfulDelete",
                                      f"delete Pod {name} in StatefulSet {name_of(sts)} "
                                      "successful")
                except NotFound:
                    pass
                deleted.append(f"{ns}/{name}")
        finally:
            self.expect_changes(sts, created, deleted)
        for name in plan.delete_claims:
            try:
                client.delete("persistentvolumeclaims", name, ns)
            except NotFound:
                pass
        self.write_status(sts, plan.status)
