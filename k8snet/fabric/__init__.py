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
  subnets and (issue #5) for the Pod network; the controller answers ARP for them.
- ``routes``: ``prefix`` reached via host ``via`` (Pod CIDR behind a node, a
  subnet behind a host). Optional. Replaceable at run time
  (:meth:`Planner.set_routes`; the launcher's ``--routes-file`` takes a file
  ``{"routes": [...]}`` or a bare list and reloads it when it changes).

Forwarding model (three tables):

- table 0 (classify): ARP to the controller (answered there, never flooded);
  IPv4 whose Ethernet destination is a gateway MAC goes to table 1 (routed);
  other IPv4 to table 2 (bridged within a subnet). Everything else is dropped.
- table 1 (route): longest-prefix match on ``ipv4_dst`` (each host /32, each
  route prefix) sets ``eth_src`` to the gateway MAC of the next hop's subnet,
  ``eth_dst`` to the next-hop host's MAC and decrements the TTL, then table 2.
  This happens at the ingress switch only: the fabric is one router, so a
  routed packet loses exactly one TTL; transit switches see an ordinary
  bridged frame to a host MAC.
- table 2 (forward): ``eth_dst`` = host MAC to the host's port on its own
  switch, else to a SELECT group per destination switch whose buckets are the
  equal-cost next-hop ports (``watch_port`` set, so a dead port leaves its
  group at once, before the controller recomputes).

No action ever rewrites an IP address or an L4 port.

Running it: ``python -m controllers.launcher --facts FILE --ofp-port PORT --log FILE
[--routes-file FILE]`` (see ``controllers/launcher.py``). Changing routes at run
time: rewrite the routes file (picked up within a second), or from inside the
app call ``FabricApp.post_routes(routes)`` (thread-safe; validate with
:func:`k8snet.fabric.facts.parse_routes`). On a port event only what changed is
sent (:mod:`k8snet.fabric.diff`); a switch that (re)connects is wiped and gets
its whole plan.

Modules: ``facts`` (format, validation), ``topology`` (graph, equal-cost next
hops), ``plan`` (flows and groups per switch), ``diff``, ``arp``, ``planner``
(state + events), ``specs`` (dataclasses), ``fakenet`` (a fake multi-switch
flow table that follows packets, for tests), ``sample`` (leaf-spine example).
"""
