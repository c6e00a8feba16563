"""The workload controllers end to end: `k8snet control-plane --simulated-nodes 3` and the
real kubectl (Jobs, DaemonSets, EndpointSlices, StatefulSets, CronJobs, PDBs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


class ControlPlane:
    """`k8snet control-plane` with simulated nodes, and kubectl pointed at it."""

    def __init__(self, tmp, nodes: int = 3):
        self.tmp = tmp
        self.data = tmp / "cp"
        self.log_path = tmp / "out.log"
        self.out = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir", str(self.data),
             "--port", "0", "--simulated-nodes", str(nodes)],
            stdout=self.out, stderr=subprocess.STDOUT, cwd=REPO)
        end = time.monotonic() + 90
        while "simulated nodes" not in self.log_path.read_text():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < end, "control-plane did not come up:\n" + \
                self.log_path.read_text()
            time.sleep(0.2)
        self.env = dict(os.environ, HOME=str(tmp), KUBECONFIG=str(self.data / "kubeconfig"))

    def kubectl(self, *args: str, stdin: str = "", timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess:
        try:
            got = subprocess.run([KUBECTL, "--cache-dir", str(self.tmp / "cache"), *args],
                                 input=stdin, env=self.env, capture_output=True, text=True,
                                 timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            pods = subprocess.run([KUBECTL, "get", "pods", "-o", "json"], env=self.env,
                                  capture_output=True, text=True, timeout=30).stdout
            raise AssertionError(
                f"kubectl {' '.join(args)} did not return within {timeout:g}s; it said "
                f"{exc.stdout!r} {exc.stderr!r}\npods now: {pods[-6000:]}\n"
                f"{self.log_path.read_text()[-4000:]}\n{self.logs()}") from None
        if check:
            assert got.returncode == 0, f"kubectl {' '.join(args)}: {got.stderr}\n" \
                f"{self.log_path.read_text()[-4000:]}"
        return got

    def get(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def logs(self) -> str:
        """The tails of the components' logs (for failure messages)."""
        out = []
        for path in sorted((self.data / "logs").glob("*.log")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.out.close()


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    plane = ControlPlane(tmp_path_factory.mktemp("controllers"))
    yield plane
    plane.stop()


JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
"""


def test_job_runs_to_completion_and_kubectl_wait_returns(cp):
    cp.kubectl("apply", "-f", "-", stdin=JOB)
    cp.kubectl("wait", "--for=condition=complete", "job/pi", "--timeout=60s", timeout=90)
    job = cp.get("job", "pi")
    status = job["status"]
    assert status["succeeded"] == 3 and status.get("failed", 0) == 0
    assert status["completionTime"] and status["startTime"]
    types = {c["type"]: c["status"] for c in status["conditions"]}
    assert types == {"SuccessCriteriaMet": "True", "Complete": "True"}
    pods = cp.get("pods", "-l", "batch.kubernetes.io/job-name=pi")["items"]
    assert len(pods) == 3 and {p["status"]["phase"] for p in pods} == {"Succeeded"}
    assert all("batch.kubernetes.io/job-tracking" not in (p["metadata"].get("finalizers") or [])
               for p in pods)
    table = cp.kubectl("get", "job", "pi").stdout
    assert "Complete" in table and "3/3" in table
    time.sleep(2)  # a finished Job is left alone (no status written again and again)
    assert cp.get("job", "pi")["metadata"]["resourceVersion"] == \
        job["metadata"]["resourceVersion"]


def test_finished_job_is_deleted_after_its_ttl(cp):
    cp.kubectl("apply", "-f", "-", stdin=JOB.replace("name: pi", "name: short").replace(
        "completions: 3", "completions: 1\n  ttlSecondsAfterFinished: 2"))
    cp.kubectl("wait", "--for=delete", "job/short", "--timeout=60s", timeout=90)


FAILING_INDEXED = """
apiVersion: batch/v1
kind: Job
metadata: {name: flaky}
spec:
  completions: 2
  parallelism: 2
  completionMode: Indexed
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        command: ["sh", "-c", "exit 3"]
"""


def test_indexed_job_failing_past_its_backoff_limit_fails(cp):
    cp.kubectl("apply", "-f", "-", stdin=FAILING_INDEXED)
    cp.kubectl("wait", "--for=condition=failed", "job/flaky", "--timeout=60s", timeout=90)
    status = cp.get("job", "flaky")["status"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert failed["message"] == "Job has reached the specified backoff limit"
    assert status["failed"] == 2  # two Pods failed at once: no replacement after that
    pods = cp.get("pods", "-l", "batch.kubernetes.io/job-name=flaky")["items"]
    assert sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                  for p in pods) == ["0", "1"]
    env = pods[0]["spec"]["containers"][0]["env"]
    assert env[0]["name"] == "JOB_COMPLETION_INDEX"
    described = cp.kubectl("describe", "job", "flaky").stdout
    assert "BackoffLimitExceeded" in described


DAEMONSET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers:
      - name: agent
        image: fluentd:v1
"""


def _agent_pods(cp) -> list[dict]:
    return [p for p in cp.get("pods", "-l", "app=agent")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def test_daemonset_runs_a_pod_per_node_and_rolls_out(cp):
    cp.kubectl("apply", "-f", "-", stdin=DAEMONSET)
    cp.kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=90)
    pods = _agent_pods(cp)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["sim-1", "sim-2", "sim-3"]
    first_hash = {p["metadata"]["labels"]["controller-revision-hash"] for p in pods}
    assert len(first_hash) == 1
    status = cp.get("ds", "agent")["status"]
    assert status["desiredNumberScheduled"] == 3 and status["numberReady"] == 3
    table = cp.kubectl("get", "ds", "agent").stdout.split("\n")[1].split()
    assert table[1:6] == ["3", "3", "3", "3", "3"], table  # DESIRED..AVAILABLE

    cp.kubectl("set", "image", "ds/agent", "agent=fluentd:v2")
    cp.kubectl("rollout", "status", "ds/agent", "--timeout=60s", timeout=90)
    pods = _agent_pods(cp)
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"fluentd:v2"}
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} != first_hash
    history = cp.kubectl("rollout", "history", "ds/agent").stdout
    assert "1 " in history and "2 " in history, history
    revisions = cp.get("controllerrevisions", "-l", "app=agent")["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]


WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{name: http, containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080, targetPort: http}]
"""


def _web_slices(cp) -> list[dict]:
    return cp.get("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]


def test_endpointslices_for_a_service(cp):
    cp.kubectl("apply", "-f", "-", stdin=WEB)
    cp.kubectl("rollout", "status", "deploy/web", "--timeout=60s", timeout=90)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        slices = _web_slices(cp)
        if len(slices) == 1 and len(slices[0].get("endpoints") or []) == 3:
            break
        time.sleep(0.3)
    [s] = slices
    assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslice-controller.k8s.io"
    assert s["addressType"] == "IPv4"
    assert s["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    pods = {p["metadata"]["name"]: p for p in cp.get("pods", "-l", "app=web")["items"]}
    for e in s["endpoints"]:
        pod = pods[e["targetRef"]["name"]]
        assert e["addresses"] == [pod["status"]["podIP"]]
        assert e["nodeName"] == pod["spec"]["nodeName"]
        assert e["conditions"] == {"ready": True, "serving": True, "terminating": False}
    table = cp.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web").stdout
    assert "IPv4" in table and "80" in table
    described = cp.kubectl("describe", "service", "web").stdout
    ips = sorted(p["status"]["podIP"] for p in pods.values())
    assert all(ip in described for ip in ips), described
    version = s["metadata"]["resourceVersion"]
    time.sleep(2)  # nothing changes: the slice is not rewritten
    assert _web_slices(cp)[0]["metadata"]["resourceVersion"] == version

    cp.kubectl("scale", "deploy/web", "--replicas=1")
    end = time.monotonic() + 30
    while time.monotonic() < end and len(_web_slices(cp)[0].get("endpoints") or []) != 1:
        time.sleep(0.3)
    assert len(_web_slices(cp)[0]["endpoints"]) == 1
    cp.kubectl("delete", "service", "web")
    end = time.monotonic() + 30
    while time.monotonic() < end and _web_slices(cp):
        time.sleep(0.3)
    assert _web_slices(cp) == []


def test_the_kubernetes_service_endpoints_are_mirrored(cp):
    end = time.monotonic() + 30
    slices: list = []
    while time.monotonic() < end and not slices:
        slices = cp.get("endpointslices", "-l",
                        "kubernetes.io/service-name=kubernetes")["items"]
        time.sleep(0.3)
    [s] = slices
    assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
        "endpointslicemirroring-controller.k8s.io"
    assert s["endpoints"][0]["conditions"]["ready"] is True
    assert s["ports"][0]["name"] == "https"


STATEFULSET = """
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: web, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 3
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.8
        ports: [{name: web, containerPort: 80}]
        volumeMounts: [{name: www, mountPath: /usr/share/nginx/html}]
  volumeClaimTemplates:
  - metadata: {name: www}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
