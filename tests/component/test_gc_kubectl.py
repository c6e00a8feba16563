"""Cascading deletion and namespace lifecycle with the real kubectl against
`k8snet control-plane --simulated-nodes 2` (SQLite, and etcd when installed): the
apiserver only marks, the controller-manager's garbage collector and namespace
controller do the rest, in upstream's order and words."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from k8snet.machinery.client import ApiClient
from tests.component.apiserver_proc import EtcdForTest

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed"),
              pytest.mark.timeout(600)]


class ControlPlane:
    """`k8snet control-plane` in a subprocess; kubectl with its own HOME and cache."""

    def __init__(self, tmp: str, store: str = "") -> None:
        self.tmp = tmp
        self.data = os.path.join(tmp, "cp")
        self.out_path = os.path.join(tmp, "control-plane.out")
        argv = [sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir", self.data,
                "--port", "0", "--simulated-nodes", "2"]
        if store:
            argv += ["--store", store]
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        end = time.monotonic() + 90
        while "simulated nodes" not in self.output():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < end, f"control plane not up in 90s:\n{self.output()}"
            time.sleep(0.2)
        self.kubeconfig = os.path.join(self.data, "kubeconfig")
        self.client = ApiClient.from_kubeconfig(self.kubeconfig)
        home = os.path.join(tmp, "home")
        os.makedirs(home, exist_ok=True)
        self.env = dict(os.environ, HOME=home, KUBECONFIG=self.kubeconfig)

    def output(self) -> str:
        with open(self.out_path, errors="replace") as fh:
            return fh.read()

    def logs(self) -> str:
        out = []
        for name in ("controller-manager", "apiserver"):
            path = os.path.join(self.data, "logs", f"{name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as fh:
                    out.append(f"--- {name}\n{fh.read()[-3000:]}")
        return "\n".join(out)

    def kubectl_argv(self, *args: str) -> list[str]:
        return [KUBECTL, "--cache-dir", os.path.join(self.tmp, "cache"), *args]

    def kubectl(self, *args: str, ok: bool = True, timeout: float = 90):
        p = subprocess.run(self.kubectl_argv(*args), env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if ok:
            assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}\n{self.logs()}"
        return p

    def json(self, *args: str):
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def wait(self, check, what: str, deadline: float = 60.0):
        end = time.monotonic() + deadline
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > end:
                pytest.fail(f"waited {deadline:.0f}s for {what}\n{self.logs()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@pytest.fixture(scope="module", params=["sqlite", "etcd"])
def cp(request, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp(f"gc-{request.param}"))
    etcd = None
    store = ""
    if request.param == "etcd":
        from k8snet.store.etcd_process import ETCD_BIN
        if not os.access(ETCD_BIN, os.X_OK):
            pytest.skip(f"{ETCD_BIN} missing")
        etcd = EtcdForTest(tmp)
        store = etcd.start()
    plane = None
    try:
        plane = ControlPlane(tmp, store)
        yield plane
    finally:
        if plane is not None:
            plane.stop()
        if etcd is not None:
            etcd.stop()


def ready_deployment(cp: ControlPlane, name: str, ns: str = "default", replicas: int = 2):
    cp.kubectl("create", "deployment", name, "-n", ns, "--image=busybox",
               f"--replicas={replicas}", "--", "sleep", "3600")
    cp.wait(lambda: (cp.json("get", "deployment", name, "-n", ns).get("status") or {}).get(
        "availableReplicas") == replicas, f"deployment {name} available")
    rs = cp.json("get", "replicasets", "-n", ns, "-l", f"app={name}")["items"]
    pods = cp.json("get", "pods", "-n", ns, "-l", f"app={name}")["items"]
    assert len(rs) == 1 and len(pods) == replicas
    return rs[0], pods


def test_cascade_orphan_keeps_dependents_and_drops_their_references(cp):
    rs, pods = ready_deployment(cp, "orph")
    assert rs["metadata"]["ownerReferences"][0]["name"] == "orph"
    out = cp.kubectl("delete", "deployment", "orph", "--cascade=orphan").stdout
    assert out.strip() == 'deployment.apps "orph" deleted'
    p = cp.kubectl("get", "deployment", "orph", ok=False)
    assert p.returncode == 1 and \
        'Error from server (NotFound): deployments.apps "orph" not found' in p.stderr
    time.sleep(3)  # the collector had time to do harm: it must not have
    left = cp.json("get", "replicaset", rs["metadata"]["name"])
    assert left["metadata"]["uid"] == rs["metadata"]["uid"]
    assert not left["metadata"].get("ownerReferences")
    assert not left["metadata"].get("deletionTimestamp")
    now = cp.json("get", "pods", "-l", "app=orph")["items"]
    assert sorted(p["metadata"]["uid"] for p in now) == sorted(
        p["metadata"]["uid"] for p in pods)
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
               for p in now)
    cp.kubectl("delete", "replicaset", rs["metadata"]["name"])  # tidy up (background)
    cp.wait(lambda: not cp.json("get", "pods", "-l", "app=orph")["items"],
            "the orphaned Pods to go with their ReplicaSet")


def history(cp: ControlPlane, resource: str, since: str) -> list[tuple[str, dict]]:
    """Every watch event of `resource` in default since `since` (the store's history)."""
    return list(cp.client.watch(resource, "default", resource_version=since,
                                timeout_seconds=2))


def deleted_at(events: list[tuple[str, dict]]) -> dict[str, int]:
    """name -> resourceVersion of its DELETED event."""
    return {obj["metadata"]["name"]: int(obj["metadata"]["resourceVersion"])
            for kind, obj in events if kind == "DELETED"}


def test_cascade_foreground_deletes_pods_then_replicaset_then_deployment(cp):
    rs, pods = ready_deployment(cp, "fg")
    since = cp.client.list("deployments", "default")["metadata"]["resourceVersion"]
    out = cp.kubectl("delete", "deployment", "fg", "--cascade=foreground",
                     timeout=120).stdout    # kubectl waits until the Deployment is gone
    assert out.strip() == 'deployment.apps "fg" deleted'
    deps = [(k, o) for k, o in history(cp, "deployments", since)
            if o["metadata"]["name"] == "fg"]
    assert deps[-1][0] == "DELETED"
    marked = [o for k, o in deps if k == "MODIFIED" and o["metadata"].get("deletionTimestamp")]
    assert marked, "the Deployment was never seen waiting for its dependents"
    assert marked[0]["metadata"]["finalizers"] == ["foregroundDeletion"]
    pod_rvs = deleted_at(history(cp, "pods", since))
    rs_rvs = deleted_at(history(cp, "replicasets", since))
    dep_rvs = deleted_at(deps)
    assert set(pod_rvs) >= {p["metadata"]["name"] for p in pods}
    first_pod = min(pod_rvs[p["metadata"]["name"]] for p in pods)
    last_pod = max(pod_rvs[p["metadata"]["name"]] for p in pods)
    assert int(marked[0]["metadata"]["resourceVersion"]) < first_pod
    assert last_pod < rs_rvs[rs["metadata"]["name"]] < dep_rvs["fg"]


def test_cascade_background(cp):
    rs, pods = ready_deployment(cp, "bg")
    out = cp.kubectl("delete", "deployment", "bg").stdout   # kubectl sends Background
    assert out.strip() == 'deployment.apps "bg" deleted'
    cp.wait(lambda: cp.kubectl("get", "replicaset", rs["metadata"]["name"],
                               ok=False).returncode == 1, "the ReplicaSet collected")
    cp.wait(lambda: not cp.json("get", "pods", "-l", "app=bg")["items"],
            "the Pods collected")


def test_delete_namespace_empties_it_then_removes_it(cp):
    cp.kubectl("create", "namespace", "demo")
    ready_deployment(cp, "web", "demo")
    cp.kubectl("create", "service", "clusterip", "web", "-n", "demo", "--tcp=80:80")
    cp.kubectl("create", "service", "clusterip", "held", "-n", "demo", "--tcp=80:80")
    cp.kubectl("patch", "service", "held", "-n", "demo", "--type=merge",
               "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    proc = subprocess.Popen(cp.kubectl_argv("delete", "namespace", "demo"), env=cp.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        cp.wait(lambda: cp.json("get", "namespace", "demo")["status"]["phase"] ==
                "Terminating", "namespace demo Terminating")
        # creating into it is refused with upstream's message
        p = cp.kubectl("create", "configmap", "late", "-n", "demo", "--from-literal=a=b",
                       ok=False)
        what = 'configmaps "late"'
        assert p.returncode == 1
        assert (f"{what} is forbidden: unable to create new content in namespace demo "
                "because it is being terminated") in p.stderr
        # everything else goes; the held Service stays, and the conditions say why

        def conditions():
            ns = cp.json("get", "namespace", "demo")
            conds = {c["type"]: c for c in ns["status"].get("conditions") or []}
            remaining = conds.get("NamespaceContentRemaining") or {}
            return conds if remaining.get("message") == (
                "Some resources are remaining: services. has 1 resource instances") else None
        conds = cp.wait(conditions, "NamespaceContentRemaining for the held Service")
        assert conds["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
        assert conds["NamespaceFinalizersRemaining"]["status"] == "True"
        assert conds["NamespaceFinalizersRemaining"]["reason"] == "SomeFinalizerRemain"
        assert conds["NamespaceFinalizersRemaining"]["message"] == (
            "Some finalizers are remaining: example.com/hold in 1 resource instances")
        assert conds["NamespaceDeletionContentFailure"]["status"] == "False"
        assert not cp.json("get", "pods", "-n", "demo")["items"]
        assert not cp.json("get", "deployments", "-n", "demo")["items"]
        assert [s["metadata"]["name"] for s in
                cp.json("get", "services", "-n", "demo")["items"]] == ["held"]
        assert proc.poll() is None, "kubectl delete namespace returned too early"
        cp.kubectl("patch", "service", "held", "-n", "demo", "--type=merge",
                   "-p", '{"metadata":{"finalizers":null}}')
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err + cp.logs()
    assert out.strip() == 'namespace "demo" deleted'
    p = cp.kubectl("get", "namespace", "demo", ok=False)
    assert 'namespaces "demo" not found' in p.stderr
    assert cp.kubectl("get", "all", "-n", "demo").stderr.strip() == \
        "No resources found in demo namespace."


def test_custom_resources_as_owners_and_dependents(cp):
    """Discovery gives the collector the CRDs' kinds: built-ins owned by a CronTab go
    with it (background and foreground), a CronTab owned by a ConfigMap goes with that."""
    crd = os.path.join(REPO, "tests", "data", "crds", "crontab.yaml")
    cp.kubectl("apply", "-f", crd)
    cp.kubectl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com",
               "--timeout=60s")
    tabs = "/apis/stable.example.com/v1/namespaces/default/crontabs"

    def crontab(name: str, owners=()) -> dict:
        body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                "metadata": {"name": name, "ownerReferences": list(owners)},
                "spec": {"cronSpec": "* * * * */5", "image": "my-awesome-cron-image"}}
        return cp.client.raw("POST", tabs, body)

    def ref(obj: dict) -> dict:
        return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "blockOwnerDeletion":
                True, "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}

    def configmap(name: str, owner: dict) -> dict:
        return cp.client.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": name,
                                                            "ownerReferences": [ref(owner)]}},
                                "default")

    def gone(resource: str, name: str) -> bool:
        return cp.kubectl("get", resource, name, ok=False).returncode == 1

    owner = crontab("owner-bg")
    configmap("dep-bg", owner)
    cp.kubectl("delete", "crontab", "owner-bg")
    cp.wait(lambda: gone("configmap", "dep-bg"), "the CronTab's ConfigMap collected", 90)

    owner = crontab("owner-fg")
    configmap("dep-fg", owner)
    time.sleep(1)  # let the collector's informers see both
    out = cp.kubectl("delete", "crontab", "owner-fg", "--cascade=foreground", timeout=120)
    assert out.stdout.strip() == 'crontab.stable.example.com "owner-fg" deleted'
    assert gone("configmap", "dep-fg")

    parent = cp.client.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "parent"}}, "default")
    crontab("child", [ref(parent)])
    cp.kubectl("delete", "configmap", "parent")
    cp.wait(lambda: gone("crontab", "child"), "the ConfigMap's CronTab collected", 90)


def test_delete_namespace_removes_custom_resources_too(cp):
    """The namespace controller empties what discovery lists: CRDs' resources as well."""
    crd = os.path.join(REPO, "tests", "data", "crds", "crontab.yaml")
    cp.kubectl("apply", "-f", crd)
    cp.kubectl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com",
               "--timeout=60s")
    cp.kubectl("create", "namespace", "crs")
    tab = ("apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nightly}\n"
           "spec: {cronSpec: '* * * * */5', image: my-awesome-cron-image}\n")
    p = subprocess.run(cp.kubectl_argv("apply", "-n", "crs", "-f", "-"), input=tab,
                       env=cp.env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert [t["metadata"]["name"] for t in cp.json("get", "crontabs", "-n", "crs")[
        "items"]] == ["nightly"]
    out = cp.kubectl("delete", "namespace", "crs", timeout=120).stdout
    assert out.strip() == 'namespace "crs" deleted'
    status = cp.client.raw("GET", "/apis/stable.example.com/v1/namespaces/crs/crontabs")
    assert status["items"] == []
    cp.kubectl("delete", "-f", crd, timeout=120)
