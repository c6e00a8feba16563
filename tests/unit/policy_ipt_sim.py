"""A small interpreter of the iptables-restore input k8snet.policy.render_ipt writes.

It applies the transaction to a filter table (built-in chains, -N by
declaration, -A, -I, -D, -X) and says what FORWARD does with the first packet
of a connection, so the unit tests check that the rendered text, not only the
compiled model, means what the oracle says. It knows exactly the matches the
renderer emits and raises on anything else.
"""

from __future__ import annotations

import ipaddress
import shlex


class Table:
    def __init__(self, chains=None):
        self.chains: dict[str, list[list[str]]] = chains or {"FORWARD": [], "INPUT": [],
                                                             "OUTPUT": []}

    def restore(self, text: str) -> None:
        """Apply one --noflush transaction (raises on what iptables-restore would refuse)."""
        chains = {k: list(v) for k, v in self.chains.items()}
        for line in text.splitlines():
            if line in ("*filter", "COMMIT") or not line.strip():
                continue
            if line.startswith(":"):
                chains[line[1:].split()[0]] = []          # declared: created or flushed
                continue
            words = shlex.split(line)
            op, chain, rule = words[0], words[1], words[2:]
            if chain not in chains:
                raise ValueError(f"no chain {chain}: {line}")
            if op == "-A":
                chains[chain].append(rule)
            elif op == "-I":
                chains[chain].insert(int(rule[0]) - 1, rule[1:])
            elif op == "-D":
                chains[chain].remove(rule)                # ValueError when absent, as iptables
            elif op == "-X":
                if any(r[r.index("-j") + 1] == chain for rules in chains.values() for r in rules):
                    raise ValueError(f"chain {chain} still referenced")
                del chains[chain]
            else:
                raise ValueError(f"simulator does not know: {line}")
        for rules in chains.values():
            for r in rules:
                target = r[r.index("-j") + 1]
                if target not in ("ACCEPT", "DROP", "RETURN") and target not in chains:
                    raise ValueError(f"jump to missing chain {target}")
        self.chains = chains

    def save(self) -> str:
        """iptables-save -t filter, as far as render_ipt reads it."""
        lines = ["*filter"] + [f":{c} {'ACCEPT' if c.isupper() and '-' not in c else '-'} [0:0]"
                               for c in self.chains]
        lines += [f"-A {c} " + shlex.join(r) for c, rules in self.chains.items() for r in rules]
        return "\n".join(lines + ["COMMIT"]) + "\n"


def _in(ip: str, spec: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(spec, strict=False)


def _matches(rule: list[str], pkt: dict) -> tuple[bool, str]:
    i, target = 0, ""
    while i < len(rule):
        word = rule[i]
        if word in ("-s", "-d"):
            if not _in(pkt["src" if word == "-s" else "dst"], rule[i + 1]):
                return False, ""
            i += 2
        elif word == "-p":
            if pkt["proto"].lower() != rule[i + 1]:
                return False, ""
            i += 2
        elif word == "-m" and rule[i + 1] in ("tcp", "udp", "sctp"):
            assert rule[i + 2] == "--dport", rule
            lo, _, hi = rule[i + 3].partition(":")
            if not int(lo) <= pkt["port"] <= int(hi or lo):
                return False, ""
            i += 4
        elif word == "-m" and rule[i + 1] == "iprange":
            lo, hi = (ipaddress.ip_address(x) for x in rule[i + 3].split("-"))
            addr = ipaddress.ip_address(pkt["src" if rule[i + 2] == "--src-range" else "dst"])
            if not lo <= addr <= hi:
                return False, ""
            i += 4
        elif word == "-m" and rule[i + 1] == "conntrack":
            return False, ""        # the simulated packet opens a connection
        elif word == "-m" and rule[i + 1] == "comment":
            i += 4
        elif word == "-j":
            target = rule[i + 1]
            i += 2
        else:
            raise ValueError(f"simulator does not know: {rule[i:]}")
    return True, target


def run_chain(table: Table, chain: str, pkt: dict, trail: list[str]) -> str:
    for rule in table.chains[chain]:
        matched, target = _matches(rule, pkt)
        if not matched:
            continue
        if target in ("ACCEPT", "DROP"):
            trail.append(f"{chain}: {shlex.join(rule)}")
            return target
        if target == "RETURN":
            return "RETURN"
        verdict = run_chain(table, target, pkt, trail)
        if verdict != "RETURN":
            return verdict
    return "RETURN"


def forward(table: Table, src: str, dst: str, proto: str, port: int) -> tuple[bool, list[str]]:
    """Whether FORWARD (policy ACCEPT) passes the first packet, and the rule that decided."""
    trail: list[str] = []
    verdict = run_chain(table, "FORWARD", {"src": src, "dst": dst, "proto": proto,
                                           "port": port}, trail)
    return verdict != "DROP", trail
