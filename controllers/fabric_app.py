"""The os-ken fabric app: a shim between OpenFlow events and k8snet.fabric.Planner.

Configuration comes from the environment, set by ``controllers.launcher``:
``K8SNET_FABRIC_FACTS`` (facts file, required), ``K8SNET_FABRIC_ROUTES``
(optional routes file, polled for changes every second), ``K8SNET_FABRIC_MODE``
(``routed``, the default, ``overlay`` or ``macvlan``) and ``K8SNET_FABRIC_KUBECONFIG``
(routed mode: watch Nodes there and route each podCIDR to its node; macvlan mode:
watch Nodes and Pods there and route each Pod as a /32, see k8snet.fabric.pods).

Routes have two sources, kept apart and merged on the event thread: the
routes file and the Node watch (the file wins on the same prefix).

The switches do not need this app to forward: they answer ARP and fail over
spine links themselves (see k8snet.fabric). A switch that connects is first
read (ports, groups, flows) and then sent only what differs from its plan
(warm start), so restarting the app costs no packet.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Iterable, Optional

from os_ken.base import app_manager
from os_ken.controller import event, ofp_event
from os_ken.controller.handler import (
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from controllers.messages import (
    build_messages,
    flow_spec,
    group_spec,
    more_parts,
    packet_out,
    port_is_up,
    read_requests,
)
from controllers.nodewatch import NodeWatcher
from controllers.podwatch import PodWatcher
from controllers.policywatch import PolicyWatcher
from k8snet.errors import K8snetError
from k8snet.fabric.arp import build_arp, parse_arp
from k8snet.fabric.facts import Route, load_facts, load_routes
from k8snet.fabric.nodes import merge_routes
from k8snet.fabric.planner import Planner
from k8snet.fabric.pods import PodTable, arp_probe
from k8snet.fabric.policy import plan_policy
from k8snet.fabric.specs import COOKIE_ARP_REPLY, SwitchChanges
from k8snet.fabric.warmstart import Reading, describe, warm_start

ENV_FACTS = "K8SNET_FABRIC_FACTS"
ENV_ROUTES = "K8SNET_FABRIC_ROUTES"
ENV_MODE = "K8SNET_FABRIC_MODE"
ENV_KUBECONFIG = "K8SNET_FABRIC_KUBECONFIG"
ROUTES_POLL_SECONDS = 1.0
PROBE_SECONDS = 1.0  # macvlan: how often live Pods without a known MAC are asked for it
SOURCE_FILE = "file"
SOURCE_NODES = "nodes"
POLICY_STATUS_NAME = "fabric-policy.status"  # beside the facts: what the leaves enforce
# Beside the facts, written once every switch of the facts has had its flows
# installed (barrier answered) since this controller started: what `up` waits for.
READY_NAME = "fabric.ready"


def routes_pod_cidrs(mode: str, kubeconfig: Optional[str]) -> bool:
    """Whether the app watches Nodes and routes their Pod CIDRs: routed mode only (in
    overlay mode the fabric carries node addresses only), and only with an apiserver."""
    return mode in ("routed", "macvlan") and bool(kubeconfig)


class EventRoutes(event.EventBase):
    """New routes from one source (``file`` or ``nodes``), queued so only the app's
    event thread touches the planner; ``seen`` is when the source saw them (monotonic)."""

    def __init__(self, routes: tuple[Route, ...], why: str, source: str = SOURCE_FILE,
                 seen: Optional[float] = None) -> None:
        super().__init__()
        self.routes = routes
        self.why = why
        self.source = source
        self.seen = time.monotonic() if seen is None else seen


class EventPods(event.EventBase):
    """Macvlan mode: the live Pod addresses (from the Pod watch), for the event thread."""

    def __init__(self, ips: frozenset, why: str, seen: float) -> None:
        super().__init__()
        self.ips, self.why, self.seen = ips, why, seen


class EventPolicy(event.EventBase):
    """Macvlan mode: the current NetworkPolicies, Pods and Namespaces, for the event thread."""

    def __init__(self, objects: dict, versions: dict, why: str, seen: float) -> None:
        super().__init__()
        self.objects, self.versions, self.why, self.seen = objects, versions, why, seen


class EventProbe(event.EventBase):
    """Macvlan mode: time to ask unresolved Pods for their MAC."""


class FabricApp(app_manager.OSKenApp):
    """Proactive shortest-path/ECMP fabric whose switches answer ARP themselves."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.planner = Planner(load_facts(os.environ[ENV_FACTS]))
        self.routes_file: Optional[str] = os.environ.get(ENV_ROUTES) or None
        self.mode = os.environ.get(ENV_MODE) or "routed"
        self.kubeconfig: Optional[str] = os.environ.get(ENV_KUBECONFIG) or None
        self.datapaths: dict[int, Any] = {}
        self.reading: dict[int, Reading] = {}  # switches whose tables are being read
        self.connected_at: dict[int, float] = {}
        self.pending: dict[tuple[int, int], tuple[str, float]] = {}  # barrier -> (why, t0)
        self.batches: list[tuple[str, float, set]] = []  # (why, t0, barriers outstanding)
        self.sources: dict[str, tuple[Route, ...]] = {
            SOURCE_FILE: self.planner.facts.routes, SOURCE_NODES: ()}
        self.node_stop = threading.Event()
        self.pods: Optional[PodTable] = (PodTable.for_facts(self.planner.facts)
                                         if self.mode == "macvlan" else None)
        self.policy_objects: Optional[dict] = None  # macvlan: what NetworkPolicy depends on
        self.policy_versions: dict[str, str] = {}
        self.policy_wait: Optional[tuple[dict, set]] = None  # (status, barriers outstanding)
        self.policy_status_file = os.path.join(os.path.dirname(os.environ[ENV_FACTS]),
                                               POLICY_STATUS_NAME)
        self.ready_file = os.path.join(os.path.dirname(os.environ[ENV_FACTS]), READY_NAME)
        self.installed: set[int] = set()  # switches whose connect flows are in
        self.logger.info("fabric: %d switches, %d links, %d hosts, %d gateways",
                         len(self.planner.facts.switches), len(self.planner.facts.links),
                         len(self.planner.facts.hosts), len(self.planner.facts.gateways))

    def start(self) -> Any:
        """Start the event loop, and the routes-file watcher when one is configured."""
        thread = super().start()
        if self.routes_file:
            self.threads.append(hub.spawn(self._watch_routes))
        if routes_pod_cidrs(self.mode, self.kubeconfig):
            NodeWatcher(self.kubeconfig, self.planner.facts.hosts, self.post_node_routes,
                        self.logger).start(self.node_stop)
            if self.pods is not None:
                PodWatcher(self.kubeconfig, self.post_pods, log=self.logger).start(
                    self.node_stop)
                PolicyWatcher(self.kubeconfig, self.post_policy, log=self.logger).start(
                    self.node_stop)
                self.threads.append(hub.spawn(self._probe_loop))
        else:
            self.logger.info("mode %s: Pod CIDRs are not routed by the fabric%s", self.mode,
                             "" if self.mode == "overlay" else " (no kubeconfig given)")
        return thread

    def stop(self) -> None:
        """Stop the Node watch too."""
        self.node_stop.set()
        super().stop()

    # --- the one place that sends --------------------------------------------------
    def send(self, changes: Iterable[SwitchChanges], why: str, t0: float) -> set:
        """Send planned changes to the connected switches, timing them to the last barrier
        (per switch, and once for the whole batch when it spans several switches)."""
        batch: set[tuple[int, int]] = set()
        for c in changes:
            dp = self.datapaths.get(c.dpid)
            if dp is None or c.dpid in self.reading:
                continue  # gets what it lacks once its tables are read (warm start)
            msgs = build_messages(dp, c)
            for m in msgs:
                dp.send_msg(m)
            self.pending[(c.dpid, msgs[-1].xid)] = (why, t0)
            batch.add((c.dpid, msgs[-1].xid))
            self.logger.info("%s: %d changes sent to %s", why, len(c),
                             self.planner.name_of(c.dpid))
        if len(batch) > 1:
            self.batches.append((why, t0, batch))
        return batch

    def post_routes(self, routes: Iterable[Route], why: str = "routes",
                    source: str = SOURCE_FILE, seen: Optional[float] = None) -> None:
        """Replace the routes of one source at run time; safe from any thread.
        Validate first with ``k8snet.fabric.facts.parse_routes``."""
        self.send_event(self.name, EventRoutes(tuple(routes), why, source, seen))

    def post_node_routes(self, routes: tuple[Route, ...], why: str, seen: float) -> None:
        """The Node watch's callback: its routes replace the previous Node routes."""
        self.post_routes(routes, why, SOURCE_NODES, seen)

    def post_pods(self, ips: frozenset, why: str, seen: float) -> None:
        """The Pod watch's callback (macvlan mode): the live Pod addresses."""
        self.send_event(self.name, EventPods(ips, why, seen))

    def post_policy(self, objects: dict, versions: dict, why: str, seen: float) -> None:
        """The policy watch's callback (macvlan mode): NetworkPolicies, Pods, Namespaces."""
        self.send_event(self.name, EventPolicy(objects, versions, why, seen))

    @set_ev_cls(EventRoutes)
    def on_routes(self, ev: EventRoutes) -> None:
        self.sources[ev.source] = ev.routes
        self._apply_routes(ev.why, ev.seen)
        if ev.source == SOURCE_NODES:
            self._apply_policy(ev.why, ev.seen)  # the Pod blocks unknown Pods drop in

    @set_ev_cls(EventPolicy)
    def on_policy(self, ev: EventPolicy) -> None:
        self.policy_objects, self.policy_versions = ev.objects, ev.versions
        self._apply_policy(ev.why, ev.seen)

    def _apply_policy(self, why: str, seen: float) -> None:
        """Macvlan mode: plan the leaves' NetworkPolicy flows and send the difference."""
        if self.policy_objects is None:
            return
        objs = self.policy_objects
        plan = plan_policy(objs["networkpolicies"].values(), objs["pods"].values(),
                           objs["namespaces"].values(),
                           [r.prefix for r in self.sources[SOURCE_NODES]])
        for reason in plan.skipped:
            self.logger.warning("policy not enforced: %s", reason)
        changes = self.planner.set_policy(plan)
        if changes:
            self.logger.info("%s: %d policies, %d isolated Pods, %d flows per leaf", why,
                             plan.policies, plan.pods, len(plan.flows))
        status = {"versions": dict(self.policy_versions), "flows": len(plan.flows),
                  "pods": plan.pods,
                  "policies": {k: (v.get("metadata") or {}).get("resourceVersion")
                               for k, v in sorted(objs["networkpolicies"].items())}}
        self.policy_wait = (status, self.send(changes, why, seen))
        self._policy_installed(None)

    def _policy_installed(self, barrier: Optional[tuple[int, int]]) -> None:
        """Once every switch confirmed the last policy change (barrier replies), write
        what the fabric enforces, in the policy agents' status format (the probe waits
        on it as on theirs)."""
        if self.policy_wait is None:
            return
        status, outstanding = self.policy_wait
        outstanding.discard(barrier)
        if outstanding:
            return
        self.policy_wait = None
        tmp = self.policy_status_file + ".tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({**status, "applied_at": time.time()}, fh)
            os.replace(tmp, self.policy_status_file)
        except OSError as exc:
            self.logger.warning("cannot write %s: %s", self.policy_status_file, exc)

    def _apply_routes(self, why: str, seen: float) -> None:
        """Routed: file + Node blocks. Macvlan: file + one /32 per resolved Pod (Node
        blocks only say where Pods live and which Pod gateways to answer)."""
        changes = []
        if self.pods is None:
            dynamic = self.sources[SOURCE_NODES]
        else:
            self.pods.set_blocks(self.sources[SOURCE_NODES])
            changes += self.planner.set_pod_gateways(self.pods.gateways())
            dynamic = self.pods.routes()
        merged = merge_routes(self.sources[SOURCE_FILE], dynamic)
        self.send(changes + self.planner.set_routes(merged), why, seen)

    @set_ev_cls(EventPods)
    def on_pods(self, ev: EventPods) -> None:
        if self.pods is not None:
            self.pods.set_live(ev.ips)
            self._apply_routes(ev.why, ev.seen)
            self.on_probe(EventProbe())  # new Pods without a MAC: ask now, not next second

    @set_ev_cls(EventProbe)
    def on_probe(self, ev: EventProbe) -> None:
        """Ask every live Pod without a known MAC, on its node's port (ARP request from
        its Pod gateway); the reply comes back as a packet-in and is learned there."""
        if self.pods is None:
            return
        for ip, via in self.pods.unresolved():
            host = self.planner.facts.host(via)
            request = arp_probe(self.pods, ip)
            dp = self.datapaths.get(self.planner.facts.switch(host.switch).dpid)
            if dp is not None and request is not None:
                dp.send_msg(packet_out(dp, host.port, build_arp(request)))

    def _probe_loop(self) -> None:
        while self.is_active:
            hub.sleep(PROBE_SECONDS)
            self.send_event(self.name, EventProbe())

    # --- handlers (all run on the app's one event thread) -----------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def on_features(self, ev: Any) -> None:
        """A switch connected: ask for its ports, then read its tables (warm start: the
        plan is sent as a diff against what the switch still holds, never wiped)."""
        dp = ev.msg.datapath
        if not self.planner.knows(dp.id):
            self.logger.warning("ignoring switch with unknown dpid %#x", dp.id)
            return
        self.datapaths[dp.id] = dp
        self.reading[dp.id] = Reading()
        self.connected_at[dp.id] = time.monotonic()
        dp.send_msg(dp.ofproto_parser.OFPPortDescStatsRequest(dp, 0))
        for request in read_requests(dp):
            dp.send_msg(request)

    @set_ev_cls(ofp_event.EventOFPGroupDescStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def on_group_desc(self, ev: Any) -> None:
        dp = ev.msg.datapath
        reading = self.reading.get(dp.id)
        if reading is not None:
            reading.add_groups([group_spec(dp.ofproto, g) for g in ev.msg.body],
                               more_parts(dp.ofproto, ev.msg))
            self._read_done(dp)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def on_flow_stats(self, ev: Any) -> None:
        dp = ev.msg.datapath
        reading = self.reading.get(dp.id)
        if reading is not None:
            reading.add_flows([flow_spec(dp.ofproto, f) for f in ev.msg.body],
                              more_parts(dp.ofproto, ev.msg))
            self._read_done(dp)

    def _read_done(self, dp: Any) -> None:
        """Once both tables are read: send the switch what differs from its plan. The
        port description was answered first (requests are answered in order), so the
        plan already knows which of its ports are down."""
        reading = self.reading[dp.id]
        if not reading.complete:
            return
        del self.reading[dp.id]
        held = reading.held()
        changes = warm_start(dp.id, held, self.planner.plans[self.planner.name_of(dp.id)])
        self.logger.info("warm start %s: %s", self.planner.name_of(dp.id),
                         describe(held, changes))
        self.send([changes], "connect", self.connected_at.pop(dp.id, time.monotonic()))

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def on_port_desc(self, ev: Any) -> None:
        dp, t0 = ev.msg.datapath, time.monotonic()
        if self.planner.knows(dp.id):
            live = [p.port_no for p in ev.msg.body if port_is_up(dp.ofproto, p)]
            self.send(self.planner.ports_reported(dp.id, live), "port-desc", t0)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def on_port_status(self, ev: Any) -> None:
        msg, t0 = ev.msg, time.monotonic()
        dp, desc = msg.datapath, msg.desc
        up = msg.reason != dp.ofproto.OFPPR_DELETE and port_is_up(dp.ofproto, desc)
        if self.planner.knows(dp.id):
            why = f"port {self.planner.name_of(dp.id)}:{desc.port_no} {'up' if up else 'down'}"
            changes = self.planner.port_changed(dp.id, desc.port_no, up)
            self.logger.info("%s: %d switches to change", why, len(changes))
            self.send(changes, why, t0)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def on_packet_in(self, ev: Any) -> None:
        msg = ev.msg
        if self.pods is not None and self.planner.knows(msg.datapath.id):
            arp = parse_arp(msg.data)
            learned = arp and self.pods.learn(arp, self.planner.name_of(msg.datapath.id),
                                              msg.match["in_port"])
            if learned:
                self.logger.info("learned %s at %s on %s", learned.ip, learned.mac,
                                 learned.via)
                self._apply_routes(f"arp: {learned.ip} is {learned.mac} on {learned.via}",
                                   time.monotonic())
        if getattr(msg, "cookie", None) == COOKIE_ARP_REPLY:
            return  # a copy from a responder flow: the switch has answered already
        reply = self.planner.arp_reply(msg.data)
        if reply is not None:
            msg.datapath.send_msg(packet_out(msg.datapath, msg.match["in_port"], reply))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def on_barrier(self, ev: Any) -> None:
        key = (ev.msg.datapath.id, ev.msg.xid)
        done = self.pending.pop(key, None)
        if done is not None:
            why, t0 = done
            self.logger.info("%s: installed on %s after %.1f ms", why,
                             self.planner.name_of(ev.msg.datapath.id),
                             (time.monotonic() - t0) * 1000)
            if why == "connect":
                self._connect_installed(ev.msg.datapath.id)
        self._batch_done(key)
        self._policy_installed(key)

    def _connect_installed(self, dpid: int) -> None:
        """Note a switch's flows in; once every switch's are, write the ready file."""
        complete = len(self.installed) == len(self.planner.facts.switches)
        self.installed.add(dpid)
        if complete or len(self.installed) < len(self.planner.facts.switches):
            return
        try:
            with open(self.ready_file + ".tmp", "w") as fh:
                fh.write(f"{time.time():.3f}\n")
            os.replace(self.ready_file + ".tmp", self.ready_file)
        except OSError as exc:
            self.logger.warning("cannot write %s: %s", self.ready_file, exc)

    def _batch_done(self, key: tuple[int, int]) -> None:
        still = []
        for why, t0, outstanding in self.batches:
            outstanding.discard(key)
            if outstanding:
                still.append((why, t0, outstanding))
            else:
                self.logger.info("%s: installed on every switch %.1f ms after it was seen",
                                 why, (time.monotonic() - t0) * 1000)
        self.batches = still

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    def on_error(self, ev: Any) -> None:
        msg = ev.msg
        self.logger.error("switch %#x error type=%d code=%d", msg.datapath.id, msg.type, msg.code)

    @set_ev_cls(ofp_event.EventOFPStateChange, DEAD_DISPATCHER)
    def on_disconnect(self, ev: Any) -> None:
        dp = ev.datapath
        if dp.id is not None and self.datapaths.get(dp.id) is dp:
            del self.datapaths[dp.id]
            self.reading.pop(dp.id, None)
            self.connected_at.pop(dp.id, None)
            self.pending = {k: v for k, v in self.pending.items() if k[0] != dp.id}
            self.batches = [(why, t0, {k for k in keys if k[0] != dp.id})
                            for why, t0, keys in self.batches]
            self.batches = [b for b in self.batches if b[2]]  # (not all installed: no figure)
            self.logger.info("switch %#x disconnected", dp.id)

    # --- routes file ---------------------------------------------------------------
    def _watch_routes(self) -> None:
        seen: Optional[tuple[float, int]] = None
        while self.is_active:
            try:
                st = os.stat(self.routes_file)
                stamp = (st.st_mtime, st.st_size)
            except OSError:
                stamp = None
            if stamp is not None and stamp != seen:
                seen = stamp
                try:
                    self.post_routes(load_routes(self.routes_file, self.planner.facts),
                                     f"routes file {self.routes_file}")
                except K8snetError as exc:
                    self.logger.error("%s (keeping the current routes)", exc)
            hub.sleep(ROUTES_POLL_SECONDS)
