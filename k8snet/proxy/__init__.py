"""kube-proxy for k8snet: Services and EndpointSlices to iptables or nftables rules.

Layout: `model` turns API objects into plain records; `render_iptables` and
`render_nft` are pure renderers of those records; `apply` runs
iptables-restore / nft; `loop` watches the apiserver; `main` is the command.
"""

MODES = ("iptables", "nftables")  # how kube-proxy programs Services
