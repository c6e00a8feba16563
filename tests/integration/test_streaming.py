"""kubectl exec, cp, port-forward, attach and logs through apiserver -> kubelet (:10250
HTTPS) -> CRI streaming.

One node stack in a scratch netns (tests/integration/kubelet_stack.py): the
real kubectl talks to our apiserver, which proxies the WebSocket upgrade to
the kubelet on its node IP over TLS with its client certificate; the kubelet
takes it to the runtime's streaming server (CRI Exec's URL), which runs the
command in the container's namespaces and cgroups.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.integration.kubelet_stack import NODE, POD_CIDR, NodeStack, wait_for

pytestmark = pytest.mark.timeout(300)

AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.53"

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed (make setup)", allow_module_level=True)


@pytest.fixture(scope="module")
def stack():
    tmp = tempfile.mkdtemp(prefix="k8snet-test-stream-")
    node = NodeStack(tmp, kubelet_flags=("--backoff-base", "1", "--backoff-cap", "2"))
    try:
        node.start()
        wait_for("node w1 registered", lambda: node.get("node", NODE), deadline=60)
        cidr = json.dumps({"spec": {"podCIDR": POD_CIDR, "podCIDRs": [POD_CIDR]}})
        wait_for("podCIDR set", lambda: node.kubectl("patch", "node", NODE, "--type", "merge",
                                                     "-p", cidr, check=False).returncode == 0)
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "box", "namespace": "default"},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{
                                 "name": "c", "image": "busybox",
                                 "command": ["sh", "-c", "echo started; exec sleep 3600"],
                                 "resources": {"limits": {"memory": "64Mi"}}}]}})
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web", "namespace": "default",
                                 "labels": {"app": "web"}},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "app", "image": AGNHOST,
                                             "args": ["netexec", "--http-port=8080"],
                                             "readinessProbe": {"httpGet": {
                                                 "path": "/healthz", "port": 8080},
                                                 "periodSeconds": 1}}]}})
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "crash", "namespace": "default"},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "c", "image": "busybox", "command": [
                                 "sh", "-c", "echo run $(date +%s%N); sleep 2; exit 1"]}]}})
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "talk", "namespace": "default"},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "restartPolicy": "Never",
                             "containers": [{"name": "c", "image": "busybox",
                                             "stdin": True, "stdinOnce": True, "command": [
                                                 "sh", "-c", "while read l; do echo got:$l; "
                                                 "done; echo bye"]}]}})
        node.apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "term", "namespace": "default"},
                    "spec": {"nodeName": NODE, "terminationGracePeriodSeconds": 1,
                             "containers": [{"name": "c", "image": "busybox", "stdin": True,
                                             "tty": True, "command": ["sh"]}]}})
        for name in ("box", "web", "talk", "term"):
            wait_for(f"pod {name} running", lambda n=name: (node.get("pod", n) or {}).get(
                "status", {}).get("phase") == "Running", deadline=90)
        # Running says the server's process started, Ready that it answers on :8080
        wait_for("pod web ready", lambda: any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in (
                node.get("pod", "web") or {}).get("status", {}).get("conditions", [])),
            deadline=90)
        yield node
    finally:
        node.close()


def kubectl(node: NodeStack, *args: str, stdin: bytes = b"", timeout: float = 60,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """kubectl in the stack's netns with bytes in and out."""
    full = dict(os.environ, HOME=node.home, KUBECONFIG=node.kubeconfig, **(env or {}))
    return subprocess.run(["ip", "netns", "exec", node.ns, "kubectl", *args], input=stdin,
                          capture_output=True, env=full, timeout=timeout)


def test_exec_output_and_exit_codes(stack):
    r = kubectl(stack, "exec", "box", "--", "sh", "-c", "echo out; echo err >&2")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"out\n", b"err\n"), r
    assert kubectl(stack, "exec", "box", "--", "false").returncode == 1
    r = kubectl(stack, "exec", "box", "--", "sh", "-c", "exit 7")
    assert r.returncode == 7, r


