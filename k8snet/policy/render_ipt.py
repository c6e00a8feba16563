"""Render one node's compiled policy as iptables-restore input (the filter table).

The same shape as the nftables rendering (k8snet/policy/render_nft.py), in
iptables' terms, for nodes where the policy agent runs with ``--backend
iptables``:

- ``K8SNET-POL-FWD`` (jumped to first from FORWARD) and ``K8SNET-POL-IN``
  (from INPUT) accept replies of allowed flows (conntrack), then send a packet
  from an egress-isolated local Pod to that Pod's ``K8SNET-POL-E-<hash>``
  chain; a packet that is not egress-isolated, or that an egress rule allows,
  goes on to ``K8SNET-POL-TO``, which sends a packet to an ingress-isolated
  local Pod to its ``K8SNET-POL-I-<hash>`` chain and accepts the rest. Pod
  chains jump to one shared ``K8SNET-POL-A-<hash>`` chain per compiled entry
  (ACCEPT or on to TO when it matches) and drop at their end. Every rule
  carries the policy and rule index it came from as its comment, and the final
  DROP names the Pod, the direction and the isolating policies (what `k8snet
  trace` reads with iptables-save -c);
- iptables has no address sets without ipset (which is not part of the
  iptables-restore transaction), so a peer list becomes one rule per address,
  and an ipBlock with ``except`` becomes the address ranges left once the
  exceptions are cut out (``-m iprange``);
- while an isolated local Pod awaits its address, packets from or to a Pod
  address the agent does not know yet are dropped (``K8SNET-POL-PEND-S/-D``).

`restore_input` wraps a rendered body for one transaction: every chain is
declared (so flushed) and refilled, chains of Pods that left are deleted, and
the jumps from FORWARD and INPUT are (re)placed first; `iptables-restore
--noflush` applies it all or nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Optional

from k8snet.policy.compile import Allow, PodRules, PortRange
from k8snet.policy.model import EGRESS, INGRESS, IpBlock
from k8snet.policy.render_nft import NodeView, deny_comment

PREFIX = "K8SNET-POL"
FORWARD = f"{PREFIX}-FWD"
INPUT = f"{PREFIX}-IN"
TO = f"{PREFIX}-TO"
PENDING_SRC = f"{PREFIX}-PEND-S"
PENDING_DST = f"{PREFIX}-PEND-D"
HOOKS = (("FORWARD", FORWARD), ("INPUT", INPUT))
ESTABLISHED = "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"


def chain_name(direction: str, pod: str) -> str:
    """``K8SNET-POL-I-<12 hex>`` / ``-E-``: within iptables' 28 characters."""
    letter = "I" if direction == INGRESS else "E"
    return f"{PREFIX}-{letter}-{hashlib.sha1(pod.encode()).hexdigest()[:12].upper()}"


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'")[:250] + '"'


def block_ranges(block: IpBlock) -> list[tuple[str, str]]:
    """The address ranges of a CIDR once its exceptions are cut out (first, last)."""
    net = ipaddress.IPv4Network(block.cidr, strict=False)
    ranges = [(int(net.network_address), int(net.broadcast_address))]
    for text in block.excepts:
        cut = ipaddress.IPv4Network(text, strict=False)
        lo, hi = int(cut.network_address), int(cut.broadcast_address)
        out = []
        for first, last in ranges:
            if hi < first or lo > last:
                out.append((first, last))
                continue
            if first < lo:
                out.append((first, lo - 1))
            if hi < last:
                out.append((hi + 1, last))
        ranges = out
    return [(str(ipaddress.IPv4Address(a)), str(ipaddress.IPv4Address(b))) for a, b in ranges]


def _peer_matches(allow: Allow) -> list[str]:
    if allow.any_peer:
        return [""]
    flag, rng = ("-s", "--src-range") if allow.direction == INGRESS else ("-d", "--dst-range")
    out = [f"{flag} {ip}/32" for ip in allow.addresses]
    for block in allow.blocks:
        if not block.excepts:
            out.append(f"{flag} {ipaddress.IPv4Network(block.cidr, strict=False)}")
            continue
        out += [f"-m iprange {rng} {a}-{b}" for a, b in block_ranges(block)]
    return out


def _port_matches(ports: Optional[tuple[PortRange, ...]]) -> list[str]:
    if ports is None:
        return [""]
    out = []
    for r in ports:
        proto = r.protocol.lower()
        if r.every:
            out.append(f"-p {proto}")
        else:
            span = str(r.first) if r.first == r.last else f"{r.first}:{r.last}"
            out.append(f"-p {proto} -m {proto} --dport {span}")
    return sorted(set(out), key=out.index)


def allow_chain(allow: Allow) -> str:
    """``K8SNET-POL-A-<hash>``: one chain per distinct compiled entry, shared by every
    Pod the entry applies to (a rule's peers are the same for all the Pods it protects)."""
    return f"{PREFIX}-A-{hashlib.sha1(repr(allow).encode()).hexdigest()[:12].upper()}"


