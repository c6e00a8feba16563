"""Test helper: one worker node in a scratch netns (apiserver, runtime, kubelet).

Everything runs inside a network namespace named `k8snet-test-kl<pid>`: the
apiserver on its loopback, the CRI runtime (Pod netns prefixed with the
scratch netns name) and the kubelet, whose node IP sits on a dummy device.
The test talks to the apiserver with the real kubectl through
`ip netns exec`, and to the runtime over its unix socket (a path, so it
works across namespaces). `close()` stops what it started and removes every
netns, directory and cgroup it made; nothing touches the root namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from k8snet.testbed.cleanup import runtime_records
from k8snet.testbed.state import signal_process

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_IP = "10.0.0.2"
NODE = "w1"
POD_CIDR = "10.244.1.0/24"


def wait_for(what: str, check: Callable[[], Any], deadline: float = 60.0,
             every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; AssertionError naming `what`."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what} (last: {last!r})")


class NodeStack:
    def __init__(self, tmp: str, kubelet_flags: tuple = ()):
        self.tmp = tmp
        self.ns = f"k8snet-test-kl{os.getpid() % 100000}"
        self.procs: Dict[str, subprocess.Popen] = {}
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.socket = os.path.join(tmp, "cri.sock")
        self.conf_dir = os.path.join(tmp, "net.d")
        self.kubelet_root = os.path.join(tmp, "kubelet")
        self.kubelet_flags = list(kubelet_flags)
        self.home = os.path.join(tmp, "home")
        os.makedirs(self.home, exist_ok=True)

    # -- processes ------------------------------------------------------------

    def sh(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), capture_output=True, text=True, check=check,
                              timeout=60)

    def spawn(self, name: str, *args: str) -> None:
        log = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        self.procs[name] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m", "k8snet.cli", *args],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()

    def log(self, name: str) -> str:
        try:
            with open(os.path.join(self.tmp, f"{name}.log"), errors="replace") as fh:
                return fh.read()[-6000:]
        except OSError:
            return ""

    def start(self, controller_manager: bool = False) -> NodeStack:
        """Start everything; with `controller_manager`, node IPAM gives the podCIDR."""
        self.sh("ip", "netns", "add", self.ns)
        self.sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        # no dummy module on every kernel: a veth pair with both ends in the netns
        self.sh("ip", "-n", self.ns, "link", "add", "k8snet-up0", "type", "veth", "peer",
                "name", "k8snet-up1")
        self.sh("ip", "-n", self.ns, "addr", "add", f"{NODE_IP}/24", "dev", "k8snet-up0")
        self.sh("ip", "-n", self.ns, "link", "set", "k8snet-up1", "up")
        self.sh("ip", "-n", self.ns, "link", "set", "k8snet-up0", "up")
        self.spawn("apiserver", "apiserver", "--data-dir", os.path.join(self.tmp, "api"),
                   "--port", "6443", "--kubeconfig-out", self.kubeconfig)
        self.spawn("runtime", "runtime", "--socket", self.socket, "--root-dir",
                   os.path.join(self.tmp, "runtime"), "--netns-prefix", self.ns,
                   "--cni-conf-dir", self.conf_dir)
        wait_for("the apiserver's kubeconfig", lambda: os.path.exists(self.kubeconfig)
                 and self.kubectl("get", "--raw", "/readyz", check=False).returncode == 0,
                 deadline=60)
        if controller_manager:
            self.spawn("controller-manager", "controller-manager", "--kubeconfig",
                       self.kubeconfig)
        else:
            # what the controller-manager's root-CA publisher does: Pods mount their
            # ServiceAccount's kube-api-access volume, which needs kube-root-ca.crt
            self.kubectl("create", "configmap", "kube-root-ca.crt", "--from-file=ca.crt="
                         + os.path.join(self.tmp, "api", "ca.crt"))
        return self.start_kubelet()

    def start_kubelet(self) -> NodeStack:
        self.spawn("kubelet", "kubelet", "--kubeconfig", self.kubeconfig, "--node-name", NODE,
                   "--node-ip", NODE_IP, "--runtime-socket", self.socket, "--root-dir",
                   self.kubelet_root, "--cni-conf-dir", self.conf_dir, "--cni-data-dir",
                   os.path.join(self.tmp, "ipam"), "--node-labels", "disk=ssd",
                   "--sync-period", "0.5", *self.kubelet_flags)
        return self

    def stop_kubelet(self) -> None:
        proc = self.procs.pop("kubelet")
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)

    def kubectl(self, *args: str, check: bool = True, stdin: Optional[str] = None
                ) -> subprocess.CompletedProcess:
        env = dict(os.environ, HOME=self.home, KUBECONFIG=self.kubeconfig)
        proc = subprocess.run(["ip", "netns", "exec", self.ns, "kubectl", *args],
                              capture_output=True, text=True, env=env, input=stdin, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stdout}{proc.stderr}\n"
                                 f"kubelet log:\n{self.log('kubelet')}")
        return proc

    def get(self, *args: str) -> Optional[dict]:
        proc = self.kubectl("get", *args, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def apply(self, obj: dict) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps(obj))

    # -- runtime --------------------------------------------------------------

    def cri(self):
        from k8snet.machinery.cri import RuntimeClient
        return RuntimeClient(self.socket, timeout=10)

    def container_pid(self, container_id: str) -> int:
        with self.cri() as rt:
            return int(rt.container_status(container_id)["pid"])

    def pod_netns(self) -> List[str]:
        out = self.sh("ip", "netns", "list").stdout.split("\n")
        return [line.split()[0] for line in out if line.startswith(self.ns + "-")]

    def veths(self) -> List[str]:
        out = self.sh("ip", "-n", self.ns, "-o", "link", "show", check=False).stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if n.startswith("veth")]

    # -- cleanup --------------------------------------------------------------

    def close(self) -> None:
        for name in ("kubelet", "controller-manager", "runtime", "apiserver"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self._kill_pod_processes()
        for ns in self.pod_netns():
            self.sh("ip", "netns", "delete", ns, check=False)
        self.sh("ip", "netns", "delete", self.ns, check=False)
        rest = self.ns[len("k8snet-"):].split("-")
        for root in ("/sys/fs/cgroup", *[f"/sys/fs/cgroup/{c}" for c in (
                "cpu", "cpuacct", "memory", "pids")]):
            path = os.path.join(root, "k8snet", *rest)
            if os.path.isdir(path):
                for sub in sorted((os.path.join(path, d) for d in os.listdir(path)
                                   if os.path.isdir(os.path.join(path, d))), reverse=True):
                    _rmdir(sub)
                _rmdir(path)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _kill_pod_processes(self) -> None:
        """What the runtime left running: a stopped runtime keeps its containers (as a
        restarted one finds them again). The processes it recorded, by PID and start
        time; then anything in our netns. The Pod netns are made inside `ip netns exec`'s
        mount namespace, so from here their names are plain files and `ip netns pids`
        finds nothing in them: the records are what finds those containers."""
        for record in runtime_records(os.path.join(self.tmp, "runtime")):
            signal_process(record, signal.SIGKILL)
        for ns in self.pod_netns() + [self.ns]:
            pids = self.sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass
