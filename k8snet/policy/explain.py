"""Where a denied packet died: the policy drop rules that counted it, in words.

`k8snet trace` reads every node's policy drop counters before and after its one
packet (nftables: `nft -j list table ip k8snet-policy`; iptables:
`iptables-save -c -t filter`) and hands both snapshots here. A drop rule whose
counter moved is where the packet died; its comment, written by the renderer,
names the Pod, the direction and the policies isolating it, and the allow rules
of the same chain (each commented with its policy and rule index) are the ones
that did not admit the packet. Pure: text in, plain data out.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Iterable

from k8snet.policy import render_nft

DENY = re.compile(r"^(?P<pod>\S+): default deny (?P<direction>ingress|egress)(?: by (?P<by>.*))?$")


@dataclass(frozen=True)
class Rule:
    """One rule of the policy table: its chain, position (1-based), verdict and counter."""

    chain: str
    position: int
    comment: str
    drop: bool
    packets: int
    handle: int = 0


def nft_rules(nft_json: str) -> list[Rule]:
    """The rules of `nft -j list table ip k8snet-policy`, in chain order."""
    if not nft_json.strip():
        return []
    out: list[Rule] = []
    seen: dict[str, int] = {}
    for item in json.loads(nft_json).get("nftables", []):
        rule = item.get("rule")
        if not rule:
            continue
        exprs = rule.get("expr") or []
        packets = next((e["counter"].get("packets", 0) for e in exprs if "counter" in e), 0)
        seen[rule["chain"]] = seen.get(rule["chain"], 0) + 1
        out.append(Rule(rule["chain"], seen[rule["chain"]], rule.get("comment", ""),
                        any("drop" in e for e in exprs), packets, rule.get("handle", 0)))
    return out


def iptables_rules(save_text: str, prefix: str = "K8SNET-POL") -> list[Rule]:
    """The rules of our chains in `iptables-save -c -t filter` ([packets:bytes] -A ...)."""
    out: list[Rule] = []
    seen: dict[str, int] = {}
    for line in save_text.splitlines():
        m = re.match(r"^(?:\[(\d+):\d+\] )?-A (\S+) (.*)$", line)
        if not m or not m.group(2).startswith(prefix):
            continue
        chain, words = m.group(2), shlex.split(m.group(3))
        comment = words[words.index("--comment") + 1] if "--comment" in words else ""
        target = words[words.index("-j") + 1] if "-j" in words else ""
        seen[chain] = seen.get(chain, 0) + 1
        out.append(Rule(chain, seen[chain], comment, target == "DROP", int(m.group(1) or 0)))
    return out


@dataclass(frozen=True)
class Drop:
    """A drop rule that counted the traced packet, explained."""

    node: str
    table: str
    rule: Rule
    counted: int
    pod: str = ""
    direction: str = ""
    policies: tuple[str, ...] = ()
    not_admitted_by: tuple[str, ...] = ()   # the chain's allow rules (policy rule[index])

    def text(self) -> str:
        where = (f"node {self.node}, {self.table}, chain {self.rule.chain}, "
                 f"rule {self.rule.position}"
                 + (f" (handle {self.rule.handle})" if self.rule.handle else "")
                 + f": \"{self.rule.comment}\"")
        if not self.pod:
            return f"dropped on {where}"
        why = (f"{self.pod} is isolated for {self.direction} by "
               f"{', '.join(self.policies) or 'a policy'}; ")
        why += (f"no rule admits the packet (tried {', '.join(self.not_admitted_by)})"
                if self.not_admitted_by else "those policies allow no "
                f"{self.direction} at all")
        return f"dropped on {where}\n       {why}"

    def json(self) -> dict:
        return {"node": self.node, "table": self.table, "chain": self.rule.chain,
                "rule": self.rule.position, "handle": self.rule.handle,
                "comment": self.rule.comment, "packets": self.counted, "pod": self.pod,
                "direction": self.direction, "policies": list(self.policies),
                "not_admitted_by": list(self.not_admitted_by)}

    @classmethod
    def from_json(cls, doc: dict) -> Drop:
        rule = Rule(doc["chain"], doc["rule"], doc["comment"], True, doc["packets"],
                    doc.get("handle", 0))
        return cls(doc["node"], doc["table"], rule, doc["packets"], doc.get("pod", ""),
                   doc.get("direction", ""), tuple(doc.get("policies") or ()),
                   tuple(doc.get("not_admitted_by") or ()))



def explain(node: str, table: str, before: Iterable[Rule], after: Iterable[Rule]) -> list[Drop]:
    """The drop rules of one node whose counters moved between two snapshots."""
    after = list(after)
    old = {(r.chain, r.position, r.comment): r.packets for r in before}
    out = []
    for rule in after:
        counted = rule.packets - old.get((rule.chain, rule.position, rule.comment), 0)
        if not rule.drop or counted <= 0:
            continue
        m = DENY.match(rule.comment)
        if not m:
            out.append(Drop(node, table, rule, counted))
            continue
        tried = tuple(dict.fromkeys(r.comment for r in after if r.chain == rule.chain
                                    and not r.drop and r.comment))
        out.append(Drop(node, table, rule, counted, m.group("pod"),
                        m.group("direction").capitalize(),
                        tuple((m.group("by") or "").split()), tried))
    return out


NFT_TABLE = f"table {render_nft.FAMILY} {render_nft.TABLE}"
