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
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)  # the runtime dumps its threads' stacks
                time.sleep(1)
                self.proc.kill()
                self.proc.wait()
                log = (self.dir / "runtime.log").read_text(errors="replace")
                raise AssertionError("the runtime did not stop within 20 s of SIGTERM; "
                                     f"its log ends:\n{log[-6000:]}") from None


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
    crun_copies = {f for f in os.listdir("/tmp") if f.startswith("crun.")}
    started = time.monotonic()
    sid = client.run_pod_sandbox(sandbox_config("default", "web", "uid-1",
                                                log_directory=str(logs)))
    sandbox_seconds = time.monotonic() - started
    status = client.pod_sandbox_status(sid)
    assert status["state"] == "SANDBOX_READY"
    assert status["ip"].startswith("10.250.20.")
    assert status["netns"] in netns_list() and status["netns"].startswith(n.name)
    # the checksum-offload trap: off on the Pod's end of its veth (and the node's)
    features = subprocess.run(["ip", "netns", "exec", status["netns"], "ethtool", "-k", "eth0"],
                              capture_output=True, text=True).stdout
    assert "tx-checksumming: off" in features

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
    # crun ran from a memfd copy of itself: no temporary file (nor mount) in /tmp
    assert {f for f in os.listdir("/tmp") if f.startswith("crun.")} <= crun_copies
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


