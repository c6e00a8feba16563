"""`k8snet probe --policy`: the e2e model in a running cluster, policies applied,
every pair probed, the truth table compared with the oracle's (effects).

- `ensure_model` makes namespaces x, y, z and Pods a, b, c in each (agnhost
  netexec serving TCP and UDP on 80 and 81 under the e2e port names), pinned
  to the workers round-robin so that pairs are both same-node and cross-node;
- `apply_case` replaces the model's policies (and labels) and waits until
  every node's policy agent says, in its status file, that it enforces
  exactly them;
- `observe` connects from each Pod's namespace to every other Pod, all
  targets of a row at once (`k8snet.policy.prober`), retrying a failed cell
  once so a slow machine is not read as a deny.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from k8snet.errors import K8snetError
from k8snet.machinery.client import AlreadyExists, ApiClient, NotFound
from k8snet.machinery.conditions import is_ready
from k8snet.policy.agent import enforced_since, read_status
from k8snet.policy.model import PodFacts, parse_pod
from k8snet.policy.truthtable import NAMESPACES, PODS, PORTS, Table, pod_keys, port_name

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.45"
MODEL_LABEL = "k8snet.io/policy-model"
SERVED = ("TCP", "UDP")   # k8snet's agnhost serves no SCTP
PROBE_TIMEOUT = 1.0   # one SYN: Linux retransmits after 1 s
START_TIMEOUT = 30.0
Progress = Callable[[str], None]


def model_pod_manifest(namespace: str, name: str, node: str) -> dict:
    """One model Pod: a netexec container per port, each serving TCP and UDP."""
    containers = []
    for port in PORTS:
        containers.append({
            "name": f"cont-{port}", "image": AGNHOST,
            "args": ["netexec", f"--http-port={port}", f"--udp-port={port}"],
            "ports": [{"name": port_name(port, proto), "containerPort": port,
                       "protocol": proto} for proto in SERVED],
            "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1}})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"pod": name, MODEL_LABEL: "yes"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": containers}}


def plan_model(workers: list[str]) -> dict[str, str]:
    """Pod key -> node: Pod a, b, c of every namespace on successive workers."""
    if not workers:
        raise K8snetError("the cluster has no worker node for the policy model")
    return {f"{ns}/{pod}": workers[i % len(workers)]
            for ns in NAMESPACES for i, pod in enumerate(PODS)}


def ensure_model(client: ApiClient, workers: list[str], timeout: float = 180.0,
                 progress: Progress = lambda _t: None) -> list[PodFacts]:
    """Create (or reuse) the model's namespaces and Pods; their facts once all run."""
    plan = plan_model(workers)
    for ns in NAMESPACES:
        try:
            client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns, "labels": {"ns": ns}}})
        except AlreadyExists:
            pass
    for key, node in plan.items():
        ns, name = key.split("/")
        try:
            client.create("pods", model_pod_manifest(ns, name, node), ns)
        except AlreadyExists:
            pass
    progress(f"waiting for the 9 model Pods on {', '.join(sorted(set(plan.values())))}")
    deadline = time.monotonic() + timeout
    while True:
        pods = {}
        for ns in NAMESPACES:
            for obj in client.list("pods", ns, label_selector=f"{MODEL_LABEL}=yes")["items"]:
                if is_ready(obj) and (obj.get("status") or {}).get("podIP"):
                    pods[f"{ns}/{obj['metadata']['name']}"] = obj
        if set(pods) >= set(plan):
            return [parse_pod(pods[k]) for k in pod_keys()]
        if time.monotonic() > deadline:
            missing = sorted(set(plan) - set(pods))
            raise K8snetError(f"model Pods not Ready after {timeout:.0f}s: {missing}; a busy "
                              "cluster may need more time: k8snet probe --policy --timeout "
                              "SECONDS")
        time.sleep(0.5)


def remove_model(client: ApiClient) -> None:
    """Delete the model's namespaces (their Pods and policies go with them)."""
    for ns in NAMESPACES:
        try:
            client.delete("namespaces", ns)
        except NotFound:
            pass


