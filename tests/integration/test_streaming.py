"""kubectl exec, cp and logs -f through apiserver -> kubelet (:10250 HTTPS) -> CRI streaming.

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
import tempfile
import time

import pytest

from tests.integration.kubelet_stack import NODE, POD_CIDR, NodeStack, wait_for

pytestmark = pytest.mark.timeout(300)

if shutil.which("kubectl") is None:
    pytest.skip("kubectl is not installed (make setup)", allow_module_level=True)


@pytest.fixture(scope="module")
def stack():
    tmp = tempfile.mkdtemp(prefix="k8snet-test-stream-")
    node = NodeStack(tmp)
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
        wait_for("pod box running", lambda: (node.get("pod", "box") or {}).get(
            "status", {}).get("phase") == "Running", deadline=90)
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
