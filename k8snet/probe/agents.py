"""Starting probe agents inside namespaces and talking to them (effects).

An `Agent` is one `k8snet.probe.agent` process in one network namespace,
spoken to with JSON lines. Every wait has a deadline; `stop` ends the
process by its own PID (never by name).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterable, List, Optional

from k8snet.errors import K8snetError
from k8snet.testbed.state import NodeInfo

# A deadline for a stuck agent, not a speed target: importing scapy took 22-27 s
# on this 2-core machine at load 50, so 30 s failed runs that were only slow.
START_TIMEOUT = 90.0


def netns_argv(path: Optional[str]) -> List[str]:
    """The argv prefix that runs a command in the netns at ``path`` (None: here)."""
    return ["nsenter", f"--net={path}"] if path else []


def node_netns_path(node: NodeInfo) -> str:
    """A node's namespace as the testbed named it for ``ip netns``."""
    return f"/run/netns/{node.netns}"


def pod_netns_path(node: NodeInfo, netns: str) -> str:
    """A Pod sandbox's namespace, named by the runtime with ``ip netns add``:
    in the root mount namespace when the runtime runs there, else in its
    node's mount namespace (reached through the node's root). The one that
    is a mount point holds the namespace."""
    candidates = [f"/run/netns/{netns}", f"/proc/{node.pid}/root/run/netns/{netns}"]
    for path in candidates:
        if os.path.ismount(path):
            return path
    return candidates[0]


KILL_WAIT = 30.0


def start_timeout(count: int, base: float = START_TIMEOUT) -> float:
    """Seconds for `count` agents started together to be ready: `base` for up to 16,
    proportionally more beyond (pure)."""
    return base * max(1.0, count / 16)


class Agent:
    """One running agent; ``label`` says where it runs (for messages)."""

    def __init__(self, label: str, netns_path: Optional[str]):
        self.label = label
        self.netns_path = netns_path
        self.proc: Optional[subprocess.Popen] = None
        self.next_id = 0

    def start(self) -> Agent:
        argv = [*netns_argv(self.netns_path), sys.executable, "-m", "k8snet.probe.agent"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        first = self._read(timeout, "to start")
        if not first.get("ready"):
            raise K8snetError(f"probe agent in {self.label} did not start: {first}")

    def call(self, op: str, deadline: float = 60.0, **kwargs) -> Dict:
        """Send one request and return its answer (waiting ``deadline`` seconds)."""
        if self.proc is None or self.proc.poll() is not None:
            raise K8snetError(f"probe agent in {self.label} is not running")
        self.next_id += 1
        self.proc.stdin.write(json.dumps({"op": op, "id": self.next_id, **kwargs}) + "\n")
        self.proc.stdin.flush()
        while True:
            answer = self._read(deadline, f"to answer {op}")
            if answer.get("id") == self.next_id:
                return answer

    def _read(self, timeout: float, what: str) -> Dict:
        deadline = time.monotonic() + timeout
        out = self.proc.stdout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise K8snetError(f"probe agent in {self.label} took over {timeout:.0f}s {what}")
            ready, _, _ = select.select([out], [], [], left)
            if ready:
                line = out.readline()
                if not line:
                    err = self.proc.stderr.read()[-400:] if self.proc.poll() is not None else ""
                    raise K8snetError(f"probe agent in {self.label} exited: {err.strip()}")
                return json.loads(line)

    def stop(self) -> None:
        """Ask it to quit; kill its process if it does not within 3 s."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"op": "quit", "id": -1}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(3)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            self.proc.kill()
            try:
                self.proc.wait(KILL_WAIT)
            except subprocess.TimeoutExpired:   # SIGKILLed on a machine too busy to let
                pass                            # it go yet: it will; nothing to wait for
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            self.proc = None


class Agents:
    """Agents keyed by name; a context manager that stops them all."""

    def __init__(self):
        self.by_name: Dict[str, Agent] = {}

    def start(self, places: Dict[str, Optional[str]]) -> None:
        """Start an agent per ``name -> netns path`` (in parallel) and wait for all."""
        fresh = [Agent(name, path).start() for name, path in places.items()
                 if name not in self.by_name]
        for agent in fresh:
            self.by_name[agent.label] = agent
        # they start together: on a loaded machine, dozens of interpreters importing
        # scapy at once take longer than one does (54 agents beside 1,000 Pods: over 90 s)
        deadline = time.monotonic() + start_timeout(len(fresh))
        for agent in fresh:
            agent.wait_ready(max(1.0, deadline - time.monotonic()))

    def __getitem__(self, name: str) -> Agent:
        return self.by_name[name]

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def parallel(self, calls: Iterable[tuple]) -> List[Dict]:
        """Run ``(agent name, op, kwargs)`` calls, one thread per agent at most."""
        calls = list(calls)
        groups: Dict[str, List[int]] = {}
        for i, (name, _op, _kw) in enumerate(calls):
            groups.setdefault(name, []).append(i)
        results: List[Optional[Dict]] = [None] * len(calls)

        def run_group(indexes: List[int]) -> None:
            for i in indexes:
                name, op, kw = calls[i]
                results[i] = self.by_name[name].call(op, **kw)

        with ThreadPoolExecutor(max_workers=max(1, len(groups))) as pool:
            for f in [pool.submit(run_group, ix) for ix in groups.values()]:
                f.result()
        return results  # type: ignore[return-value]

    def stop(self) -> None:
        for agent in self.by_name.values():
            agent.stop()
        self.by_name.clear()

    def __enter__(self) -> Agents:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