def test_exec_is_websocket_only_and_missing_command_is_clear(stack):
    r = kubectl(stack, "exec", "box", "--", "true",
                env={"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"})
    assert r.returncode != 0 and b"WebSocket only" in r.stderr, r
    r = kubectl(stack, "exec", "box", "--", "no-such-program")
    assert r.returncode != 0 and b"no-such-program" in r.stderr, r


def test_exec_stdin_is_piped_and_closed(stack):
    r = kubectl(stack, "exec", "-i", "box", "--", "cat", stdin=b"hi\n")
    assert (r.returncode, r.stdout) == (0, b"hi\n"), r
    data = os.urandom(300_000)
    r = kubectl(stack, "exec", "-i", "box", "--", "md5sum", stdin=data)
    assert r.stdout.split()[0].decode() == hashlib.md5(data).hexdigest(), r


def test_exec_joins_the_containers_namespaces_and_cgroup(stack):
    # under `ip netns exec` the runtime sees a fresh sysfs without cgroups, so here both
    # may be the root cgroups; test_streaming_cluster checks the join with real ones
    pod = stack.get("pod", "box")
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://")[-1]
    pid = stack.container_pid(cid)
    with open(f"/proc/{pid}/cgroup") as fh:
        container_cgroup = fh.read()
    r = kubectl(stack, "exec", "box", "--", "sh", "-c", "hostname; cat /proc/self/cgroup; "
                "ip -o -4 addr show eth0")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "box", r
    assert "\n".join(lines[1:1 + len(container_cgroup.splitlines())]) + "\n" == \
        container_cgroup, r
    assert pod["status"]["podIP"] in lines[-1], r


def test_cp_ten_megabytes_both_ways(stack, tmp_path):
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(10 << 20))
    r = kubectl(stack, "cp", str(src), "box:/tmp/up.bin", timeout=120)
    assert r.returncode == 0, r
    r = kubectl(stack, "exec", "box", "--", "md5sum", "/tmp/up.bin")
    assert r.stdout.split()[0].decode() == hashlib.md5(src.read_bytes()).hexdigest(), r
    back = tmp_path / "down.bin"
    r = kubectl(stack, "cp", "box:/tmp/up.bin", str(back), timeout=120)
    assert r.returncode == 0, r
    assert hashlib.md5(back.read_bytes()).digest() == hashlib.md5(src.read_bytes()).digest()


def test_logs_follow_shows_a_line_written_after_it_started(stack):
    env = dict(os.environ, HOME=stack.home, KUBECONFIG=stack.kubeconfig)
    follow = subprocess.Popen(["ip", "netns", "exec", stack.ns, "kubectl", "logs", "-f", "box"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert follow.stdout.readline() == b"started\n"
        time.sleep(0.5)
        r = kubectl(stack, "exec", "box", "--", "sh", "-c", "echo later > /proc/1/fd/1")
        assert r.returncode == 0, r
        assert follow.stdout.readline() == b"later\n"
    finally:
        follow.kill()
        follow.wait()


def _screen(server: str) -> str:
    return subprocess.run(["tmux", "-L", server, "capture-pane", "-p", "-t", "tty"],
                          capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make setup)")
def test_exec_tty_under_tmux_types_resizes_and_exits(stack, tmp_path):
    """`kubectl exec -it` in a real terminal: type, read the screen, resize, exit code."""
    script = tmp_path / "k.sh"
    script.write_text(f"#!/bin/sh\nexport HOME={stack.home} KUBECONFIG={stack.kubeconfig}\n"
                      f"ip netns exec {stack.ns} kubectl exec -it box -- sh\n"
                      "echo rc=$?; sleep 60\n")
    script.chmod(0o755)
    server = f"k8snet-str{os.getpid()}"
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "tty", "-x", "120", "-y",
                    "40", str(script)], check=True)

    def typed(keys: str, want: str) -> str:
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "tty", keys, "Enter"],
                       check=True)
        return wait_for(f"{want!r} on the screen",
                        lambda: want in _screen(server) or None, deadline=30, every=0.2)

    try:
        # capture-pane drops trailing blanks: the prompt "/ # " reads "/ #"
        wait_for("the shell's prompt", lambda: "/ #" in _screen(server) or None, deadline=30)
        typed("echo $((6*7)); tty", "42\n/dev/pts/")
        typed("stty size", "40 120")
        subprocess.run(["tmux", "-L", server, "resize-window", "-t", "tty", "-x", "100", "-y",
                        "30"], check=True)
        time.sleep(0.5)
        typed("stty size", "30 100")
        typed("exit 4", "rc=4")
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)


