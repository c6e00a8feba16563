"""Render one node's compiled policy as an nftables script, applied in one `nft -f`.

The table (``ip k8snet-policy``) is rebuilt whole in each transaction (add,
delete, add again: nft applies the file atomically, so there is never a moment
without rules). Its shape, in Felix's spirit:

- base chains on the forward hook (Pod traffic routed through the node: in
  routed mode every Pod packet, in overlay mode every packet that is not
  bridged between two Pods of the node) and the input hook (a Pod talking to
  its own node). Both accept replies of allowed flows first (conntrack
  established/related), so rules only ever judge a connection's first packet;
- ``ip saddr vmap @egress-pods`` sends a packet from an egress-isolated local
  Pod to that Pod's egress chain, which ``return``s when a rule allows it and
  drops at its end; then ``ip daddr vmap @ingress-pods`` sends it to the
  destination's ingress chain, which ``accept``s or drops. Each rule carries
  the policy and rule index it came from as its comment; each final drop
  counts, so `k8snet trace` can tell where a denied packet died;
- while a Pod bound to this node that some policy isolates has no known
  address yet, packets from or to any Pod address the agent does not know are
  dropped (``@known-pods``): a Pod is isolated before its first packet, even
  though its address reaches the apiserver only after it starts.

Named sets hold the peer addresses a rule's selectors resolve to, one set per
distinct address list, shared by every Pod the rule applies to.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.policy.compile import Allow, PodRules, PortRange
from k8snet.policy.model import EGRESS, INGRESS

FAMILY = "ip"
TABLE = "k8snet-policy"
INGRESS_MAP = "ingress-pods"
EGRESS_MAP = "egress-pods"
KNOWN_SET = "known-pods"
PRIORITY = "filter - 5"   # before kube-proxy's and anything else's filter chains


@dataclass(frozen=True)
class NodeView:
    """What the renderer needs beyond the compiled Pods."""

    cluster_cidr: str = "10.244.0.0/16"
    known_ips: tuple[str, ...] = ()   # every Pod address the agent knows (cluster-wide)
    pending: bool = False             # an isolated local Pod has no address yet


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _digest(text: str, size: int = 8) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:size]


def chain_name(direction: str, pod: str) -> str:
    """``in-<ns>-<pod>-<hash>`` / ``eg-...``: readable, unique, short enough for nft."""
    prefix = "in" if direction == INGRESS else "eg"
    return f"{prefix}-{_slug(pod)[:40]}-{_digest(pod, 6)}"


def set_name(addresses: tuple[str, ...]) -> str:
    return "peers-" + _digest(",".join(addresses), 12)


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'")[:120] + '"'


def _port_matches(ports: Optional[tuple[PortRange, ...]]) -> list[str]:
    """One match expression per protocol ('' for any protocol and port)."""
    if ports is None:
        return [""]
    out = []
    for protocol in sorted({p.protocol for p in ports}):
        ranges = [p for p in ports if p.protocol == protocol]
        proto = protocol.lower()
        if any(r.every for r in ranges):
            out.append(f"meta l4proto {proto}")
            continue
        items = ", ".join(str(r.first) if r.first == r.last else f"{r.first}-{r.last}"
                          for r in ranges)
        out.append(f"meta l4proto {proto} th dport {{ {items} }}")
    return out


def _peer_matches(allow: Allow, field: str) -> list[str]:
    if allow.any_peer:
        return [""]
    out = []
    if allow.addresses:
        out.append(f"ip {field} @{set_name(allow.addresses)}")
    for block in allow.blocks:
        text = f"ip {field} {block.cidr}"
        if block.excepts:
            text += f" ip {field} != {{ {', '.join(block.excepts)} }}"
        out.append(text)
    return out


def allow_rules(allow: Allow, verdict: str) -> list[str]:
    """The nft rules of one compiled entry."""
    field = "saddr" if allow.direction == INGRESS else "daddr"
    rules = []
    for peer in _peer_matches(allow, field):
        for port in _port_matches(allow.ports):
            match = " ".join(x for x in (peer, port) if x)
            rules.append(f"{match} {verdict} comment {_quote(allow.origin)}".strip())
    return rules


def deny_comment(rules: PodRules, direction: str) -> str:
    """The final drop's comment: the Pod, the direction and the policies isolating it
    there (what `k8snet trace` reports when it counts a packet)."""
    by = rules.ingress_by if direction == INGRESS else rules.egress_by
    return f"{rules.pod}: default deny {direction.lower()}" + (f" by {' '.join(by)}" if by else "")


def pod_chain(rules: PodRules, direction: str) -> list[str]:
    """The body of one Pod's chain for one direction (allow rules, then a counted drop)."""
    allows = rules.ingress if direction == INGRESS else rules.egress
    verdict = "accept" if direction == INGRESS else "return"
    body = []
    for allow in allows or ():
        body += allow_rules(allow, verdict)
    body.append(f"counter drop comment {_quote(deny_comment(rules, direction))}")
    return body


