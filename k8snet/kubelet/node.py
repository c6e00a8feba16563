"""The Node object and the Lease the kubelet keeps alive (pure builders).

Labels: kubernetes.io/hostname, kubernetes.io/os=linux, kubernetes.io/arch,
plus whatever --node-labels gives (node-role.kubernetes.io/worker=,
topology.kubernetes.io/zone=leaf1, disk=ssd, ...). Capacity and allocatable
come from the flags (cpu, memory, pods). Conditions: Ready (with heartbeat)
and the three pressure conditions, all with lastTransitionTime kept while
the status does not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Tuple

from k8snet.errors import UsageError
from k8snet.machinery.quantities import int_value, is_quantity
from k8snet.machinery.timefmt import format_micro_time, format_time

KUBELET_VERSION = "v1.32.0-k8snet"
LEASE_NAMESPACE = "kube-node-lease"
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


# read by the apiserver (k8snet.apiserver.podlog) to pick http or https for :10250
SCHEME_ANNOTATION = "k8snet.io/kubelet-scheme"


@dataclass(frozen=True)
class NodeConfig:
    name: str
    ip: str
    cpu: str = "2"
    memory: str = "4Gi"
    max_pods: int = 110
    labels: Tuple[Tuple[str, str], ...] = ()
    kubelet_port: int = 10250
    kubelet_scheme: str = "https"   # how the apiserver reaches kubelet_port
    arch: str = "amd64"
    kernel: str = ""
    os_image: str = "k8snet emulated node"
    runtime_version: str = "k8snet://0.1.0"
    boot_id: str = ""
    machine_id: str = ""


def parse_node_labels(text: str) -> Tuple[Tuple[str, str], ...]:
    """'k=v,k2=,role' -> ((k, v), (k2, ''), ...); UsageError on a bad key or value."""
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        prefix, _, name = key.rpartition("/")
        if not name or len(name) > 63 or not _LABEL_NAME.match(name) or \
                (prefix and not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", prefix)):
            raise UsageError(f"--node-labels: bad label key {key!r}; use [prefix/]name=value")
        if len(value) > 63 or not _LABEL_NAME.match(value):
            raise UsageError(f"--node-labels: bad value {value!r} for {key!r}: up to 63 "
                             "alphanumerics, '-', '_' or '.', starting and ending alphanumeric")
        out.append((key, value))
    return tuple(out)


def check_quantity(flag: str, text: str) -> str:
    """`text` if it is a resource quantity, else UsageError naming the flag."""
    if not is_quantity(text):
        raise UsageError(f"{flag}: bad quantity {text!r}; use e.g. 2, 500m, 4Gi, 1e3")
    return text


def memory_ki(text: str) -> str:
    """Memory as the kubelet reports it: whole Ki."""
    return f"{int_value(text) // 1024}Ki"


def node_labels(cfg: NodeConfig) -> Dict[str, str]:
    labels = {
        "kubernetes.io/hostname": cfg.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": cfg.arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": cfg.arch,
    }
    labels.update(dict(cfg.labels))
    return labels


def resources(cfg: NodeConfig) -> Dict[str, str]:
    check_quantity("cpu", cfg.cpu)
    return {"cpu": str(cfg.cpu), "memory": memory_ki(cfg.memory), "pods": str(cfg.max_pods),
            "ephemeral-storage": "10Gi"}


def _cond(ctype: str, status: str, reason: str, message: str, old: Mapping[str, dict],
          now_s: str) -> Dict[str, Any]:
    prev = old.get(ctype)
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == status else None
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now_s, "lastTransitionTime": since or now_s}


def node_status(cfg: NodeConfig, old: Optional[Mapping[str, Any]], now: float,
                ready: bool, not_ready_message: str = "") -> Dict[str, Any]:
    """Node status: conditions with heartbeat, addresses, capacity, nodeInfo."""
    now_s = format_time(now)
    old_conds = {c["type"]: c for c in (old or {}).get("conditions") or []}
    res = resources(cfg)
    conditions = [
        _cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
              "kubelet has sufficient memory available", old_conds, now_s),
        _cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
              "kubelet has no disk pressure", old_conds, now_s),
        _cond("PIDPressure", "False", "KubeletHasSufficientPID",
              "kubelet has sufficient PID available", old_conds, now_s),
        _cond("Ready", "True", "KubeletReady", "kubelet is posting ready status", old_conds,
              now_s) if ready else
        _cond("Ready", "False", "KubeletNotReady", not_ready_message or "kubelet is starting",
              old_conds, now_s),
    ]
    return {
        "capacity": dict(res),
        "allocatable": dict(res),
        "conditions": conditions,
        "addresses": [{"type": "InternalIP", "address": cfg.ip},
                      {"type": "Hostname", "address": cfg.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": cfg.kubelet_port}},
        "nodeInfo": {
            "machineID": cfg.machine_id, "systemUUID": cfg.machine_id, "bootID": cfg.boot_id,
            "kernelVersion": cfg.kernel, "osImage": cfg.os_image,
            "containerRuntimeVersion": cfg.runtime_version,
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux", "architecture": cfg.arch,
        },
    }


def build_node(cfg: NodeConfig, now: float, not_ready_message: str = "") -> Dict[str, Any]:
    """The Node the kubelet registers (not Ready until its network is configured)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": cfg.name, "labels": node_labels(cfg),
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "k8snet.io/node-ip": cfg.ip,
                                     SCHEME_ANNOTATION: cfg.kubelet_scheme}},
        "spec": {},
        "status": node_status(cfg, None, now, ready=False, not_ready_message=not_ready_message),
    }