"""


def _sts_pods(cp) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in cp.get("pods", "-l", "app=nginx")["items"]
            if not p["metadata"].get("deletionTimestamp")}


def test_statefulset_ordered_names_claims_and_rolling_update(cp):
    cp.kubectl("apply", "-f", "-", stdin=STATEFULSET)
    cp.kubectl("rollout", "status", "sts/web", "--timeout=90s", timeout=120)
    pods = _sts_pods(cp)
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    created = sorted(pods, key=lambda n: pods[n]["metadata"]["creationTimestamp"])
    assert created == ["web-0", "web-1", "web-2"]
    assert pods["web-1"]["spec"]["hostname"] == "web-1"
    assert pods["web-1"]["spec"]["subdomain"] == "nginx"
    claims = cp.get("pvc")["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["www-web-0", "www-web-1",
                                                             "www-web-2"]
    uid = pods["web-1"]["metadata"]["uid"]
    # Not kubectl's own wait: kubectl 1.32 waits for a DELETED event after listing the
    # name, and a Pod deleted and made again (new UID) between its get and its list is
    # never seen to go: it waits until its timeout (newer kubectl compares UIDs there).
    # A simulated node confirms a deletion at once, so that window is real here; the
    # loop below waits for the new Pod instead.
    cp.kubectl("delete", "pod", "web-1", "--wait=false")
    end = time.monotonic() + 60
    while time.monotonic() < end:
        again = _sts_pods(cp).get("web-1")
        if again and again["metadata"]["uid"] != uid and again["status"].get("phase") == \
                "Running":
            break
        time.sleep(0.3)
    assert again and again["metadata"]["uid"] != uid and \
        again["status"].get("phase") == "Running", \
        f"web-1 was not recreated and Running: {json.dumps(again)}\n" \
        f"{json.dumps(cp.get('pods', '-l', 'app=nginx'))[:4000]}\n{cp.logs()}"
    assert [v["persistentVolumeClaim"]["claimName"] for v in again["spec"]["volumes"]
            if "persistentVolumeClaim" in v] == ["www-web-1"]
    assert len(cp.get("pvc")["items"]) == 3  # the claim survived its Pod

    cp.kubectl("set", "image", "sts/web", "nginx=registry.k8s.io/nginx-slim:0.9")
    cp.kubectl("rollout", "status", "sts/web", "--timeout=90s", timeout=120)
    pods = _sts_pods(cp)
    assert {p["spec"]["containers"][0]["image"] for p in pods.values()} == \
        {"registry.k8s.io/nginx-slim:0.9"}
    status = cp.get("sts", "web")["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status["readyReplicas"] == 3 and status["updatedReplicas"] == 3
    cp.kubectl("scale", "sts/web", "--replicas=1")
    end = time.monotonic() + 60
    while time.monotonic() < end and sorted(_sts_pods(cp)) != ["web-0"]:
        time.sleep(0.3)
    assert sorted(_sts_pods(cp)) == ["web-0"]
    assert len(cp.get("pvc")["items"]) == 3  # whenScaled Retain


CRONJOB = """
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "@every 5s"
  successfulJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: hello
            image: busybox:1.28
            command: [/bin/sh, -c, date; echo Hello from the Kubernetes cluster]