# ------------------------------------------------------------ policies and labels


@dataclass
class Applied:
    """What one `apply_case` wrote, and how long enforcement took."""

    policies: dict[str, str]       # key -> resourceVersion the agents must show
    versions: dict[str, str]       # resource -> resourceVersion of the last label write
    seconds: float = 0.0


def _label_patch(wanted: dict, current: dict, keep: Iterable[str]) -> Optional[dict]:
    """A merge patch that makes labels ``wanted`` on top of ``keep`` keys (None: no change)."""
    target = {k: v for k, v in current.items() if k in keep}
    target.update(wanted)
    if target == current:
        return None
    return {k: target.get(k) for k in set(current) | set(target)}


def set_labels(client: ApiClient, namespace_labels: dict, pod_labels: dict) -> dict[str, str]:
    """Make the model's extra labels exactly these (others removed); resourceVersions."""
    versions: dict[str, str] = {}
    for ns in NAMESPACES:
        current = client.get("namespaces", ns)["metadata"].get("labels") or {}
        patch = _label_patch(namespace_labels.get(ns) or {}, current,
                             ("ns", "kubernetes.io/metadata.name"))
        if patch is not None:
            obj = client.patch("namespaces", ns, {"metadata": {"labels": patch}})
            versions["namespaces"] = obj["metadata"]["resourceVersion"]
    for key in pod_keys():
        ns, name = key.split("/")
        current = client.get("pods", name, ns)["metadata"].get("labels") or {}
        patch = _label_patch(pod_labels.get(key) or {}, current, ("pod", MODEL_LABEL))
        if patch is not None:
            obj = client.patch("pods", name, {"metadata": {"labels": patch}}, ns)
            versions["pods"] = obj["metadata"]["resourceVersion"]
    return versions


def replace_policies(client: ApiClient, objects: list[dict]) -> dict[str, str]:
    """Delete the model namespaces' policies, create ``objects``; key -> resourceVersion."""
    for ns in NAMESPACES:
        for obj in client.list("networkpolicies", ns)["items"]:
            try:
                client.delete("networkpolicies", obj["metadata"]["name"], ns)
            except NotFound:
                pass
    created = {}
    for obj in objects:
        ns = obj["metadata"].get("namespace") or "x"
        if ns not in NAMESPACES:
            raise K8snetError(f"policy {obj['metadata'].get('name')} is in namespace {ns!r}; "
                              f"the model's namespaces are {', '.join(NAMESPACES)}")
        out = client.create("networkpolicies", obj, ns)
        created[f"{ns}/{out['metadata']['name']}"] = out["metadata"]["resourceVersion"]
    return created


FABRIC_STATUS = "fabric-policy.status"   # written by controllers.fabric_app (macvlan mode)


def status_path(cluster_dir: str, node: str) -> str:
    return os.path.join(cluster_dir, node, "policy.status")


def other_policies(client: ApiClient) -> dict[str, str]:
    """Policies outside the model's namespaces (agents enforce them too)."""
    out = {}
    for obj in client.list("networkpolicies")["items"]:
        meta = obj["metadata"]
        if meta.get("namespace") not in NAMESPACES:
            out[f"{meta['namespace']}/{meta['name']}"] = meta["resourceVersion"]
    return out


def wait_enforced(cluster_dir: str, nodes: list[str], applied: Applied,
                  timeout: float = 60.0) -> float:
    """Seconds until every node's agent reports enforcing ``applied`` (and, in macvlan
    mode, the fabric controller, whose leaves enforce policy there)."""
    started = time.monotonic()
    fabric = os.path.join(cluster_dir, FABRIC_STATUS)
    paths = {node: status_path(cluster_dir, node) for node in nodes}
    if os.path.exists(fabric):
        paths["the fabric controller"] = fabric
    while True:
        late = []
        for node, path in paths.items():
            status = read_status(path)
            ok = status is not None and status.get("policies") == applied.policies and all(
                enforced_since(status, r, v) for r, v in applied.versions.items())
            if not ok:
                late.append(node)
        if not late:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise K8snetError(f"policy agents on {', '.join(late)} did not enforce the "
                              f"policies within {timeout:.0f}s; see their policy-agent.log")
        time.sleep(0.05)


