"""Bringing a cluster up and taking it down, with a deadline for each wait.

``LiveCluster.up()`` builds the network, names each node's namespace for
``ip netns``, starts the os-ken controller and the switches, and waits until
every node reaches every other node; then it starts the Kubernetes
components and waits (watching the apiserver) until every worker Node is
Ready. Anything that fails on the way tears down what was already made: no
half-built network is left behind. The library API (``k8snet.testbed.api``)
runs it in a supervisor process (``up``) or in the caller (``attached``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sys
import time
from typing import Callable, Dict, List, Optional

from mininet.log import setLogLevel

from k8snet import naming
from k8snet.cri import cgroups
from k8snet.errors import K8snetError
from k8snet.testbed import (
    addons,
    components,
    fabric_controller,
    network,
    pingall,
    reach,
    readiness,
    zygote,
)
from k8snet.testbed import state as st
from k8snet.testbed.spec import ClusterSpec, load_topology
from k8snet.testbed.state import ClusterState, Controller, NodeInfo, SwitchInfo
from k8snet.testbed.supervisor import Launch

Progress = Callable[[str], None]
FLOWS_WAIT = 10.0  # seconds to wait for the fabric's flows before pinging anyway
ZYGOTE_WAIT = 5.0  # seconds components wait for the zygote once the network is up


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def last_line(path: str) -> str:
    """The last non-empty line of a log, to quote in an error."""
    try:
        with open(path, errors="replace") as fh:
            lines = [line.strip() for line in fh if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty log)"


def node_info(name: str, info: Dict, netns: str, pid: int) -> NodeInfo:
    """A Mininet host's options (as a topology gave them) as typed node facts."""
    def text(value) -> Optional[str]:
        return None if value is None else str(value)

    return NodeInfo(name=name, role=info["role"], ip=info["ip"].split("/")[0],
                    mac=info["mac"], netns=netns, pid=pid,
                    labels={str(k): str(v) for k, v in (info.get("labels") or {}).items()},
                    cpu=text(info.get("cpu")), memory=text(info.get("memory")),
                    pods=None if info.get("pods") is None else int(info["pods"]))