"""


def test_cronjob_fires_and_its_job_completes(cp):
    cp.kubectl("apply", "-f", "-", stdin=CRONJOB)
    end = time.monotonic() + 60
    status: dict = {}
    while time.monotonic() < end and not status.get("lastSuccessfulTime"):
        time.sleep(0.5)
        status = cp.get("cronjob", "hello").get("status") or {}
    assert status.get("lastScheduleTime") and status.get("lastSuccessfulTime"), status
    jobs = [j for j in cp.get("jobs")["items"]
            if j["metadata"]["name"].startswith("hello-")]
    assert jobs, "no Job of the CronJob"
    for j in jobs:
        minutes = j["metadata"]["name"].rsplit("-", 1)[1]
        assert minutes.isdigit() and abs(int(minutes) - time.time() / 60) < 5
        assert j["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    table = cp.kubectl("get", "cronjob", "hello").stdout
    assert "@every 5s" in table
    cp.kubectl("patch", "cronjob", "hello", "-p", '{"spec": {"suspend": true}}')


PDB_APP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: guarded}
spec:
  replicas: 3
  selector: {matchLabels: {app: guarded}}
  template:
    metadata: {labels: {app: guarded}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule,
         labelSelector: {matchLabels: {app: guarded}}}
      containers: [{name: c, image: nginx}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: guarded}
spec:
  minAvailable: 3
  selector: {matchLabels: {app: guarded}}
"""


