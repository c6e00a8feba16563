"""`k8snet runtime` end to end, as root: a runtime in a scratch node namespace,
driven through RuntimeClient, with the real CNI plugins (routed mode)."""

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from k8snet import cni
from k8snet.cri.logs import parse_record, read_log_text
from k8snet.machinery.cri import CriError, RuntimeClient, container_config, sandbox_config

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(not os.access("/usr/lib/cni/ptp", os.X_OK),
                       reason="containernetworking-plugins not installed (/usr/lib/cni)"),
]
AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def netns_list():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def wait_for(what, check, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"gave up after {seconds}s waiting for {what}")


class Node:
    def __init__(self, tmp_path):
        self.name = f"k8snet-test-r{secrets.token_hex(3)}"
        self.dir = tmp_path
        self.sock = str(tmp_path / "cri.sock")
        self.proc = None

    def start_runtime(self):
        log = open(self.dir / "runtime.log", "ab")
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.name}", sys.executable, "-m", "k8snet.cli",
             "runtime", "--socket", self.sock, "--root-dir", str(self.dir / "root"),
             "--netns-prefix", self.name, "--cni-conf-dir", str(self.dir / "cni"),
             "--cgroup-parent", f"k8snet/test/{self.name}"],
            stdout=log, stderr=log, env=dict(os.environ, PYTHONPATH=REPO))
        log.close()
        wait_for("the runtime socket", lambda: os.path.exists(self.sock))

    def stop_runtime(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


@pytest.fixture()
def node(tmp_path):
    n = Node(tmp_path)
    subprocess.run(["ip", "netns", "add", n.name], check=True)
    subprocess.run(["ip", "-n", n.name, "link", "set", "lo", "up"], check=True)
    (tmp_path / "cni").mkdir()
    conf = cni.render_conflist("routed", "10.250.20.0/24", 1500, "w1", str(tmp_path / "ipam"))
    (tmp_path / "cni" / "10-k8snet.conflist").write_text(json.dumps(conf))
    client = None
    try:
        n.start_runtime()
        client = RuntimeClient(n.sock)
        yield n, client
    finally:
        if client is not None:
            try:
                for sb in client.list_pod_sandboxes():
                    client.stop_pod_sandbox(sb["id"])
                    client.remove_pod_sandbox(sb["id"])
            except CriError:
                pass
            client.close()
        n.stop_runtime()
        for ns in netns_list():
            if ns.startswith(n.name):
                subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def pids_of(node_dir):
    """PIDs recorded by this test's containers' shims that are still alive."""
    alive = []
    root = node_dir / "root" / "containers"
    for cdir in root.iterdir() if root.exists() else []:
        started = cdir / "started.json"
        if started.exists():
            data = json.loads(started.read_text())
            for key in ("pid", "shim_pid"):
                if key in data and os.path.exists(f"/proc/{data[key]}"):
                    alive.append(data[key])
    return alive


def test_two_containers_of_a_pod_talk_on_localhost_and_everything_goes_away(node):
    n, client = node
    logs = n.dir / "logs"
    started = time.monotonic()
    sid = client.run_pod_sandbox(sandbox_config("default", "web", "uid-1",
                                                log_directory=str(logs)))
    sandbox_seconds = time.monotonic() - started
    status = client.pod_sandbox_status(sid)
    assert status["state"] == "SANDBOX_READY"
    assert status["ip"].startswith("10.250.20.")
    assert status["netns"] in netns_list() and status["netns"].startswith(n.name)

    client.pull_image(AGNHOST)
    srv = client.create_container(sid, container_config(
        "server", AGNHOST, args=["netexec", "--http-port=8080"], log_path="server/0.log",
        resources={"limits": {"cpu": "500m", "memory": "128Mi"}}))
    client.start_container(srv)
    cli = client.create_container(sid, container_config(
        "client", "busybox", log_path="client/0.log",
        command=["sh", "-c", "until wget -qO- http://127.0.0.1:8080/hostname 2>/dev/null; "
                 "do sleep 0.2; "
                 "done; echo; wget -qO- http://127.0.0.1:8080/clientip; echo; sleep 3600"]))
    client.start_container(cli)
    wait_for("the busybox container to print the server's answers",
             lambda: os.path.exists(logs / "client/0.log") and
             len(read_log_text(str(logs / "client/0.log")).splitlines()) >= 2)
    lines = read_log_text(str(logs / "client/0.log")).splitlines()
    assert lines[0] == "web"                       # the Pod's hostname (UTS namespace)
    assert lines[1].startswith("127.0.0.1:")       # the source address the server saw
    raw = (logs / "client/0.log").read_text().splitlines()[0]
    assert parse_record(raw).stream == "stdout"

    # the Pod is reachable on its IP from the node
    body = subprocess.run(["nsenter", f"--net=/run/netns/{n.name}", "wget", "-qO-",
                           f"http://{status['ip']}:8080/clientip"], capture_output=True,
                          text=True, timeout=20)
    if body.returncode == 0:
        assert body.stdout.startswith("10.250.20.1:")

    # exec: in the container's namespaces (own PID namespace: the command is PID 1)
    res = client.exec_sync(cli, ["ps"], timeout=10)
    assert res.exit_code == 0 and b"sleep 3600" in res.stdout
    assert client.exec_sync(cli, ["sh", "-c", "exit 3"], timeout=10).exit_code == 3
    with pytest.raises(CriError) as info:
        client.exec_sync(cli, ["sleep", "30"], timeout=1)
    assert info.value.code == "DEADLINE_EXCEEDED"

    # agnhost exits on SIGTERM; busybox sleep as PID 1 ignores it and is killed after the grace
    client.stop_container(srv, 10)
    st = client.container_status(srv)
    assert st["state"] == "CONTAINER_EXITED" and st["exit_code"] == 0
    client.stop_container(cli, 1)
    assert client.container_status(cli)["exit_code"] == 137
    veths = subprocess.run(["ip", "-n", n.name, "-o", "link"], capture_output=True,
                           text=True).stdout
    assert "veth" in veths

    client.stop_pod_sandbox(sid)
    client.stop_pod_sandbox(sid)  # idempotent
    client.remove_pod_sandbox(sid)
    assert client.list_pod_sandboxes() == [] and client.list_containers() == []
    assert not [ns for ns in netns_list() if ns.startswith(n.name + "-")]
    assert "veth" not in subprocess.run(["ip", "-n", n.name, "-o", "link"],
                                        capture_output=True, text=True).stdout
    assert not [f for f in os.listdir(n.dir / "ipam" / "k8snet") if f[0].isdigit()]
    assert pids_of(n.dir) == []
    print(f"sandbox create: {sandbox_seconds * 1000:.0f} ms")


def test_unknown_image_and_bad_command_fail_clearly(node):
    _, client = node
    sid = client.run_pod_sandbox(sandbox_config("default", "bad", "uid-2"))
    with pytest.raises(CriError, match="failed to pull and unpack image"):
        client.pull_image("example.com/nope:1")
    with pytest.raises(CriError, match="not found in the k8snet catalogue"):
        client.create_container(sid, container_config("x", "example.com/nope:1"))
    with pytest.raises(CriError, match="executable file not found"):
        client.create_container(sid, container_config("x", "busybox",
                                                      command=["no-such-binary"]))


def test_a_restarted_runtime_keeps_its_sandboxes_and_containers(node):
    n, client = node
    sid = client.run_pod_sandbox(sandbox_config("default", "keep", "uid-3"))
    cid = client.create_container(sid, container_config("pause", "registry.k8s.io/pause:3.9"))
    client.start_container(cid)
    pid = client.container_status(cid)["pid"]
    n.stop_runtime()
    n.start_runtime()
    assert [s["id"] for s in client.list_pod_sandboxes()] == [sid]
    status = client.container_status(cid)
    assert status["state"] == "CONTAINER_RUNNING" and status["pid"] == pid
    os.kill(pid, signal.SIGKILL)   # the shim records the exit while the runtime runs on
    wait_for("the killed container to be reported exited",
             lambda: client.container_status(cid)["state"] == "CONTAINER_EXITED")
    assert client.container_status(cid)["exit_code"] == 137