def test_mounts_are_private_to_the_container_and_read_only_when_asked(node, tmp_path):
    n, client = node
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "game.properties").write_text("lives=3\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("10.250.20.9\tweb\n127.0.0.1\tfoo.local\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    target = f"/tmp/k8snet-mount-test-{secrets.token_hex(3)}"
    sid = client.run_pod_sandbox(sandbox_config("default", "vols", "uid-4"))
    cfg = container_config("app", "busybox", command=["sleep", "3600"])
    cfg["mounts"] = [{"container_path": f"{target}/config", "host_path": str(vol),
                      "readonly": True},
                     {"container_path": "/etc/hosts", "host_path": str(hosts)},
                     {"container_path": f"{target}/cache", "host_path": str(scratch)}]
    cid = client.create_container(sid, cfg)
    client.start_container(cid)
    try:
        out = client.exec_sync(cid, ["cat", f"{target}/config/game.properties", "/etc/hosts"])
        assert out.stdout.decode() == "lives=3\n10.250.20.9\tweb\n127.0.0.1\tfoo.local\n"
        denied = client.exec_sync(cid, ["touch", f"{target}/config/x"])
        assert denied.exit_code != 0 and b"Read-only file system" in denied.stderr
        assert client.exec_sync(cid, ["sh", "-c", f"echo hi > {target}/cache/f"]).exit_code == 0
        assert (scratch / "f").read_text() == "hi\n"
        with open("/etc/hosts") as fh:   # the node's own file is untouched
            assert "foo.local" not in fh.read()
        assert not os.path.exists(f"{target}/config/game.properties")
    finally:
        client.stop_container(cid, 0)
        subprocess.run(["rm", "-rf", target], check=False)


def test_run_as_user_group_and_supplemental_groups(node):
    _, client = node
    sid = client.run_pod_sandbox(sandbox_config("default", "ids", "uid-5"))
    cfg = container_config("app", "busybox", command=["sleep", "3600"])
    cfg["linux"]["security_context"] = {"run_as_user": {"value": 1000},
                                        "run_as_group": {"value": 3000},
                                        "supplemental_groups": [2000]}
    cid = client.create_container(sid, cfg)
    client.start_container(cid)
    try:
        pid = client.container_status(cid)["pid"]
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
        assert fields["Uid"].split()[0] == "1000" and fields["Gid"].split()[0] == "3000"
        assert fields["Groups"].split() == ["2000"]
    finally:
        client.stop_container(cid, 0)


def test_docs_images_nginx_http_echo_and_perl_run(node):
    _, client = node
    sid = client.run_pod_sandbox(sandbox_config("default", "docs", "uid-6"))
    ids = []
    for cfg in (container_config("web", "nginx:1.14.2"),
                container_config("echo", "hashicorp/http-echo:1.0",
                                 args=["-text=apple", "-listen=:5678"]),
                container_config("client", "curlimages/curl:8.5.0", command=["sleep", "3600"])):
        client.pull_image(cfg["image"]["image"])
        ids.append(client.create_container(sid, cfg))
        client.start_container(ids[-1])
    try:
        def get(url):
            r = client.exec_sync(ids[2], ["curl", "-s", url], timeout=5)
            return r.stdout.decode() if r.exit_code == 0 else None
        page = wait_for("nginx page", lambda: get("http://127.0.0.1/"))
        assert "<title>Welcome to nginx!</title>" in page
        assert wait_for("http-echo", lambda: get("http://127.0.0.1:5678/")) == "apple\n"
        perl = container_config("pi", "perl:5.34.0",
                                command=["perl", "-e", "print 6*7, qq(\\n)"])
        cid = client.create_container(sid, perl)
        client.start_container(cid)
        wait_for("perl exits", lambda: client.container_status(cid)["state"] ==
                 "CONTAINER_EXITED")
        assert client.container_status(cid)["exit_code"] == 0
    finally:
        for cid in ids:
            client.stop_container(cid, 0)


def test_host_network_sandbox_runs_in_the_node_namespace(node):
    n, client = node
    cfg = sandbox_config("kube-system", "agent", "uid-7")
    cfg["linux"] = {"security_context": {"namespace_options": {"network": "NODE"}}}
    sid = client.run_pod_sandbox(cfg)
    assert client.pod_sandbox_status(sid)["state"] == "SANDBOX_READY"
    assert not [ns for ns in netns_list() if ns.startswith(n.name + "-")]   # no Pod netns
    cid = client.create_container(sid, container_config("app", "busybox",
                                                        command=["sleep", "3600"]))
    client.start_container(cid)
    try:
        links = client.exec_sync(cid, ["ip", "-o", "link"]).stdout.decode()
        node_links = subprocess.run(["ip", "-n", n.name, "-o", "link"], capture_output=True,
                                    text=True).stdout
        assert sorted(x.split(":")[1] for x in links.splitlines()) == \
            sorted(x.split(":")[1] for x in node_links.splitlines())
    finally:
        client.stop_pod_sandbox(sid)
        client.remove_pod_sandbox(sid)
    assert client.list_pod_sandboxes() == []


def test_shared_process_namespace_shows_every_container_and_pause_as_pid_1(node):
    _, client = node
    sid = client.run_pod_sandbox(sandbox_config("default", "shared", "uid-8"))
    ids = []
    for name, cmd in (("a", ["sleep", "3601"]), ("b", ["sleep", "3602"])):
        cfg = container_config(name, "busybox", command=cmd)
        cfg["linux"]["security_context"] = {"namespace_options": {"pid": "POD"}}
        ids.append(client.create_container(sid, cfg))
        client.start_container(ids[-1])
    solo = container_config("c", "busybox", command=["sleep", "3603"])
    ids.append(client.create_container(sid, solo))
    client.start_container(ids[-1])
    try:
        ps = client.exec_sync(ids[1], ["ps", "-o", "pid,args"]).stdout.decode()
        assert "sleep 3601" in ps and "sleep 3602" in ps and "sleep 3603" not in ps
        first = [line.split(None, 1) for line in ps.splitlines()[1:]
                 if line.split()[0] == "1"]
        assert first and "k8snet.images.pause" in first[0][1]
        alone = client.exec_sync(ids[2], ["ps", "-o", "pid,args"]).stdout.decode()
        assert "sleep 3601" not in alone
    finally:
        client.stop_pod_sandbox(sid)