def address_sets(pods: Iterable[PodRules]) -> dict[str, tuple[str, ...]]:
    """Named set name -> addresses, for every address list a rule uses."""
    out = {}
    for rules in pods:
        for allow in (rules.ingress or ()) + (rules.egress or ()):
            if allow.addresses:
                out[set_name(allow.addresses)] = allow.addresses
    return out


def render(pods: list[PodRules], view: NodeView) -> str:
    """The whole `nft -f` script for this node."""
    lines = [f"table {FAMILY} {TABLE} {{}}", f"delete table {FAMILY} {TABLE}",
             f"table {FAMILY} {TABLE} {{"]
    for name, addresses in sorted(address_sets(pods).items()):
        lines.append(f"  set {name} {{ type ipv4_addr; elements = {{ "
                     f"{', '.join(addresses)} }}; }}")
    # the set is read only by the pending rule below: filled only then, so a Pod that
    # comes or goes elsewhere in the cluster leaves this node's script as it was
    known = sorted(set(view.known_ips)) if view.pending else []
    lines.append(f"  set {KNOWN_SET} {{ type ipv4_addr;"
                 + (f" elements = {{ {', '.join(known)} }};" if known else "") + " }")
    for map_name, direction in ((INGRESS_MAP, INGRESS), (EGRESS_MAP, EGRESS)):
        items = [f"{r.ip} : jump {chain_name(direction, r.pod)}" for r in pods
                 if (r.ingress if direction == INGRESS else r.egress) is not None]
        lines.append(f"  map {map_name} {{ type ipv4_addr : verdict;"
                     + (f" elements = {{ {', '.join(items)} }};" if items else "") + " }")
    lines.append("  chain filter-forward {")
    lines.append(f"    type filter hook forward priority {PRIORITY}; policy accept;")
    lines.append("    ct state established,related accept")
    if view.pending:
        for field in ("saddr", "daddr"):
            lines.append(f"    ip {field} {view.cluster_cidr} ip {field} != @{KNOWN_SET} "
                         f"counter drop comment \"unknown Pod address: isolation pending\"")
    lines.append(f"    ip saddr vmap @{EGRESS_MAP}")
    lines.append(f"    ip daddr vmap @{INGRESS_MAP}")
    lines.append("  }")
    lines.append("  chain filter-input {")
    lines.append(f"    type filter hook input priority {PRIORITY}; policy accept;")
    lines.append("    ct state established,related accept")
    lines.append(f"    ip saddr vmap @{EGRESS_MAP}")
    lines.append("  }")
    for rules in pods:
        for direction in (INGRESS, EGRESS):
            if (rules.ingress if direction == INGRESS else rules.egress) is None:
                continue
            lines.append(f"  chain {chain_name(direction, rules.pod)} {{")
            lines += [f"    {rule}" for rule in pod_chain(rules, direction)]
            lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def cleanup_script() -> str:
    """Remove the table (and nothing else)."""
    return f"table {FAMILY} {TABLE} {{}}\ndelete table {FAMILY} {TABLE}\n"


def rule_count(script: str) -> int:
    """Rules in a rendered script: the lines inside chains, hook declarations aside."""
    count, inside = 0, False
    for line in script.splitlines():
        text = line.strip()
        if text.startswith("chain ") and text.endswith("{"):
            inside = True
        elif text == "}":
            inside = False
        elif inside and not text.startswith("type "):
            count += 1
    return count
