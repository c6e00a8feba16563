"""Namespace -> `default` ServiceAccount and kube-root-ca.crt ConfigMap."""

from __future__ import annotations

from k8snet.kcm import serviceaccounts as sa
from k8snet.kcm.base import Loop
from k8snet.kcm.objects import meta
from k8snet.machinery.client import AlreadyExists, Conflict, NotFound


class ServiceAccountLoop(Loop):
    """A `default` ServiceAccount in every namespace (recreated when deleted)."""

    name = "serviceaccount"
    watches = ("namespaces", "serviceaccounts")

    def sync(self) -> None:
        for ns in sa.missing_service_accounts(self.ctx.items("namespaces"),
                                              self.ctx.items("serviceaccounts")):
            try:
                self.ctx.client.create("serviceaccounts", sa.default_service_account(ns), ns)
            except (AlreadyExists, NotFound, Conflict) as exc:
                self.log.debug("%s: %s (next sync retries)", ns, exc.reason)


class RootCAPublisherLoop(Loop):
    """kube-root-ca.crt (key ca.crt: the apiserver's CA) in every namespace."""

    name = "root-ca-cert-publisher"
    watches = ("namespaces", "configmaps")

    def sync(self) -> None:
        ca = getattr(self.ctx.options, "root_ca", "")
        if not ca:
            return
        client = self.ctx.client
        for action, ns, current in sa.root_ca_plan(self.ctx.items("namespaces"),
                                                   self.ctx.items("configmaps"), ca):
            want = sa.root_ca_configmap(ns, ca)
            try:
                if current is None:
                    client.create("configmaps", want, ns)
                else:
                    want["metadata"]["resourceVersion"] = meta(current).get("resourceVersion")
                    client.update("configmaps", want, ns)
            except (AlreadyExists, NotFound, Conflict) as exc:
                self.log.debug("%s %s: %s (next sync retries)", action, ns, exc.reason)