def merge_registration(existing: Mapping[str, Any], cfg: NodeConfig) -> Optional[Dict[str, Any]]:
    """Merge patch to bring an already registered Node's labels up to date (None if fine)."""
    meta = existing.get("metadata") or {}
    labels = meta.get("labels") or {}
    want = node_labels(cfg)
    missing = {k: v for k, v in want.items() if labels.get(k) != v}
    patch: Dict[str, Any] = {"labels": missing} if missing else {}
    if (meta.get("annotations") or {}).get(SCHEME_ANNOTATION) != cfg.kubelet_scheme:
        patch["annotations"] = {SCHEME_ANNOTATION: cfg.kubelet_scheme}
    return {"metadata": patch} if patch else None


def build_lease(node_name: str, node_uid: Optional[str], duration: int,
                now: float) -> Dict[str, Any]:
    """The node's heartbeat Lease in kube-node-lease, owned by the Node."""
    meta: Dict[str, Any] = {"name": node_name, "namespace": LEASE_NAMESPACE}
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name,
                                    "uid": node_uid}]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {"holderIdentity": node_name, "leaseDurationSeconds": int(duration),
                 "renewTime": format_micro_time(now)},
    }


def renew_lease(lease: Mapping[str, Any], node_name: str, duration: int,
                now: float) -> Dict[str, Any]:
    """The same Lease (resourceVersion kept, for a compare-and-swap PUT) renewed at `now`."""
    out = dict(lease)
    spec = dict(out.get("spec") or {})
    spec.update(holderIdentity=node_name, leaseDurationSeconds=int(duration),
                renewTime=format_micro_time(now))
    out["spec"] = spec
    return out


def status_worth_posting(posted: Optional[Mapping[str, Any]], new: Mapping[str, Any],
                         posted_at: float, now: float, report_every: float) -> bool:
    """Post the Node's status now? When it differs from the one last posted in more than
    the conditions' heartbeat times, or ``report_every`` seconds after the last post
    (upstream's nodeStatusReportFrequency: the Lease is the heartbeat)."""
    if posted is None or now - posted_at >= report_every:
        return True

    def comparable(st: Mapping[str, Any]) -> Dict[str, Any]:
        out = {k: st.get(k) for k in new}      # what the kubelet sets, no one else's
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                             for c in st.get("conditions") or []]
        return out
    return comparable(posted) != comparable(new)


def pod_cidr(node: Mapping[str, Any]) -> Optional[str]:
    spec = node.get("spec") or {}
    return spec.get("podCIDR") or (spec.get("podCIDRs") or [None])[0]