def test_drain_respects_a_pod_disruption_budget(cp):
    cp.kubectl("apply", "-f", "-", stdin=PDB_APP)
    cp.kubectl("rollout", "status", "deploy/guarded", "--timeout=60s", timeout=90)
    end = time.monotonic() + 30
    status: dict = {}
    while time.monotonic() < end and status.get("currentHealthy") != 3:
        time.sleep(0.3)
        status = cp.get("pdb", "guarded").get("status") or {}
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"],
            status["disruptionsAllowed"]) == (3, 3, 3, 0)
    table = cp.kubectl("get", "pdb", "guarded").stdout.split("\n")[1].split()
    assert table[1:4] == ["3", "N/A", "0"], table  # MIN AVAILABLE, MAX UNAVAILABLE, ALLOWED

    node = cp.get("pods", "-l", "app=guarded")["items"][0]["spec"]["nodeName"]
    refused = cp.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                         "--pod-selector=app=guarded", "--timeout=4s", check=False,
                         timeout=60)
    assert refused.returncode != 0
    assert "Cannot evict pod as it would violate the pod's disruption budget." in \
        refused.stderr + refused.stdout

    cp.kubectl("patch", "pdb", "guarded", "--type=merge", "-p",
               '{"spec": {"minAvailable": 2}}')
    try:
        cp.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                   "--pod-selector=app=guarded", "--timeout=60s", timeout=90)
        left = [p for p in cp.get("pods", "-l", "app=guarded")["items"]
                if p["spec"].get("nodeName") == node and
                not p["metadata"].get("deletionTimestamp")]
        assert left == []
    finally:
        cp.kubectl("uncordon", node)


TAINT_PODS = """
apiVersion: v1
kind: Pod
metadata: {name: victim}
spec:
  nodeName: sim-2
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: brief}
spec:
  nodeName: sim-2
  tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoExecute,
                 tolerationSeconds: 3}]
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: Pod
metadata: {name: stays}
spec:
  nodeName: sim-2
  tolerations: [{key: dedicated, operator: Exists, effect: NoExecute}]
  containers: [{name: c, image: nginx}]
"""


def test_no_execute_taint_evicts_pods_that_do_not_tolerate_it(cp):
    cp.kubectl("apply", "-f", "-", stdin=TAINT_PODS)
    cp.kubectl("wait", "--for=condition=Ready", "pod/victim", "pod/brief", "pod/stays",
               "--timeout=60s", timeout=90)
    cp.kubectl("taint", "node", "sim-2", "dedicated=db:NoExecute")
    try:
        started = time.monotonic()
        cp.kubectl("wait", "--for=delete", "pod/victim", "--timeout=30s", timeout=60)
        # the untolerating Pod goes at once: within 3 s, or (a slow kubectl on a busy
        # machine) at least while the Pod tolerating the taint for 3 s is still there
        gone_after = time.monotonic() - started
        brief_left = cp.kubectl("get", "pod", "brief", "-o", "name", check=False
                                ).stdout.strip() == "pod/brief"
        assert gone_after < 3 or brief_left, \
            f"the untolerating Pod went only after {gone_after:.1f}s, with the tolerating one"
        cp.kubectl("wait", "--for=delete", "pod/brief", "--timeout=30s", timeout=60)
        assert time.monotonic() - started >= 2.5, "tolerationSeconds 3 was not honoured"
        time.sleep(1)
        assert cp.get("pod", "stays")["status"]["phase"] == "Running"
        events = cp.kubectl("get", "events", "--field-selector",
                            "reason=TaintManagerEviction").stdout
        assert "victim" in events or "brief" in events
    finally:
        cp.kubectl("taint", "node", "sim-2", "dedicated=db:NoExecute-")


LONG_JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: long}
spec:
  activeDeadlineSeconds: 3
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: [sh, -c, "sleep 100"]}]
"""


def test_job_past_its_deadline_fails_and_its_pods_go(cp):
    cp.kubectl("apply", "-f", "-", stdin=LONG_JOB)
    cp.kubectl("wait", "--for=condition=failed", "job/long", "--timeout=60s", timeout=90)
    failed = next(c for c in cp.get("job", "long")["status"]["conditions"]
                  if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    end = time.monotonic() + 30
    while time.monotonic() < end and cp.get("pods", "-l", "job-name=long")["items"]:
        time.sleep(0.3)
    assert cp.get("pods", "-l", "job-name=long")["items"] == []  # deleted, finalizer freed
    cp.kubectl("delete", "job", "long")
