"""ServiceAccount and root-CA publisher decisions (upstream's serviceaccount-controller
and root-ca-cert-publisher): every active namespace has a `default` ServiceAccount and a
`kube-root-ca.crt` ConfigMap whose ca.crt is the apiserver's CA bundle."""

from __future__ import annotations

import base64
from typing import Optional

import yaml

from k8snet.errors import K8snetError
from k8snet.kcm.objects import meta, name_of

DEFAULT_SA = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


def _active(namespaces: list[dict]) -> list[str]:
    """Names of the namespaces not being deleted."""
    return sorted(name_of(n) for n in namespaces
                  if not meta(n).get("deletionTimestamp")
                  and (n.get("status") or {}).get("phase") != "Terminating")


def missing_service_accounts(namespaces: list[dict], service_accounts: list[dict]) -> list[str]:
    """The active namespaces that have no `default` ServiceAccount."""
    have = {meta(sa).get("namespace") for sa in service_accounts
            if name_of(sa) == DEFAULT_SA}
    return [ns for ns in _active(namespaces) if ns not in have]


def default_service_account(namespace: str) -> dict:
    """The ServiceAccount the controller creates."""
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": DEFAULT_SA, "namespace": namespace}}


def root_ca_configmap(namespace: str, ca: str) -> dict:
    """The kube-root-ca.crt ConfigMap the publisher writes."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace},
            "data": {"ca.crt": ca}}


def root_ca_plan(namespaces: list[dict], configmaps: list[dict],
                 ca: str) -> list[tuple[str, str, Optional[dict]]]:
    """[("create" | "update", namespace, current ConfigMap or None)] for the namespaces whose
    kube-root-ca.crt is missing or does not hold `ca`."""
    current = {meta(cm).get("namespace"): cm for cm in configmaps
               if name_of(cm) == ROOT_CA_CONFIGMAP}
    plan: list[tuple[str, str, Optional[dict]]] = []
    for ns in _active(namespaces):
        cm = current.get(ns)
        if cm is None:
            plan.append(("create", ns, None))
        elif (cm.get("data") or {}).get("ca.crt") != ca:
            plan.append(("update", ns, cm))
    return plan


def ca_from_kubeconfig(path: str) -> str:
    """The cluster CA (PEM) of a kubeconfig's current cluster: certificate-authority-data or
    the certificate-authority file; "" when it has neither. K8snetError when unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise K8snetError(f"cannot read kubeconfig {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise K8snetError(f"kubeconfig {path} is not valid YAML: {exc}") from None
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    wanted = contexts.get(config.get("current-context"), {}).get("cluster")
    clusters = config.get("clusters") or []
    cluster = next((c.get("cluster") or {} for c in clusters if c.get("name") == wanted),
                   (clusters[0].get("cluster") or {}) if clusters else {})
    if cluster.get("certificate-authority-data"):
        return base64.b64decode(cluster["certificate-authority-data"]).decode()
    if cluster.get("certificate-authority"):
        try:
            with open(cluster["certificate-authority"], encoding="utf-8") as fh:
                return fh.read()
        except OSError as exc:
            raise K8snetError(f"kubeconfig {path}: cannot read certificate-authority "
                              f"{cluster['certificate-authority']}: {exc.strerror}") from None
    return ""
