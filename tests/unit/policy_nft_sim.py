"""A small interpreter of the nft scripts k8snet.policy.render_nft writes.

It reads the script's text back (sets, verdict maps, chains, rules) and says
what the forward hook does with the first packet of a connection, so the unit
tests can check that the rendered text, not only the compiled model, means
what the oracle says. It understands exactly the subset the renderer emits and
raises on anything else, so a renderer change it does not know fails loudly.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field


@dataclass
class Ruleset:
    sets: dict[str, set[str]] = field(default_factory=dict)
    maps: dict[str, dict[str, str]] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)


def _items(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def parse(script: str) -> Ruleset:
    rs = Ruleset()
    chain = None
    for raw in script.splitlines():
        line = raw.strip()
        if m := re.match(r"set (\S+) \{ type ipv4_addr;(?: elements = \{ (.*) \};)? \}$", line):
            rs.sets[m.group(1)] = set(_items(m.group(2) or ""))
        elif m := re.match(r"map (\S+) \{ type ipv4_addr : verdict;"
                           r"(?: elements = \{ (.*) \};)? \}$", line):
            rs.maps[m.group(1)] = {k.strip(): v.strip() for k, v in (
                item.split(":") for item in _items(m.group(2) or ""))}
        elif m := re.match(r"chain (\S+) \{$", line):
            chain = m.group(1)
            rs.chains[chain] = []
        elif line == "}":
            chain = None
        elif chain and not line.startswith("type "):
            rs.chains[chain].append(line)
    return rs


def _in(ip: str, spec: str, rs: Ruleset) -> bool:
    if spec.startswith("@"):
        return ip in rs.sets[spec[1:]]
    items = _items(spec.strip("{} ")) if spec.startswith("{") else [spec]
    addr = ipaddress.ip_address(ip)
    return any(addr in ipaddress.ip_network(i, strict=False) for i in items)


def _port_in(port: int, spec: str) -> bool:
    for item in _items(spec.strip("{} ")):
        lo, _, hi = item.partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False


TOKEN = re.compile(r"(ip (saddr|daddr) (!= )?(\{[^}]*\}|\S+))|(meta l4proto (\w+))|"
                   r"(th dport (\{[^}]*\}|\S+))|(ct state \S+)|(counter)|"
                   r"(accept|drop|return)|(comment \".*\")")


def _rule(line: str, rs: Ruleset, pkt: dict) -> tuple[bool, str]:
    """(matched, verdict) of one rule for one packet."""
    pos = 0
    verdict = ""
    text = line.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"simulator does not know: {text[pos:]!r}")
        pos = m.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if m.group(1):
            field, neg, spec = m.group(2), bool(m.group(3)), m.group(4)
            hit = _in(pkt["src" if field == "saddr" else "dst"], spec, rs)
            if hit == neg:
                return False, ""
        elif m.group(5):
            if pkt["proto"] != m.group(6).upper():
                return False, ""
        elif m.group(7):
            if not _port_in(pkt["port"], m.group(8)):
                return False, ""
        elif m.group(9):
            return False, ""   # conntrack state: the simulated packet opens a connection
        elif m.group(11):
            verdict = m.group(11)
    return True, verdict


def run_chain(rs: Ruleset, chain: str, pkt: dict, trail: list[str]) -> str:
    """'accept', 'drop' or 'return' (fell off the end) of one chain."""
    for line in rs.chains[chain]:
        vm = re.match(r"ip (saddr|daddr) vmap @(\S+)$", line)
        if vm:
            target = rs.maps[vm.group(2)].get(pkt["src" if vm.group(1) == "saddr" else "dst"])
            if target:
                verdict = run_chain(rs, target.split()[1], pkt, trail)
                if verdict in ("accept", "drop"):
                    return verdict
            continue
        matched, verdict = _rule(line, rs, pkt)
        if matched and verdict:
            trail.append(f"{chain}: {line}")
            return verdict
    return "return"


def forward(rs: Ruleset, src: str, dst: str, proto: str, port: int) -> tuple[bool, list[str]]:
    """Whether the forward hook passes the first packet (policy accept), and the rule
    that decided."""
    trail: list[str] = []
    pkt = {"src": src, "dst": dst, "proto": proto, "port": port}
    verdict = run_chain(rs, "filter-forward", pkt, trail)
    return verdict != "drop", trail
