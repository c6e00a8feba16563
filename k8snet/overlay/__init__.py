"""Overlay mode: Flannel's VXLAN model, one agent process per node.

Per node the agent keeps a VXLAN device (``k8snet.1``: VNI 1, UDP 4789,
local = the node's address, no learning, MTU = uplink MTU - 50) addressed
``<podCIDR network>/32``, and for every other node: a route to its podCIDR
via its VTEP address (onlink), a permanent neighbour entry for that address
with its VTEP MAC, and an FDB entry sending that MAC to its node address.
No multicast, no flooding: every entry comes from the Node list. Each agent
publishes its VTEP on its own Node (annotations ``k8snet.io/vtep-mac`` and
``k8snet.io/public-ip``) so the others can program it.

Why its own process (``k8snet overlay-agent``), like flanneld, and not part
of the kubelet: the overlay is the node's network plumbing, not Pod
lifecycle. Its own process can run where no kubelet runs (masters reach Pods
through it), restarts without touching Pods, is absent in routed mode, and
its failure modes (a stale FDB entry) are separate from the kubelet's. It
costs one more small process per node.

Layout: ``model`` (plain data), ``plan`` (Nodes -> desired state, pure),
``diff`` (desired vs observed -> operations -> ``ip``/``bridge`` argv, pure),
``observe`` (parse ``ip -j`` output, pure; read it, thin), ``agent`` (the
loop: Node informer, reconcile, publish), ``main`` (the command).
"""