class PortForward:
    """`kubectl port-forward` running in the stack's netns until closed."""

    def __init__(self, node: NodeStack, *args: str, env: dict | None = None):
        env = dict(os.environ, HOME=node.home, KUBECONFIG=node.kubeconfig, **(env or {}))
        self.proc = subprocess.Popen(["ip", "netns", "exec", node.ns, "kubectl",
                                      "port-forward", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        first = self.proc.stdout.readline()
        assert first.startswith(b"Forwarding from 127.0.0.1:"), first

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def in_netns(node: NodeStack, code: str) -> str:
    """Python run in the stack's netns (where kubectl's listener and the Pods are)."""
    return subprocess.run(["ip", "netns", "exec", node.ns, sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120, check=True).stdout


READ_ALL = """
import socket, sys, time
for _ in range(50):
    try:
        s = socket.create_connection(("{host}", {port})); break
    except ConnectionRefusedError:
        time.sleep(0.1)
t, n = time.monotonic(), 0
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    n += len(d)
print(n, time.monotonic() - t)
"""


def test_port_forward_carries_http_and_a_hundred_megabytes(stack):
    pf = PortForward(stack, "pod/web", "18080:8080")
    try:
        out = in_netns(stack, "import urllib.request; print(urllib.request.urlopen("
                              "'http://127.0.0.1:18080/hostname', timeout=10).read().decode())")
        assert out.strip() == "web"
    finally:
        pf.close()
    r = kubectl(stack, "exec", "box", "--", "sh", "-c",
                "head -c 104857600 /dev/zero | nc -l -p 9000 >/dev/null 2>&1 &")
    assert r.returncode == 0, r
    pf = PortForward(stack, "pod/box", "19000:9000")
    try:
        got, seconds = in_netns(stack, READ_ALL.format(host="127.0.0.1", port=19000)).split()
        assert int(got) == 100 << 20
    finally:
        pf.close()


def test_port_forward_to_a_service_over_the_spdy_fallback(stack):
    stack.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                 "spec": {"selector": {"app": "web"},
                          "ports": [{"port": 80, "targetPort": 8080}]}})
    pf = PortForward(stack, "svc/web", "18082:80", env={"KUBECTL_PORT_FORWARD_WEBSOCKETS":
                                                         "false"})
    try:
        out = in_netns(stack, "import urllib.request; print(urllib.request.urlopen("
                              "'http://127.0.0.1:18082/hostname', timeout=10).read().decode())")
        assert out.strip() == "web"
    finally:
        pf.close()


def test_port_forward_to_a_closed_port_says_so(stack):
    pf = PortForward(stack, "pod/web", "18081:9999")
    try:
        in_netns(stack, "import socket; s = socket.create_connection(('127.0.0.1', 18081)); "
                        "s.recv(1)")
        time.sleep(1)
        pf.proc.kill()
        out = pf.proc.stdout.read().decode()
        assert "error forwarding port 9999" in out and "refused" in out.lower(), out
    finally:
        pf.close()


def test_logs_previous_after_a_restart(stack):
    wait_for("crash restarted", lambda: ((stack.get("pod", "crash") or {}).get("status", {})
                                         .get("containerStatuses") or [{}])[0]
             .get("restartCount", 0) >= 1, deadline=60)
    prev = kubectl(stack, "logs", "--previous", "crash")
    assert prev.returncode == 0 and prev.stdout.startswith(b"run "), prev
    now = kubectl(stack, "logs", "crash", "--timestamps")
    assert now.returncode == 0 and b"Z run " in now.stdout, now


def test_attach_shows_the_containers_new_output(stack):
    env = dict(os.environ, HOME=stack.home, KUBECONFIG=stack.kubeconfig)
    att = subprocess.Popen(["ip", "netns", "exec", stack.ns, "kubectl", "attach", "box"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    seen: list = []
    reader = threading.Thread(target=lambda: seen.extend(iter(att.stdout.readline, b"")),
                              daemon=True)
    reader.start()
    try:
        def write_and_look() -> bool:  # until attach is connected, lines go unseen
            kubectl(stack, "exec", "box", "--", "sh", "-c", "echo attached > /proc/1/fd/1")
            time.sleep(0.5)
            return b"attached\n" in seen
        wait_for("attach shows the line", write_and_look, deadline=30, every=0.5)
    finally:
        att.kill()
        att.wait()


def test_attach_stdin_once_feeds_the_container_and_ends_it(stack):
    """`kubectl attach -i` to a `stdin: true, stdinOnce: true` container: its input goes to
    the shim-held stdin; the end of ours is the end of the container's, which then exits."""
    r = kubectl(stack, "attach", "-i", "talk", stdin=b"hello\nworld\n")
    assert r.returncode == 0 and b"got:hello\ngot:world\nbye\n" in r.stdout, r
    wait_for("talk succeeded", lambda: (stack.get("pod", "talk") or {}).get(
        "status", {}).get("phase") == "Succeeded", deadline=30)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make setup)")
def test_attach_tty_under_tmux_types_and_resizes(stack, tmp_path):
    """`kubectl attach -it` to a `tty: true` container's shell: the terminal is the one the
    shim holds (the container's own sh, PID 1), typed keys reach it, resizes too."""
    script = tmp_path / "a.sh"
    script.write_text(f"#!/bin/sh\nexport HOME={stack.home} KUBECONFIG={stack.kubeconfig}\n"
                      f"ip netns exec {stack.ns} kubectl attach -it term\nsleep 60\n")
    script.chmod(0o755)
    server = f"k8snet-att{os.getpid()}"
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "tty", "-x", "110", "-y",
                    "35", str(script)], check=True)

    def typed(keys: str, want: str) -> str:
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "tty", keys, "Enter"],
                       check=True)
        return wait_for(f"{want!r} on the screen",
                        lambda: want in _screen(server) or None, deadline=30, every=0.2)

    try:
        wait_for("attach connected", lambda: "press" in _screen(server) or None, deadline=30)
        typed("echo $((6*7)) pid=$$", "42 pid=1")
        typed("stty size", "35 110")
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)


