"""Helpers to drive a k8snet cluster with the real kubectl, as a user does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import yaml


class Kubectl:
    """The real kubectl with a private HOME and cache, against one cluster."""

    def __init__(self, kubeconfig: str, home: str):
        self.env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": home}
        self.cache = os.path.join(home, "cache")

    def __call__(self, *args: str, check: bool = True, stdin: Optional[str] = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(["kubectl", f"--cache-dir={self.cache}", *args],
                              capture_output=True, text=True, env=self.env, input=stdin,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
        return proc

    def apply(self, *docs: Dict) -> None:
        self("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))

    def json(self, *args: str) -> Dict:
        return json.loads(self("get", *args, "-o", "json").stdout)

    def pods(self, selector: str) -> List[Dict]:
        return self.json("pods", "-l", selector)["items"]


def wait_for(what: str, probe: Callable[[], object], timeout: float = 120,
             interval: float = 0.5):
    """Poll ``probe`` until it returns something truthy; fail saying ``what``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except AssertionError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def ready(pod: Dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions", []))


def agnhost_deployment(name: str, replicas: int, labels: Optional[Dict] = None) -> Dict:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                     "name": "agnhost",
                     "image": "registry.k8s.io/e2e-test-images/agnhost:2.45",
                     "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
                     "ports": [{"containerPort": 8080}],
                     "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
                                        "periodSeconds": 2}}]}}},
    }


def service(name: str, selector: Dict, svc_type: str = "ClusterIP") -> Dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": svc_type, "selector": selector,
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"},
                               {"name": "udp", "port": 81, "targetPort": 8081,
                                "protocol": "UDP"}]}}


class PodShell:
    """Commands in one cluster's Pods through `k8snet exec`, as a user runs them
    (busybox applets and agnhost's netexec in the test Pods)."""

    def __init__(self, cluster: str):
        self.cluster = cluster

    def run(self, pod: str, *cmd: str, timeout: int = 30) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "k8snet.cli", "exec", "--name",
                               self.cluster, "--timeout", str(timeout), pod, "--", *cmd],
                              capture_output=True, text=True, timeout=timeout + 30)

    def http_get(self, pod: str, url: str) -> str:
        # busybox wget; the exec deadline bounds it
        out = self.run(pod, "busybox", "wget", "-qO-", url)
        assert out.returncode == 0, f"wget {url} from {pod}: {out.stdout}{out.stderr}"
        return out.stdout.strip()

    def dial(self, pod: str, host: str, port: int, protocol: str, request: str) -> str:
        """agnhost /dial on the Pod's own netexec: the Pod itself opens the connection."""
        url = (f"http://127.0.0.1:8080/dial?request={request}&host={host}&port={port}"
               f"&protocol={protocol}&tries=1")
        answer = json.loads(self.http_get(pod, url))
        assert answer.get("responses"), f"{pod} -> {host}:{port}/{protocol}: {answer}"
        return answer["responses"][0]

    def ping(self, pod: str, ip: str, count: int = 3,
             interval: str = "0.2") -> Tuple[int, int, List[int]]:
        """(sent, received, ttls) of a busybox ping from a Pod."""
        out = self.run(pod, "ping", "-c", str(count), "-i", interval, "-W", "2", ip,
                       timeout=int(count * float(interval)) + 20)
        ttls = [int(t) for t in re.findall(r"ttl=(\d+)", out.stdout)]
        m = re.search(r"(\d+) packets transmitted, (\d+) packets received", out.stdout)
        assert m, f"ping output: {out.stdout}{out.stderr}"
        return int(m.group(1)), int(m.group(2)), ttls
