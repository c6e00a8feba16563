"""The ServiceAccount admission plugin, on Pod create (as upstream's, Kubernetes 1.32).

A Pod without spec.serviceAccountName runs as `default` (the deprecated
spec.serviceAccount mirrors it); a Pod naming a ServiceAccount that does not exist is
refused (403); unless spec.automountServiceAccountToken or the ServiceAccount's
automountServiceAccountToken is false, the Pod gets a `kube-api-access-XXXXX` projected
volume (a bound token, the cluster CA from the kube-root-ca.crt ConfigMap, the namespace)
mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every container and
init container that has no mount at that path; a Pod without imagePullSecrets gets the
ServiceAccount's. Mirror Pods (static Pods) get no defaults and may not name a
ServiceAccount, reference Secrets or project tokens. hostNetwork Pods are treated like any
other (upstream has no rule for them).
"""

from __future__ import annotations

import copy
import random
from typing import Callable, Optional

from k8snet.apiserver.authz import forbidden_error
from k8snet.apiserver.objects import generate_name

DEFAULT_SA = "default"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION_SECONDS = 3607
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"

Lookup = Callable[[str, str], Optional[dict]]


def api_access_volume(name: str) -> dict:
    """The projected volume the plugin adds: token, ca.crt, namespace (mode 0644)."""
    return {"name": name, "projected": {
        "defaultMode": 0o644,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                                     "path": "token"}},
            {"configMap": {"name": ROOT_CA_CONFIGMAP,
                           "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}}


def should_automount(sa: dict, pod: dict) -> bool:
    """The Pod's automountServiceAccountToken wins; then the ServiceAccount's; else True."""
    pod_says = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_says is not None:
        return bool(pod_says)
    sa_says = sa.get("automountServiceAccountToken")
    return True if sa_says is None else bool(sa_says)


def _dicts(value: object) -> list:
    """The dict items of a list (malformed shapes are left to validation)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def mount_token(pod: dict, rng: random.Random) -> dict:
    """The Pod with the API access volume added and mounted where no mount has the path."""
    pod = copy.deepcopy(pod)
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return pod
    volumes = spec.get("volumes") or []
    if not isinstance(volumes, list):
        return pod
    existing = next((v.get("name") for v in _dicts(volumes)
                     if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None)
    name = existing or generate_name(VOLUME_PREFIX, rng)
    needs_volume = False
    for field in ("initContainers", "containers"):
        for container in _dicts(spec.get(field)):
            mounts = container.get("volumeMounts") or []
            if not isinstance(mounts, list) or \
                    any(m.get("mountPath") == MOUNT_PATH for m in _dicts(mounts)):
                continue
            container["volumeMounts"] = mounts + [
                {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}]
            needs_volume = True
    if needs_volume and existing is None:
        spec["volumes"] = volumes + [api_access_volume(name)]
    return pod


def admit_pod(pod: dict, lookup: Lookup, rng: random.Random) -> dict:
    """The admitted Pod (a copy), or ApiStatusError 403 as upstream words it. A Pod of the
    wrong shape is returned as it is, for validation to refuse."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec")
    if not isinstance(meta, dict) or not isinstance(spec, dict):
        return pod
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    annotations = meta.get("annotations") or {}
    if isinstance(annotations, dict) and MIRROR_ANNOTATION in annotations:
        refusal = mirror_pod_refusal(spec)
        if refusal:
            raise forbidden_error("", "pods", name, refusal)
        return pod
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    sa_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SA
    if not isinstance(sa_name, str):
        return pod
    spec["serviceAccountName"] = spec["serviceAccount"] = sa_name
    sa = lookup(ns, sa_name)
    if sa is None:
        raise forbidden_error("", "pods", name,
                              f"error looking up service account {ns}/{sa_name}: "
                              f'serviceaccount "{sa_name}" not found')
    if should_automount(sa, pod):
        pod = mount_token(pod, rng)
    if not pod["spec"].get("imagePullSecrets") and _dicts(sa.get("imagePullSecrets")):
        pod["spec"]["imagePullSecrets"] = [{"name": ref.get("name", "")}
                                           for ref in _dicts(sa["imagePullSecrets"])]
    return pod


def _references_secrets(spec: dict) -> bool:
    """Whether a Pod spec names any Secret (pull secrets, volumes, projections, env)."""
    if spec.get("imagePullSecrets"):
        return True
    for volume in _dicts(spec.get("volumes")):
        if volume.get("secret") or any(src.get("secret") for src in _sources(volume)):
            return True
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(field)):
            if any(isinstance(env.get("valueFrom"), dict)
                   and env["valueFrom"].get("secretKeyRef")
                   for env in _dicts(container.get("env"))):
                return True
            if any(src.get("secretRef") for src in _dicts(container.get("envFrom"))):
                return True
    return False


def _sources(volume: dict) -> list:
    """A projected volume's sources (none for other volumes)."""
    projected = volume.get("projected")
    return _dicts(projected.get("sources")) if isinstance(projected, dict) else []


def mirror_pod_refusal(spec: dict) -> str:
    """Why a mirror Pod is refused ("" when it is not): it may not name a ServiceAccount,
    reference Secrets or project ServiceAccount tokens."""
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        return "a mirror pod may not reference service accounts"
    if _references_secrets(spec):
        return "a mirror pod may not reference secrets"
    for volume in _dicts(spec.get("volumes")):
        if any(src.get("serviceAccountToken") for src in _sources(volume)):
            return "a mirror pod may not use ServiceAccountToken volume projections"
    return ""