def test_debug_ephemeral_container_shares_the_targets_processes(stack):
    """`kubectl debug -i POD --image=busybox --target=c`: pods/ephemeralcontainers takes the
    container, the kubelet starts it in the target's PID namespace (the target's `sleep` is
    PID 1 there), its status appears in ephemeralContainerStatuses, attach carries stdin."""
    r = kubectl(stack, "debug", "box", "--image=busybox", "--target=c", "-c", "dbg1", "-i",
                "--quiet", "--", "sh", "-c", "read x; echo got:$x; ps -o pid,args",
                stdin=b"go\n", timeout=120)
    assert r.returncode == 0 and b"got:go" in r.stdout, r
    assert any(line.split()[:2] == [b"1", b"sleep"] for line in r.stdout.splitlines()), r
    statuses = wait_for("dbg1 terminated", lambda: [
        s for s in (stack.get("pod", "box") or {}).get("status", {}).get(
            "ephemeralContainerStatuses") or []
        if s["name"] == "dbg1" and "terminated" in s["state"]], deadline=30)
    assert statuses[0]["state"]["terminated"]["exitCode"] == 0
    # validation as upstream: an ephemeral container serves no ports
    pod = json.loads(kubectl(stack, "get", "pod", "box", "-o", "json").stdout)
    pod["spec"]["ephemeralContainers"].append({"name": "dbg9", "image": "busybox",
                                               "ports": [{"containerPort": 80}]})
    bad = kubectl(stack, "replace", "--raw",
                  "/api/v1/namespaces/default/pods/box/ephemeralcontainers", "-f", "-",
                  stdin=json.dumps(pod).encode())
    assert bad.returncode != 0 and b"spec.ephemeralContainers[1].ports: Forbidden: cannot " \
        b"be set for an Ephemeral Container" in bad.stderr, bad


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make setup)")
def test_debug_it_under_tmux_attaches_to_the_debugger(stack, tmp_path):
    """`kubectl debug -it POD --image=busybox --target=c` in a terminal: a shell whose `ps`
    shows the target's processes."""
    script = tmp_path / "d.sh"
    script.write_text(f"#!/bin/sh\nexport HOME={stack.home} KUBECONFIG={stack.kubeconfig}\n"
                      f"ip netns exec {stack.ns} kubectl debug -it box --image=busybox "
                      "--target=c -c dbg2\nsleep 60\n")
    script.chmod(0o755)
    server = f"k8snet-dbg{os.getpid()}"
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-s", "tty", "-x", "110", "-y",
                    "35", str(script)], check=True)
    try:
        # "If you don't see a command prompt, try pressing enter."
        wait_for("debug attached", lambda: "press" in _screen(server) or None, deadline=90)
        subprocess.run(["tmux", "-L", server, "send-keys", "-t", "tty",
                        "echo $((6*7)); ps -o pid,args | grep '[s]leep 3600'", "Enter"],
                       check=True)
        wait_for("the target's sleep", lambda: "1 sleep 3600" in _screen(server) or None,
                 deadline=30, every=0.2)
        assert "42" in _screen(server)
    except AssertionError:
        print(_screen(server))
        raise
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)