# ------------------------------------------------------------------- probing


def netns_paths(cluster, pods: list[PodFacts], uids: dict[str, str]) -> dict[str, str]:
    """Pod key -> the path of its network namespace (from its node's runtime)."""
    from k8snet.probe.cluster import pod_netns

    out = {}
    for pod in pods:
        path = pod_netns(cluster.state, pod.node, uids[pod.key])
        if not path:
            raise K8snetError(f"no running sandbox for {pod.key} on {pod.node}")
        out[pod.key] = path
    return out


def node_drops(cluster, nodes: list[str]) -> dict[str, dict]:
    """node -> drop counters of its policy table (empty when it has none)."""
    from k8snet.policy.agent import drop_counters
    from k8snet.policy.render_nft import FAMILY, TABLE

    out = {}
    for node in nodes:
        info = cluster.state.node(node)
        proc = subprocess.run(["ip", "netns", "exec", info.netns, "nft", "-j", "list", "table",
                               FAMILY, TABLE], capture_output=True, text=True, timeout=30)
        out[node] = drop_counters(proc.stdout) if proc.returncode == 0 else {}
    return out


class Probers:
    """One `k8snet.policy.prober` process per Pod namespace, for a whole run."""

    def __init__(self, paths: dict[str, str]):
        self.procs: dict[str, subprocess.Popen] = {}
        try:
            for key, path in paths.items():
                self.procs[key] = subprocess.Popen(
                    ["nsenter", f"--net={path}", sys.executable, "-m", "k8snet.policy.prober"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    text=True, bufsize=1)
            for key in self.procs:
                self._read(key, START_TIMEOUT)
        except BaseException:
            self.stop()
            raise

    def _read(self, key: str, timeout: float):
        proc = self.procs[key]
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line:
            raise K8snetError(f"prober in {key}'s namespace gave no answer within "
                              f"{timeout:.0f}s")
        return json.loads(line)

    def ask(self, key: str, targets: list, timeout: float) -> list[dict]:
        proc = self.procs[key]
        proc.stdin.write(json.dumps({"timeout": timeout, "targets": targets}) + "\n")
        proc.stdin.flush()
        return self._read(key, timeout * 2 + 30)

    def stop(self) -> None:
        """Close their input (they exit); kill any that does not within 3 s."""
        for proc in self.procs.values():
            try:
                proc.stdin.close()
                proc.wait(3)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(5)
            for stream in (proc.stdout, proc.stderr):
                stream.close()
        self.procs.clear()


def observe(pods: list[PodFacts], probers: Probers, protocol: str, port: int,
            timeout: float = PROBE_TIMEOUT,
            expected: Optional[Table] = None) -> tuple[Table, dict]:
    """The observed table for one protocol and port, and each cell's evidence. A cell
    that failed is probed once more (only those ``expected`` allows, when given: a
    busy machine may be slow to connect, never quick to)."""
    from concurrent.futures import ThreadPoolExecutor

    by_key = {p.key: p for p in pods}
    table: Table = {}
    evidence: dict = {}

    def row(src: str, dsts: list[str], patience: float = 1.0) -> None:
        results = probers.ask(src, [[by_key[d].ip, port, protocol] for d in dsts],
                              timeout * patience)
        for dst, result in zip(dsts, results):
            table[(src, dst)] = bool(result["ok"])
            evidence[(src, dst)] = result["detail"]

    keys = pod_keys()
    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        list(pool.map(lambda s: row(s, keys), keys))
        failed: dict[str, list[str]] = {}
        for (s, d), ok in table.items():
            if not ok and (expected is None or expected.get((s, d))):
                failed.setdefault(s, []).append(d)
        # A second chance, three times as patient: the userspace fabric is slow when
        # the machine is busy.
        list(pool.map(lambda item: row(*item, patience=3.0), failed.items()))
    return table, evidence