def allow_rules(chain: str, allow: Allow, target: str) -> list[str]:
    """The -A lines of one compiled entry."""
    return [" ".join(x for x in (f"-A {chain}", peer, port, _comment(allow.origin),
                                 f"-j {target}") if x)
            for peer in _peer_matches(allow) for port in _port_matches(allow.ports)]


def render(pods: list[PodRules], view: NodeView) -> str:
    """The filter table's chains for this node: declarations, then rules (no COMMIT).

    Every verdict is final, so entries can live in shared chains: an ingress entry
    ACCEPTs, an egress entry jumps to ``K8SNET-POL-TO``, which sends the packet on
    to its destination's ingress chain (and ACCEPTs when the destination is not an
    isolated local Pod)."""
    chains = [FORWARD, INPUT, TO]
    rules = [f"-A {FORWARD} {ESTABLISHED}", f"-A {INPUT} {ESTABLISHED}"]
    if view.pending:
        chains += [PENDING_SRC, PENDING_DST]
        for chain, flag in ((PENDING_SRC, "-s"), (PENDING_DST, "-d")):
            rules.append(f"-A {FORWARD} {flag} {view.cluster_cidr} -j {chain}")
            rules += [f"-A {chain} {flag} {ip}/32 -j RETURN" for ip in sorted(set(view.known_ips))]
            rules.append(f"-A {chain} {_comment('unknown Pod address: isolation pending')} -j DROP")
    for pod in pods:
        if pod.egress is not None:
            rules += [f"-A {hook} -s {pod.ip}/32 {_comment(pod.pod)} "
                      f"-j {chain_name(EGRESS, pod.pod)}" for hook in (FORWARD, INPUT)]
        if pod.ingress is not None:
            rules.append(f"-A {TO} -d {pod.ip}/32 {_comment(pod.pod)} "
                         f"-j {chain_name(INGRESS, pod.pod)}")
    rules += [f"-A {FORWARD} -j {TO}", f"-A {TO} -j ACCEPT"]
    shared: dict[str, list[str]] = {}
    for pod in pods:
        for direction in (INGRESS, EGRESS):
            allows = pod.ingress if direction == INGRESS else pod.egress
            if allows is None:
                continue
            chain = chain_name(direction, pod.pod)
            chains.append(chain)
            for allow in allows:
                target = allow_chain(allow)
                if target not in shared:
                    shared[target] = allow_rules(target, allow,
                                                 "ACCEPT" if direction == INGRESS else TO)
                rules.append(f"-A {chain} {_comment(allow.origin)} -j {target}")
            rules.append(f"-A {chain} {_comment(deny_comment(pod, direction))} -j DROP")
    chains += sorted(shared)
    rules += [line for name in sorted(shared) for line in shared[name]]
    return "\n".join([f":{c} - [0:0]" for c in chains] + rules) + "\n"


def rule_count(body: str) -> int:
    return sum(1 for line in body.splitlines() if line.startswith("-A "))


def existing_state(save_text: str) -> tuple[set[str], dict[str, list[str]]]:
    """(our chains, built-in chain -> its rules' targets in order) from `iptables-save
    -t filter`."""
    ours, targets = set(), {}
    for line in save_text.splitlines():
        if line.startswith(":") and line[1:].startswith(PREFIX):
            ours.add(line[1:].split()[0])
        words = line.split()
        if len(words) >= 2 and words[0] == "-A" and words[1] in ("FORWARD", "INPUT"):
            target = words[words.index("-j") + 1] if "-j" in words else ""
            targets.setdefault(words[1], []).append(target)
    return ours, targets


def restore_input(body: str, save_text: str) -> str:
    """One iptables-restore --noflush transaction making the filter table enforce
    ``body``: stale chains of ours deleted, our jumps first in FORWARD and INPUT."""
    ours, targets = existing_state(save_text)
    declared = {line[1:].split()[0] for line in body.splitlines() if line.startswith(":")}
    stale = sorted(ours - declared)
    lines = ["*filter", *[line for line in body.splitlines() if line.startswith(":")],
             *[f":{c} - [0:0]" for c in stale]]
    for builtin, chain in HOOKS:
        rules = targets.get(builtin, [])
        if rules[:1] != [chain] or rules.count(chain) != 1:
            lines += [f"-D {builtin} -j {chain}"] * rules.count(chain)
            lines.append(f"-I {builtin} 1 -j {chain}")
    lines += [line for line in body.splitlines() if not line.startswith(":")]
    lines += [f"-X {c}" for c in stale]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def cleanup_input(save_text: str) -> str:
    """Remove our jumps and chains (and nothing else); '' when there are none."""
    ours, targets = existing_state(save_text)
    if not ours:
        return ""
    lines = ["*filter", *[f":{c} - [0:0]" for c in sorted(ours)]]
    for builtin, chain in HOOKS:
        lines += [f"-D {builtin} -j {chain}"] * targets.get(builtin, []).count(chain)
    lines += [f"-X {c}" for c in sorted(ours)]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"