def test_debug_node_runs_in_the_nodes_namespaces_with_its_root_at_host(stack):
    """`kubectl debug node/w1 -i --image=busybox`: a Pod on w1 with hostNetwork, hostPID and
    hostIPC and the node's / mounted at /host (upstream's default profile)."""
    script = ("read x; readlink /proc/self/ns/net; readlink /proc/self/ns/pid; "
              "grep -c ' /host ' /proc/self/mountinfo; [ -d /host/proc/1 ] && echo root")
    r = kubectl(stack, "debug", f"node/{NODE}", "-i", "--image=busybox", "--", "sh", "-c",
                script, stdin=b"go\n", timeout=120)
    name = next((w.decode() for w in (r.stdout + r.stderr).split()
                 if w.startswith(b"node-debugger-")), "")
    try:
        assert r.returncode == 0 and name, (r.stdout, r.stderr)
        net, pid, mounted, root = r.stdout.decode().split()[-4:]
        netns_ino = os.stat(f"/run/netns/{stack.ns}").st_ino
        assert net == f"net:[{netns_ino}]", r.stdout   # the node's network namespace
        assert pid == os.readlink("/proc/self/ns/pid"), r.stdout   # the node's PIDs
        assert int(mounted) >= 1 and root == "root", r.stdout
        spec = stack.get("pod", name)["spec"]
        assert spec["hostPID"] and spec["hostIPC"] and spec["hostNetwork"]
    finally:
        if name:
            kubectl(stack, "delete", "pod", name, "--wait=false")
