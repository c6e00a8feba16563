"""The view kept current: informers on the apiserver plus the switch ports.

`LiveView` runs one thread that rebuilds the view document whenever an
informer reports a change or the port poll (every ``poll_seconds``) sees
the ports' state or rates move, and hands each new document to a publish
callback (the server's, which forwards it to the browsers' SSE streams).
Everything it reads comes through small injected callables, so the
document itself stays the pure `model.build_view`.

Faults (``k8snet fault``): ``fault_source`` returns the active faults as
dicts; by default they are read from the cluster's faults.json (where the
CLI and the page's buttons record them) on every poll, so a fault injected
from a shell shows up as fast as one from the page.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from typing import Callable, Dict, List, Optional

from k8snet.fabric.facts import Facts, load_facts
from k8snet.machinery.informer import Informer
from k8snet.ui import model

log = logging.getLogger("k8snet.ui")

RESOURCES = ("nodes", "pods", "services", "endpoints", "networkpolicies")
Publish = Callable[[dict], None]


def read_ovs_ports(bridges: List[str]) -> Dict[str, model.PortSample]:
    """Every port of ``bridges``: link state and byte counters, in one OVSDB read."""
    out = subprocess.run(["ovs-vsctl", "--timeout=5", "--format=json",
                          "--columns=name,link_state,admin_state,statistics",
                          "list", "Interface"], capture_output=True, text=True,
                         timeout=10, check=False)
    if out.returncode != 0:
        log.warning("ovs-vsctl failed: %s", out.stderr.strip())
        return {}
    return model.parse_ovs_interfaces(json.loads(out.stdout), bridges)


def recorded_faults(cluster_dir: str) -> List[dict]:
    """The active faults of the cluster in ``cluster_dir``, with their text."""
    from k8snet.testbed import faults

    return [{**f.to_dict(), "text": f.describe()} for f in faults.load(cluster_dir)]


class LiveView:
    """Builds and republishes the view of one cluster while it runs."""

    def __init__(self, cluster, publish: Publish, poll_seconds: float = 0.5,
                 read_ports: Callable = read_ovs_ports,
                 fault_source: Optional[Callable[[], List[dict]]] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.cluster = cluster
        self.publish = publish
        self.poll_seconds = poll_seconds
        self.read_ports = read_ports
        self.fault_source = fault_source or (lambda: recorded_faults(cluster.state.dir))
        self.clock = clock
        self.kick = threading.Event()
        self.informers: Dict[str, Informer] = {}
        self.facts: Optional[Facts] = None
        self.latest: Optional[dict] = None
        self.ports: Dict[str, model.PortView] = {}

    def start(self, stop: threading.Event) -> threading.Thread:
        state = self.cluster.state
        self.facts = load_facts(state.controller.facts)
        client = self.cluster.client(timeout=10)
        for resource in RESOURCES:
            inf = Informer(client, resource, on_change=lambda _items: self.kick.set(),
                           watch_timeout=30)
            inf.start(stop)
            self.informers[resource] = inf
        thread = threading.Thread(target=self.run, args=(stop,), daemon=True, name="ui-view")
        thread.start()
        return thread

    def inputs(self, ports: Dict[str, model.PortView]) -> model.Inputs:
        state = self.cluster.state
        items = {r: inf.snapshot() for r, inf in self.informers.items()}
        return model.Inputs(
            cluster=state.name, mode=state.spec.mode, facts=self.facts,
            nodes=[model.NodeFact(n.name, n.role, n.ip) for n in state.nodes],
            k8s_nodes=items.get("nodes", {}), pods=items.get("pods", {}),
            services=items.get("services", {}), endpoints=items.get("endpoints", {}),
            policies=items.get("networkpolicies", {}), ports=ports,
            faults=self.fault_source())

    def switch_view(self, switch: str) -> dict:
        """The controller's intended content of ``switch`` (`k8snet.ui.controller`)."""
        from k8snet.ui import controller

        nodes = self.informers["nodes"].snapshot().values() if self.informers else []
        return controller.switch_view(self.facts, self.cluster.state.spec.mode, switch,
                                      list(nodes), self.ports)

    def run(self, stop: threading.Event) -> None:
        bridges = [s.name for s in self.facts.switches]
        before, before_at = {}, self.clock()
        while not stop.is_set():
            self.kick.wait(self.poll_seconds)
            self.kick.clear()
            try:
                now_at = self.clock()
                after = self.read_ports(bridges)
                ports = model.port_views(before, after, now_at - before_at)
                self.ports = ports
                before, before_at = after, now_at
                doc = model.build_view(self.inputs(ports))
            except Exception:  # keep the page alive; the log says what broke
                log.exception("building the view failed")
                stop.wait(1.0)
                continue
            if doc != self.latest:
                self.latest = doc
                self.publish(doc)
