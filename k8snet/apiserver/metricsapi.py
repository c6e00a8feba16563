"""metrics.k8s.io/v1beta1, what metrics-server serves, so `kubectl top` works.

Upstream, metrics-server scrapes each kubelet and the apiserver aggregates
its API. Here the apiserver answers the group itself, on request: it reads
``/stats/summary`` from the kubelet of each Node concerned (the same HTTPS and
client certificate as logs and exec) and turns the kubelet's CPU rate
(usageNanoCores, from two cgroup samples) and working set into NodeMetrics and
PodMetrics. The resources are computed, never stored.
"""

from __future__ import annotations

import json
import ssl
from typing import Callable, Optional

from k8snet.apiserver import podlog
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery.resources import KindInfo

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "5s"   # the kubelet's sampling period (k8snet.kubelet.statscollector)
KIND_INFOS = (
    KindInfo(kind="NodeMetrics", plural="nodes", singular="", group=GROUP, version=VERSION,
             namespaced=False, verbs=("get", "list"), stored=False),
    KindInfo(kind="PodMetrics", plural="pods", singular="", group=GROUP, version=VERSION,
             namespaced=True, verbs=("get", "list"), stored=False),
)


def quantity_cpu(nano_cores: int) -> str:
    return f"{int(nano_cores)}n"


def quantity_memory(nbytes: int) -> str:
    return f"{int(nbytes) // 1024}Ki"


def _usage(stats: dict) -> Optional[dict]:
    cpu, mem = stats.get("cpu") or {}, stats.get("memory") or {}
    if "usageNanoCores" not in cpu or "workingSetBytes" not in mem:
        return None   # the kubelet has one sample only so far
    return {"cpu": quantity_cpu(cpu["usageNanoCores"]),
            "memory": quantity_memory(mem["workingSetBytes"])}


def node_metrics(summary: dict) -> Optional[dict]:
    """NodeMetrics from a kubelet's summary (None until it has a CPU rate)."""
    node = summary.get("node") or {}
    usage = _usage(node)
    if usage is None:
        return None
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION,
            "metadata": {"name": node.get("nodeName"),
                         "creationTimestamp": (node.get("cpu") or {}).get("time")},
            "timestamp": (node.get("cpu") or {}).get("time"), "window": WINDOW,
            "usage": usage}


def pod_metrics(summary: dict) -> list:
    """PodMetrics of every Pod in a kubelet's summary that has figures for all containers."""
    out = []
    for pod in summary.get("pods") or []:
        containers = [(c.get("name"), _usage(c)) for c in pod.get("containers") or []]
        if not containers or any(u is None for _, u in containers):
            continue
        ref = pod.get("podRef") or {}
        when = ((pod.get("containers") or [{}])[0].get("cpu") or {}).get("time")
        out.append({"kind": "PodMetrics", "apiVersion": API_VERSION,
                    "metadata": {"name": ref.get("name"), "namespace": ref.get("namespace"),
                                 "creationTimestamp": when},
                    "timestamp": when, "window": WINDOW,
                    "containers": [{"name": n, "usage": u} for n, u in containers]})
    return out


def fetch_summary(node: dict, tls: Optional[ssl.SSLContext]) -> Optional[dict]:
    """The node's kubelet /stats/summary (None when unreachable: a node down shows no
    figures, as with metrics-server)."""
    fake_pod = {"metadata": {"name": "metrics"}, "spec": {"nodeName": node["metadata"]["name"]}}
    try:
        base = podlog.kubelet_base(fake_pod, node, "read metrics of")
        resp = podlog.open_kubelet(base + "/stats/summary", timeout=5.0, tls=tls)
    except ApiStatusError:
        return None
    try:
        return json.loads(resp.read())
    except ValueError:
        return None
    finally:
        resp.close()


def collect(nodes: list, fetch: Callable[[dict], Optional[dict]]) -> tuple[list, list]:
    """(NodeMetrics, PodMetrics) over these Nodes."""
    node_items, pod_items = [], []
    for node in nodes:
        summary = fetch(node)
        if summary is None:
            continue
        nm = node_metrics(summary)
        if nm is not None:
            node_items.append(nm)
        pod_items.extend(pod_metrics(summary))
    return node_items, pod_items


def select(items: list, kind: str, namespace: Optional[str], name: Optional[str],
           label_match: Callable[[dict], bool]) -> dict:
    """A list (or one object: 404 when absent) from the collected items."""
    chosen = [i for i in items if (namespace is None or i["metadata"].get("namespace")
                                   == namespace) and label_match(i)]
    if name is not None:
        for item in chosen:
            if item["metadata"]["name"] == name:
                return item
        plural = "nodes" if kind == "NodeMetrics" else "pods"
        raise ApiStatusError(404, f'{plural}.{GROUP} "{name}" not found', "NotFound",
                             {"name": name, "group": GROUP, "kind": plural})
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": {},
            "items": sorted(chosen, key=lambda i: (i["metadata"].get("namespace") or "",
                                                   i["metadata"]["name"]))}