class LiveCluster:
    """One running cluster; owns its Mininet network and its processes."""

    def __init__(self, spec: ClusterSpec, progress: Progress = print,
                 root: str = naming.STATE_ROOT):
        self.spec = spec
        self.progress = progress
        self.root = root
        self.dir = naming.state_dir(spec.name, root)
        self.net = None
        self.topo = None
        self.state: Optional[ClusterState] = None
        # Every long-running process by record name, as started: the
        # supervisor starts one that exits again the same way.
        self.launches: Dict[str, Launch] = {}
        self.zygote: Optional[zygote.ZygoteClient] = None
        self._was_subreaper: Optional[bool] = None  # before up() made this one a subreaper
        self.forward_port = 0
        self.ofp_port = 0

    # -- bring-up --------------------------------------------------------

    def up(self) -> ClusterState:
        """Build and start everything; return the state. Tears down on failure."""
        setLogLevel("error")
        deadline = time.monotonic() + self.spec.timeout
        try:
            self._build()
            self._start_controller()
            self._start_switches(deadline)
            if not self.spec.network_only:
                self._start_components(deadline)
            self.state.status = "ready"
            self._save()
            return self.state
        except BaseException:
            self.down()
            raise

    def _build(self) -> None:
        topo_cls = load_topology(self.spec.topology)
        self.topo = topo_cls(cluster=self.spec.name, **self.spec.topo_params())
        if not self.topo.hosts():
            raise K8snetError(f"topology {self.spec.topology} has no nodes")
        os.makedirs(self.dir, exist_ok=True)
        self.ofp_port = free_port()
        self.net = network.make_network(self.topo, self.ofp_port)
        self.state = ClusterState(
            name=self.spec.name, spec=self.spec, dir=self.dir, created=time.time(),
            datapath=network.datapath(),
            supervisor=st.record_process(os.getpid(), "supervisor"))
        self._save()
        self.progress(f"building {self.spec.topology} fabric "
                      f"({network.datapath()} datapath)")
        self.state.bridges = list(self.topo.switches())
        self._save()
        # Both import while the network builds: the controller waits for its facts.
        self._launch_controller()
        if not self.spec.network_only:
            self._start_zygote()
        self.net.build()
        for host in self.net.hosts:
            netns = naming.node_netns(self.spec.name, host.name)
            network.attach_netns(netns, host.pid)
            self.state.netns.append(netns)
            self.state.nodes.append(node_info(host.name, self.topo.nodeInfo(host.name),
                                              netns, host.pid))
        self.state.switches = [
            SwitchInfo(name=s.name, dpid=str(s.dpid),
                       role=self.topo.nodeInfo(s.name).get("role"))
            for s in self.net.switches]
        network.disable_tx_offload(self.net)
        self._save()

    def _start_zygote(self) -> None:
        """Start the process the components are forked from (k8snet.testbed.zygote),
        once this process adopts what it forks; without that, each component is
        started as its own process."""
        self._was_subreaper = zygote.is_subreaper()
        if not zygote.become_subreaper():
            return
        path = os.path.join(self.dir, zygote.SOCKET_NAME)
        launch = self._launch(Launch("zygote", zygote.zygote_command(path),
                                     os.path.join(self.dir, "zygote.log")))
        self.state.processes.append(launch.record())
        self.zygote = zygote.ZygoteClient(path)

    def _zygote_ready(self, deadline: float) -> None:
        """Wait for the zygote to finish importing (a component started before
        that imports everything itself), at most ZYGOTE_WAIT seconds: on a
        machine so busy that one process importing takes longer, the components
        import side by side on their own, as they would without a zygote."""
        if self.zygote is None:
            return
        launch = self.launches["zygote"]
        until = min(deadline, time.monotonic() + ZYGOTE_WAIT)
        if not self.zygote.wait_ready(max(0.0, until - time.monotonic()),
                                      alive=lambda: launch.exited() is None):
            self.progress("the zygote is still importing: components start on their own")

    def waited_pids(self) -> set:
        """Children of this process that some code here waits for: the
        supervised processes and the Mininet nodes' shells."""
        pids = {launch.popen.pid for launch in self.launches.values() if launch.popen}
        if self.net is not None:
            for node in (*self.net.hosts, *self.net.switches):
                if getattr(node, "shell", None) is not None:
                    pids.add(node.shell.pid)
        return pids

    def _launch_controller(self) -> None:
        """Start the os-ken controller; it waits for the facts (_start_controller)."""
        port = self.ofp_port
        facts_path = os.path.join(self.dir, fabric_controller.FACTS_NAME)
        cmd = fabric_controller.controller_command(self.spec, self.dir, port, facts_path,
                                                   facts_wait=self.spec.timeout)
        launch = self._launch(Launch("controller", cmd,
                                     os.path.join(self.dir, fabric_controller.LOG_NAME)))
        self.state.controller = Controller(process=launch.record(), port=port,
                                           facts=facts_path)
        self._save()

    def _start_controller(self) -> None:
        """Give the controller the facts of the built network."""
        facts = network.network_facts(self.net, self.topo)
        path = self.state.controller.facts
        with open(path + ".tmp", "w") as fh:
            json.dump(facts, fh, indent=2)
        os.replace(path + ".tmp", path)
        self.progress(f"os-ken controller started on 127.0.0.1:{self.state.controller.port} "
                      f"(log {self.state.controller.process.log})")

    def _start_switches(self, deadline: float) -> None:
        """Start the switches and wait until every node reaches every other one
        (which needs the switches connected and their flows installed: OVSDB's
        is_connected can lag seconds behind, so it is only read to explain a
        failure)."""
        controller = self.state.controller.process
        # A switch that finds no controller listening tries again only a second
        # later: start them once it listens.
        while not network.tcp_listening(self.ofp_port):
            if not st.is_alive(controller):
                raise K8snetError("the fabric controller exited: "
                                  + last_line(controller.log or ""))
            if time.monotonic() > deadline:
                raise K8snetError(f"the fabric controller does not listen on port "
                                  f"{self.ofp_port}; see {controller.log}")
            time.sleep(0.02)
        self.net.start()
        self._wait_flows(controller, min(deadline, time.monotonic() + FLOWS_WAIT))
        netns = {n.name: f"/run/netns/{n.netns}" for n in self.state.nodes}
        ips = {n.name: n.ip for n in self.state.nodes}
        ip_name = {ip: name for name, ip in ips.items()}
        missing = reach.all_pairs(ips)
        total = len(missing)
        text = reach.summary(missing, total)
        last = None
        while missing:
            if not st.is_alive(controller):
                raise K8snetError("the fabric controller exited: "
                                  + last_line(controller.log or ""))
            todo = {src: (netns[src], [ips[d] for d in dsts])
                    for src, dsts in reach.by_source(missing).items()}
            for src, answered in pingall.ping_matrix(todo, timeout=1.0).items():
                missing -= {(src, ip_name[ip]) for ip in answered}
            text = reach.summary(missing, total)
            if text != last:
                self.progress(text)
                last = text
            if missing and time.monotonic() > deadline:
                unconnected = ({s.name for s in self.net.switches}
                               - set(network.connected_switches(self.net)))
                if unconnected:
                    raise K8snetError(f"switches not connected to the controller in time: "
                                      f"{', '.join(sorted(unconnected))}")
                raise K8snetError(f"gave up waiting for reachability: {text}")

    def _wait_flows(self, controller: st.ProcessRecord, until: float) -> None:
        """Wait (woken by inotify) until the controller says every switch has its
        flows (controllers.fabric_app.READY_NAME): a node that ARPs before that
        asks again only a second later. Not past ``until``: the pings then say
        what does not work."""
        ready = os.path.join(self.dir, "fabric.ready")
        with readiness.ReadyWatch() as watch:
            watch.file(ready)
            watch.process(controller.pid)
            while not os.path.exists(ready) and time.monotonic() < until \
                    and st.is_alive(controller):
                watch.wait(until - time.monotonic())

    # -- Kubernetes components ---------------------------------------------

    def _start_components(self, deadline: float) -> None:
        """Start every component as soon as what it needs is ready (see
        ``components.startable``), each node side by side; woken by the ready
        files and process exits, not by polling. Once the first apiserver is
        ready, the user's kubeconfig and the DNS add-on; then wait for the Nodes."""
        plan = components.plan_components(self.state.nodes, self.spec, self.dir,
                                          [sys.executable, "-m", "k8snet.cli"])
        for note in cgroups.weigh_cluster(self.spec.name, {
                n.name: str(n.cpu or "2") for n in self.state.nodes if n.role == "worker"}):
            self.progress(note + ": under load the containers get one thread's CPU")
        self._zygote_ready(deadline)
        first_api = next((c.record_name for c in plan if c.name == "apiserver"), None)
        self._start_portforward()
        started: Dict[str, components.Component] = {}
        ready: set = set()
        api_done = False
        with readiness.ReadyWatch() as watch:
            while True:
                for comp in components.startable(plan, set(started), ready):
                    self._start(comp)
                    started[comp.record_name] = comp
                    if comp.ready_file:
                        watch.file(comp.ready_file)
                        watch.process(self._record_for(comp).pid)
                    else:
                        ready.add(comp.record_name)
                for name, comp in started.items():
                    if name not in ready and readiness.exists(comp.ready_file):
                        ready.add(name)
                        watch.forget(self._record_for(comp).pid)
                if not api_done and (first_api is None or first_api in ready):
                    self._apiserver_ready(deadline)
                    api_done = True
                    continue
                if len(ready) == len(plan):
                    break
                self._check_started(started, ready, deadline)
                watch.wait(min(1.0, max(0.0, deadline - time.monotonic())))
        self._wait_nodes_ready(deadline)

    def _check_started(self, started: Dict[str, components.Component], ready: set,
                       deadline: float) -> None:
        """Raise if a component started during bring-up exited, or the deadline passed."""
        for comp in started.values():
            if not st.is_alive(self._record_for(comp)):
                raise K8snetError(f"{comp.name} on {comp.node} exited: "
                                  + last_line(comp.log))
        if time.monotonic() > deadline:
            late = [c for n, c in started.items() if n not in ready]
            text = "; ".join(f"{c.name} on {c.node} (no {c.ready_file}; see {c.log})"
                             for c in late[:4]) or "components not started"
            raise K8snetError(f"not ready in time: {text}")

    def _start(self, comp: components.Component) -> None:
        # Join only the node's network namespace, not the Mininet shell's mount
        # namespace: Pod namespaces the runtime names (bind mounts under
        # /run/netns) must be visible to `ip netns` in the root namespace.
        launch = self._launch(Launch(f"{comp.name}@{comp.node}", comp.argv, comp.log,
                                     node=comp.node, env=dict(comp.env),
                                     netns=naming.node_netns(self.spec.name, comp.node),
                                     zygote=self.zygote, hosts=comp.hosts))
        self.state.processes.append(launch.record())
        self._save()

    def _launch(self, launch: Launch) -> Launch:
        launch.spawn()
        self.launches[launch.name] = launch
        return launch

    def record_restart(self, name: str, record: st.ProcessRecord) -> None:
        """Record the new process of a restarted one (called by the supervisor)."""
        if name == "controller" and self.state.controller:
            self.state.controller = dataclasses.replace(self.state.controller, process=record)
        else:
            self.state.processes = [record if r.name == name else r
                                    for r in self.state.processes]
        self._save()

    def _record_for(self, comp: components.Component) -> st.ProcessRecord:
        return self.state.process(f"{comp.name}@{comp.node}")

    def _start_portforward(self) -> None:
        """The loopback port forwarded to the masters' apiservers (the healthy one):
        started first, it forwards as soon as an apiserver listens."""
        self.forward_port = free_port()
        log = os.path.join(self.dir, "portforward.log")
        launch = self._launch(Launch("portforward", [
            sys.executable, "-m", "k8snet.testbed.portforward", "--listen",
            f"127.0.0.1:{self.forward_port}", *components.forward_targets(self.state.masters)],
            log))
        self.state.processes.append(launch.record())
        self._save()

    def _apiserver_ready(self, deadline: float) -> None:
        """Write the user's kubeconfig, wait until the apiserver answers through
        the forwarded port, and deploy the add-ons."""
        from k8snet.machinery.client import ApiClient, ApiError

        master = self.state.masters[0]
        incluster = os.path.join(self.dir, "kubeconfig.incluster")
        kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(incluster) as fh:
            text = components.user_kubeconfig(fh.read(), self.forward_port)
        with open(kubeconfig + ".tmp", "w") as fh:
            fh.write(text)
        os.chmod(kubeconfig + ".tmp", 0o600)
        os.replace(kubeconfig + ".tmp", kubeconfig)  # the fabric controller waits for it
        self.state.kubeconfig = kubeconfig
        self.state.apiserver = f"https://127.0.0.1:{self.forward_port}"
        self._save()
        client = ApiClient.from_kubeconfig(kubeconfig, timeout=5)
        while True:
            try:
                client.get("namespaces", "default")
                break
            except ApiError as exc:
                if time.monotonic() > deadline:
                    raise K8snetError(f"the apiserver did not answer in time: {exc}") from None
                time.sleep(0.05)
        self.progress(f"apiserver ready on {master.name}; kubeconfig {kubeconfig}")
        self.progress(addons.deploy_dns(client, self.state.external, len(self.state.workers),
                                        self.dir, self._start))

    def _wait_nodes_ready(self, deadline: float) -> None:
        """Watch Nodes until every worker is Ready; a component that exits
        meanwhile ends the wait with its log's last line."""
        from k8snet.machinery.client import ApiClient
        from k8snet.testbed.waiting import WaitTimeout, ready_names, wait_for

        client = ApiClient.from_kubeconfig(self.state.kubeconfig, timeout=5)
        want = {n.name for n in self.state.workers}
        shown: List[str] = []

        def all_ready(items: Dict[str, dict]) -> bool:
            ready = ready_names(items) & want
            text = nodes_ready_text(ready, want)
            if not shown or shown[-1] != text:
                self.progress(text)
                shown.append(text)
            for record in self.state.processes:
                if not st.is_alive(record):
                    raise K8snetError(f"{record.name} exited: " + last_line(record.log or ""))
            return want <= ready

        try:
            wait_for(client, "nodes", all_ready, max(0.0, deadline - time.monotonic()),
                     f"worker Nodes {', '.join(sorted(want))} Ready")
        except WaitTimeout as exc:
            raise K8snetError(f"gave up waiting for nodes: {shown[-1] if shown else exc}; "
                              f"{exc}") from None

    # -- running ---------------------------------------------------------

    def _save(self) -> None:
        st.save_state(self.state, self.root)

    def node(self, name: str):
        return self.net.get(name)

    # -- tear-down -------------------------------------------------------

    def down(self) -> None:
        """Stop everything this cluster made; safe to call more than once."""
        if self.state:
            self.state.status = "stopping"
            try:
                self._save()
            except OSError:
                pass
            # The node agents first, all at once (they may still tell the
            # apiserver they are going), then the control plane.
            records = self.state.processes
            masters = {n.name for n in self.state.masters}
            st.stop_processes([r for r in records if r.node not in masters])
            st.stop_processes([r for r in records if r.node in masters])
            if self.state.controller:
                st.stop_process(self.state.controller.process)
        if self.net is not None:
            try:
                self.net.stop()
            finally:
                self.net = None
        for netns in self.state.netns if self.state else []:
            network.detach_netns(netns)
        # What the components made inside the nodes (Pod namespaces, cgroups)
        # and the state directory go the same way `k8snet clean` removes them.
        from k8snet.testbed import cleanup

        cleanup.apply(cleanup.gather(only=self.spec.name, root=self.root))
        cleanup.remove_state_dir(self.spec.name, self.root)
        self.state = None
        if self._was_subreaper is False:
            # A process that ran the cluster in itself (api.attached: a topology
            # script, a test session) goes back to leaving orphans to init: nothing
            # here waits for the orphans it would adopt later, and an unreaped one
            # in a container's PID namespace keeps that container from ending.
            zygote.become_subreaper(False)
            self._was_subreaper = None


def nodes_ready_text(ready: set, want: set) -> str:
    """Progress while waiting for Nodes, e.g. ``2/3 worker nodes Ready``."""
    return f"{len(ready & want)}/{len(want)} worker nodes Ready"
