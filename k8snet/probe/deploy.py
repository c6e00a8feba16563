"""The probe's own Pods and Service, through the apiserver (effects).

Pods are pinned to nodes (``spec.nodeName``) so there is a same-node pair
and, with two workers or more, a cross-node pair:

- ``k8snet-probe-a`` on the first worker: the client;
- ``k8snet-probe-b`` on the first worker: same-node server;
- ``k8snet-probe-c`` on the second worker: cross-node server.

Each runs agnhost netexec (HTTP 8080, UDP 8081) and a client container (python:3.12-alpine:
busybox applets and Python).
Service ``k8snet-probe`` (NodePort, TCP 80 -> 8080, UDP 81 -> 8081) selects
the servers. Existing probe objects are reused (``--keep`` leaves them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from k8snet.errors import K8snetError
from k8snet.machinery.client import AlreadyExists, ApiClient, ApiError, NotFound
from k8snet.machinery.conditions import is_ready as condition_ready
from k8snet.testbed.waiting import WaitTimeout, by_name, wait_for

NAMESPACE = "default"
PREFIX = "k8snet-probe"
SERVICE = PREFIX
APP_LABEL = {"app": PREFIX}
SERVING_LABEL = "k8snet.io/probe-serving"
HTTP_PORT, UDP_PORT = 8080, 8081
# the second container: busybox applets (wget) and a Python for the UDP client, which
# busybox lacks (its nc speaks TCP only)
CLIENT = "python:3.12-alpine"
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.45"


@dataclass(frozen=True)
class ProbePod:
    """One probe Pod as the probe uses it."""

    name: str
    node: str
    ip: str
    uid: str
    role: str            # client or server

    @property
    def ref(self) -> str:
        return f"{NAMESPACE}/{self.name}"


def plan_pods(workers: List[str]) -> List[Dict]:
    """(name, node, role) of the probe Pods for these workers (pure)."""
    if not workers:
        raise K8snetError("the cluster has no worker node to run probe Pods on")
    plan = [{"name": f"{PREFIX}-a", "node": workers[0], "role": "client"},
            {"name": f"{PREFIX}-b", "node": workers[0], "role": "server"}]
    if len(workers) > 1:
        plan.append({"name": f"{PREFIX}-c", "node": workers[1], "role": "server"})
    return plan


def pod_manifest(name: str, node: str, role: str) -> Dict:
    labels = {**APP_LABEL, "k8snet.io/probe-role": role}
    if role == "server":
        labels[SERVING_LABEL] = "yes"
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "nodeName": node, "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "agnhost", "image": AGNHOST,
                 "args": ["netexec", f"--http-port={HTTP_PORT}", f"--udp-port={UDP_PORT}"],
                 "ports": [{"containerPort": HTTP_PORT}, {"containerPort": UDP_PORT,
                                                           "protocol": "UDP"}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": HTTP_PORT},
                                    "periodSeconds": 1}},
                {"name": "client", "image": CLIENT, "command": ["sleep", "100000"]},
            ]},
    }


def service_manifest() -> Dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": dict(APP_LABEL)},
        "spec": {"type": "NodePort", "selector": {**APP_LABEL, SERVING_LABEL: "yes"},
                 "ports": [{"name": "http", "port": 80, "targetPort": HTTP_PORT,
                            "protocol": "TCP"},
                           {"name": "udp", "port": 81, "targetPort": UDP_PORT,
                            "protocol": "UDP"}]},
    }


def is_ready(pod: Dict) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and condition_ready(pod)


def is_running(pod: Dict) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and bool(
        pod.get("status", {}).get("podIP"))


def ready_workers(client: ApiClient, workers: List[str]) -> List[str]:
    nodes = {n["metadata"]["name"]: n for n in client.list("nodes")["items"]}
    return [w for w in workers if w in nodes and condition_ready(nodes[w])]


def waiting_for(pods: Dict[str, dict], plan: List[Dict], created: set) -> List[str]:
    """The planned Pods not there yet (pure). New Pods must become Ready;
    reused ones only need to run (a broken network may have made them
    unready: that is for the checks to show)."""
    return [p["name"] for p in plan
            if not (p["name"] in pods and (is_ready(pods[p["name"]]) if p["name"] in created
                                           else is_running(pods[p["name"]])))]


def ensure(client: ApiClient, workers: List[str], timeout: float = 120.0) -> List[ProbePod]:
    """Create (or reuse) the probe Pods and Service; wait until Pods are Ready."""
    plan = plan_pods(ready_workers(client, workers))
    created = set()
    for item in plan:
        try:
            pod = client.get("pods", item["name"], NAMESPACE)
            if pod["spec"].get("nodeName") != item["node"] or pod["metadata"].get(
                    "deletionTimestamp"):
                raise K8snetError(f"pod {item['name']} exists on another node or is going "
                                  f"away; delete it ('kubectl delete pod {item['name']}')")
            if item["role"] == "server" and pod["metadata"]["labels"].get(SERVING_LABEL) != "yes":
                set_serving(client, item["name"], True)
        except NotFound:
            client.create("pods", pod_manifest(**item), NAMESPACE)
            created.add(item["name"])
    try:
        client.create("services", service_manifest(), NAMESPACE)
    except AlreadyExists:
        pass
    last: Dict[str, dict] = {}

    def all_there(items: Dict[str, dict]) -> Optional[Dict[str, dict]]:
        last.clear()
        last.update(by_name(items))
        return None if waiting_for(last, plan, created) else dict(last)

    try:
        pods = wait_for(client, "pods", all_there, timeout,
                        f"probe Pods {', '.join(p['name'] for p in plan)} Ready",
                        namespace=NAMESPACE, label_selector=f"app={PREFIX}")
    except WaitTimeout as exc:
        states = {n: (last.get(n) or {}).get("status", {}).get("phase", "missing")
                  for n in waiting_for(last, plan, created)}
        raise K8snetError(f"probe Pods not Ready after {timeout:.0f}s: {states} ({exc}); "
                          "a busy cluster may need more time: k8snet probe --timeout "
                          "SECONDS") from None
    return [ProbePod(p["name"], p["node"], pods[p["name"]]["status"]["podIP"],
                     pods[p["name"]]["metadata"]["uid"], p["role"]) for p in plan]


def set_serving(client: ApiClient, pod: str, serving: bool) -> None:
    """Put a server Pod in or out of the Service (its selector label)."""
    client.patch("pods", pod, {"metadata": {"labels": {SERVING_LABEL: "yes" if serving
                                                       else "no"}}}, NAMESPACE)


def remove(client: ApiClient, timeout: float = 60.0) -> List[str]:
    """Delete every probe Pod and the Service; wait for the Pods to go."""
    try:
        client.delete("services", SERVICE, NAMESPACE)
    except NotFound:
        pass
    names = [p["metadata"]["name"] for p in client.list(
        "pods", NAMESPACE, label_selector=f"app={PREFIX}")["items"]]
    for name in names:
        try:
            client.delete("pods", name, NAMESPACE, grace_period_seconds=1)
        except NotFound:
            pass
    def gone(items: Dict[str, dict]) -> bool:
        return not set(names) & set(by_name(items))

    try:
        wait_for(client, "pods", gone, timeout, f"probe Pods {', '.join(names)} gone",
                 namespace=NAMESPACE, label_selector=f"app={PREFIX}")
    except WaitTimeout as exc:
        raise K8snetError(f"probe Pods still present {timeout:.0f}s after deletion ({exc})") \
            from None
    return names


def service_info(client: ApiClient) -> Dict:
    """ClusterIP, NodePorts and Ready endpoint addresses of the probe Service."""
    svc = client.get("services", SERVICE, NAMESPACE)
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    try:
        eps = client.get("endpoints", SERVICE, NAMESPACE)
    except NotFound:
        eps = {}
    ready = {}
    for subset in eps.get("subsets", []) or []:
        for addr in subset.get("addresses", []) or []:
            name = (addr.get("targetRef") or {}).get("name") or addr["ip"]
            ready[name] = addr["ip"]
    return {"cluster_ip": svc["spec"].get("clusterIP"), "http_port": ports["http"]["port"],
            "udp_port": ports["udp"]["port"], "node_port": ports["http"].get("nodePort"),
            "endpoints": ready}


def safe_remove(client: ApiClient) -> str:
    """`remove`, turning an error into text for a report."""
    try:
        return f"removed {', '.join(remove(client)) or 'nothing'}"
    except (ApiError, K8snetError) as exc:
        return f"cleanup failed: {exc}"
