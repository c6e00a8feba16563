"""Pure planning code for the os-ken fabric controller (issue #2, routed mode of #5).

Nothing here imports os_ken: the app in ``controllers/fabric_app.py`` is a shim
that hands OpenFlow events to :class:`k8snet.fabric.planner.Planner` and sends
the flow and group specifications it returns.

Topology facts are handed over by the testbed (not discovered with LLDP): the
testbed built every link and knows every port, so facts are exact from the
first second and there is no discovery delay or probe traffic. Liveness comes
from the switches (OFPPortStatus, port description replies).

Facts file (JSON)::

    {"switches": [{"name": "knk8s-l1", "dpid": 17, "role": "leaf"}],
     "links": [{"a": "knk8s-l1", "a_port": 3, "b": "knk8s-s1", "b_port": 1}],
     "hosts": [{"name": "w1", "ip": "10.0.0.2", "prefixlen": 16,
                "mac": "02:4b:00:00:00:02", "switch": "knk8s-l1", "port": 1,
                "role": "worker"}],
     "gateways": [{"ip": "10.0.255.254", "prefixlen": 16, "mac": "02:4b:ff:00:00:01"}],
     "routes": [{"prefix": "10.244.1.0/24", "via": "w1"}]}

- ``switches[].role`` is ``leaf``, ``spine`` or ``edge``; informational (paths are
  shortest paths over the link graph whatever the roles). ``dpid`` is an int
  (a string is read as hex, with or without ``0x``, as ``ovs-vsctl`` prints it).
- ``links`` are inter-switch links; parallel links are allowed and are ECMP members.
- ``hosts[].role`` is free text (``master``, ``worker``, ``external``, ...);
  optional, default ``host``.
- ``gateways``: fabric router addresses. Hosts use them as next hop for other
  subnets and (issue #5) for the Pod network; the switches answer ARP for them.
- ``routes``: ``prefix`` reached via host ``via`` (Pod CIDR behind a node, a
  subnet behind a host). Optional. Replaceable at run time
  (:meth:`Planner.set_routes`; the launcher's ``--routes-file`` takes a file
  ``{"routes": [...]}`` or a bare list and reloads it when it changes).

Forwarding model (three tables). The fabric is an L3 fabric for routed traffic,
Calico-on-a-routed-fabric style: every switch a routed packet crosses is a
router hop. Each switch has a router MAC, ``02:4b:fe:<24-bit switch index>``
(:func:`k8snet.fabric.plan.router_mac`; that range is reserved).

- table 0 (classify): ARP requests for known addresses answered in the switch
  (the responder), other ARP to the controller (never flooded);
  IPv4 whose Ethernet destination is a gateway MAC (from a host) or this
  switch's router MAC (from the previous routed hop) goes to table 1 (routed);
  other IPv4 to table 2 (bridged within a subnet). Everything else is dropped.
- table 1 (route): longest-prefix match on ``ipv4_dst``: one aggregated entry per
  route prefix (a node's Pod CIDR: tables grow with nodes, not Pods) and one per
  host /32. On the switch of the prefix's host (last hop): ``eth_src`` = this
  router MAC, ``eth_dst`` = the host's MAC, TTL -1, then table 2. On any other
  switch: ``eth_src`` = this router MAC, TTL -1, then a routed SELECT group
  towards the host's switch (id ``0x10000 + switch index``) whose buckets each
  set ``eth_dst`` to the next switch's router MAC and output on one equal-cost
  port (``watch_port`` set). So a Pod packet from a node under leaf 1 to a node
  under leaf 2 loses 3 TTL on the fabric (leaf, spine, leaf), one on a single
  switch, plus one on each node that routes it. Switches cut off from the
  host's switch hold no entry for it (dropped there, not sent into a dead end).
- table 2 (forward, bridged): ``eth_dst`` = host MAC to the host's port on its
  own switch (a routed packet for a prefix behind its own sender hairpins out
  of the ingress port), else to a bridged SELECT group per destination switch
  (id = switch index) whose buckets are the equal-cost ports, output only.

Node-to-node traffic inside one subnet stays bridged (TTL and MACs untouched);
only traffic sent to a gateway is routed hop by hop.

No action ever rewrites an IP address or an L4 port: only ``eth_src``,
``eth_dst`` and the TTL change.

Routed vs overlay mode (issue #5): in routed mode (the default) the app
watches Nodes on the apiserver (``controllers/nodewatch.py``; mapping in
:mod:`k8snet.fabric.nodes`, pure) and routes each Node's ``spec.podCIDR`` to
the fabric host whose address is the Node's InternalIP; a Node that goes away
takes its route with it. Routes from the routes file and from Nodes are merged
(the file wins on the same prefix). In overlay mode the app never routes Pod
CIDRs: the fabric carries node addresses only (VXLAN between nodes). In macvlan
mode (an underlay, GKE's model) Pods are macvlan children of their node's fabric
interface and the app routes every Pod as a /32 (:mod:`k8snet.fabric.pods`):
it watches Nodes (where each block lives, and the block's Pod gateway, its first
address, which the app answers ARP for) and Pods (which addresses exist,
``controllers/podwatch.py``), learns each Pod's MAC from ARP on its node's edge
port (asking with an ARP request of its own when it has none), and installs one
table-1 entry per Pod on every switch (cookie ``COOKIE_POD_ROUTE``): the last hop
rewrites ``eth_dst`` to the Pod's MAC and outputs on the node's port. A Pod that
goes takes its entry with it. Tables grow with Pods in this mode.

Running it: ``python -m controllers.launcher --facts FILE --ofp-port PORT --log FILE
[--routes-file FILE] [--mode routed|overlay] [--kubeconfig FILE]`` (see
``controllers/launcher.py``; the testbed passes ``--mode`` and, when it runs
Kubernetes, ``--kubeconfig /run/k8snet/<cluster>/kubeconfig``, which the app waits
for). Changing routes at run time: rewrite the routes file (picked up within a
second), or from inside the app call ``FabricApp.post_routes(routes)``
(thread-safe, replaces the file's set; validate with
:func:`k8snet.fabric.facts.parse_routes`). On a port event only what changed is
sent (:mod:`k8snet.fabric.diff`); a switch that (re)connects is read first
(its flows and groups) and sent only what differs from its plan
(:mod:`k8snet.fabric.warmstart`), so a controller restart costs no packet.

The data plane does not need the controller: switches run in secure fail mode
(they keep their flows while no controller is connected; installed flows have no
idle or hard timeout), and they answer ARP for gateways, Pod gateways and
attached hosts themselves (responder flows in table 0, see
:func:`k8snet.fabric.arp.responder_targets`); ARP the responder does not answer
still goes to the controller (macvlan mode learns Pod MACs from it). Spines
reach adjacent leaves through fast-failover groups that bounce packets off
another leaf when the link is cut (:mod:`k8snet.fabric.detour`), so a spine link
cut costs what OVS takes to see the port down, not a controller round trip.

Modules: ``facts`` (format, validation), ``topology`` (graph, equal-cost next
hops), ``plan`` (flows and groups per switch), ``nodes`` (Nodes -> Pod CIDR
routes), ``pods`` (macvlan: Pods + ARP -> Pod /32 routes), ``diff``, ``arp``, ``planner``
(state + events), ``detour`` (spine link failover), ``warmstart`` (read-then-diff
on connect), ``specs`` (dataclasses), ``fakenet`` (a fake multi-switch flow table
that follows packets, for tests), ``sample`` (leaf-spine example).
"""
