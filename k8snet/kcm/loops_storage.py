"""PersistentVolumeClaims and PersistentVolumes: the PV controller's binding and
reclaim, the local-path provisioner, the default StorageClass it serves, and the
pvc/pv-protection finalizers' release."""

from __future__ import annotations

import os
import shutil

from k8snet.kcm import persistentvolume as pvc
from k8snet.kcm import protection
from k8snet.kcm.base import Loop, with_kind
from k8snet.kcm.objects import meta, name_of
from k8snet.machinery.client import AlreadyExists, Conflict, NotFound

RESOURCES = {"pv": "persistentvolumes", "claim": "persistentvolumeclaims"}


class PersistentVolumeLoop(Loop):
    """Bind claims to volumes, provision `standard` volumes on the selected node,
    reclaim released volumes; ensure the default StorageClass exists (as kind's
    local-path-storage manifest ships it with the provisioner)."""

    name = "persistentvolume-binder"
    watches = ("persistentvolumeclaims", "persistentvolumes", "storageclasses")
    event_component = "persistentvolume-controller"
    period = 15.0

    def sync(self) -> None:
        classes = {name_of(sc): sc for sc in self.ctx.items("storageclasses")}
        if pvc.DEFAULT_CLASS not in classes:
            try:
                self.ctx.client.create("storageclasses", pvc.default_storage_class())
            except AlreadyExists:
                pass
        volumes = {name_of(pv): pv for pv in self.ctx.items("persistentvolumes")}
        claims = self.ctx.by_key("persistentvolumeclaims")
        nodes = self.ctx.by_key("nodes")
        volume_dir = getattr(self.ctx.options, "volume_dir", "") or "/tmp/k8snet-volumes/{node}"
        for key, claim in claims.items():
            self._apply(key, pvc.sync_claim(claim, volumes, classes, nodes, volume_dir))
        for name, pv in volumes.items():
            self._apply(name, pvc.sync_volume(pv, claims))

    def _apply(self, key: str, plan: pvc.Plan) -> None:
        client = self.ctx.client
        versions: dict[tuple[str, str], str] = {}
        try:
            for act in plan.actions:
                kind = "pv" if act.op.endswith("_pv") or act.op == "pv_status" else "claim"
                resource = RESOURCES[kind]
                obj = with_kind(resource, act.obj)
                ns = meta(obj).get("namespace")
                rv = versions.get((kind, name_of(obj)))
                if rv:
                    obj = dict(obj, metadata=dict(meta(obj), resourceVersion=rv))
                if act.op == "create_pv":
                    client.create(resource, obj)
                elif act.op == "delete_pv":
                    client.delete(resource, name_of(obj))
                    self._remove(act.path)
                    continue
                else:
                    sub = "status" if act.op.endswith("status") else None
                    out = client.update(resource, obj, ns, subresource=sub) if sub else \
                        client.update(resource, obj, ns)
                    versions[(kind, name_of(obj))] = meta(out).get("resourceVersion")
            for claim, etype, reason, message in plan.events:
                self.events.event(with_kind("persistentvolumeclaims", claim), etype, reason,
                                  message)
        except (Conflict, NotFound, AlreadyExists) as exc:
            self.log.debug("%s: %s (next sync retries)", key, exc.reason)

    def _remove(self, path: str) -> None:
        """Remove a provisioned volume's directory (nodes share the root filesystem)."""
        if path and os.path.isabs(path) and os.path.basename(path).startswith("pvc-"):
            shutil.rmtree(path, ignore_errors=True)


class StorageProtectionLoop(Loop):
    """Remove kubernetes.io/pvc-protection from deleted claims no Pod uses, and
    kubernetes.io/pv-protection from deleted volumes that are no longer Bound."""

    name = "storage-protection"
    watches = ("persistentvolumeclaims", "persistentvolumes", "pods")
    event_component = "pvc-protection-controller"

    def sync(self) -> None:
        client = self.ctx.client
        pods = self.ctx.items("pods")
        for claim in protection.release_claims(self.ctx.items("persistentvolumeclaims"), pods):
            try:
                client.update("persistentvolumeclaims",
                              with_kind("persistentvolumeclaims", claim),
                              meta(claim).get("namespace"))
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", name_of(claim), exc.reason)
        for pv in protection.release_volumes(self.ctx.items("persistentvolumes")):
            try:
                client.update("persistentvolumes", with_kind("persistentvolumes", pv))
            except (Conflict, NotFound) as exc:
                self.log.debug("%s: %s (next sync retries)", name_of(pv), exc.reason)
