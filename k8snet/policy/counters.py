"""Read a node's policy rules with their counters (for `k8snet trace`).

Both backends are read, whichever the agent runs: the nftables table and the
iptables chains (empty when that backend is not in use)."""

from __future__ import annotations

from typing import Optional

from k8snet.errors import K8snetError
from k8snet.policy import explain, render_nft
from k8snet.probe import cluster as cl

IPTABLES_TABLE = "iptables filter"


def snapshot(netns_path: Optional[str]) -> dict[str, list[explain.Rule]]:
    """table label -> its policy rules, in one node's namespace."""
    out: dict[str, list[explain.Rule]] = {}
    try:
        text = cl.in_netns(netns_path, ["nft", "-j", "list", "table", render_nft.FAMILY,
                                        render_nft.TABLE])
        out[explain.NFT_TABLE] = explain.nft_rules(text)
    except K8snetError:   # no table: this node runs the iptables backend (or no agent)
        pass
    try:
        rules = explain.iptables_rules(cl.in_netns(netns_path, ["iptables-save", "-c",
                                                                "-t", "filter"]))
        if rules:
            out[IPTABLES_TABLE] = rules
    except K8snetError:
        pass
    return out


def drops(node: str, before: dict[str, list[explain.Rule]],
          after: dict[str, list[explain.Rule]]) -> list[explain.Drop]:
    """The policy drops one node counted between two snapshots."""
    out = []
    for table, rules in after.items():
        out += explain.explain(node, table, before.get(table, []), rules)
    return out
