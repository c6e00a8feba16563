"""A tiny evaluator of the nat rules k8snet renders, for unit tests.

It follows one packet from KUBE-SERVICES through jumps, splitting on the
statistic match, and returns each outcome's probability: (DNAT target or
None, masquerade marked). Only the matches the renderer uses are known;
anything else fails loudly so the tests cannot silently pass.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    proto: str
    dport: int
    local_ips: tuple[str, ...] = ()
    recent: frozenset = frozenset()  # recent-list names that contain the source


def nat_chains(text: str) -> dict[str, list[list[str]]]:
    chains: dict[str, list[list[str]]] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif table == "nat" and line.startswith(":"):
            chains.setdefault(line[1:].split()[0], [])
        elif table == "nat" and line.startswith("-A "):
            tokens = shlex.split(line)
            chains.setdefault(tokens[1], []).append(tokens[2:])
    return chains


def _in(addr: str, cidr: str) -> bool:
    return ipaddress.ip_address(addr) in ipaddress.ip_network(cidr, strict=False)


def _matches(tokens: list[str], pkt: Packet) -> tuple[bool, float, str, str]:
    """(deterministic match, probability, target, DNAT destination)."""
    ok, prob, target, to = True, 1.0, "", ""
    i, negate = 0, False
    while i < len(tokens):
        t = tokens[i]
        if t == "!":
            negate = True
            i += 1
            continue
        arg = tokens[i + 1] if i + 1 < len(tokens) else ""
        if t in ("-s", "-d"):
            hit = _in(pkt.src if t == "-s" else pkt.dst, arg)
            ok &= hit != negate
            i += 2
        elif t == "-p":
            ok &= arg == pkt.proto
            i += 2
        elif t == "--dport":
            ok &= int(arg) == pkt.dport
            i += 2
        elif t == "-m":
            i += 2
        elif t == "--comment":
            i += 2
        elif t in ("--dst-type", "--src-type"):
            assert arg == "LOCAL", tokens
            ok &= (pkt.dst if t == "--dst-type" else pkt.src) in pkt.local_ips
            i += 2
        elif t == "--mode":
            assert arg == "random"
            i += 2
        elif t == "--probability":
            prob = float(arg)
            i += 2
        elif t == "--name":
            name = arg
            i += 2
        elif t in ("--mask", "--seconds"):
            i += 2
        elif t in ("--rsource", "--reap", "--set"):
            i += 1
        elif t == "--rcheck":
            ok &= name in pkt.recent
            i += 1
        elif t == "-j":
            target = arg
            i += 2
        elif t == "--to-destination":
            to = arg
            i += 2
        else:
            raise AssertionError(f"simulator does not know {t!r} in {tokens}")
        negate = False
    return ok, prob, target, to


def outcomes(text: str, pkt: Packet) -> dict[tuple, float]:
    """Probability of each (DNAT destination or None, masquerade marked)."""
    chains = nat_chains(text)
    result: dict[tuple, float] = {}

    def walk(chain: str, p: float, masq: bool, depth: int = 0) -> list[tuple[float, bool]]:
        """Returns the (probability, masq) that fall through back to the caller."""
        assert depth < 10, "jump loop"
        flows = [(p, masq)]
        for rule in chains[chain]:
            ok, prob, target, to = _matches(rule, pkt)
            nxt = []
            for fp, fm in flows:
                if not ok or fp == 0:
                    nxt.append((fp, fm))
                    continue
                taken, rest = fp * prob, fp * (1 - prob)
                if rest:
                    nxt.append((rest, fm))
                if target == "KUBE-MARK-MASQ":
                    nxt.append((taken, True))
                elif target == "DNAT":
                    result[(to, fm)] = result.get((to, fm), 0.0) + taken
                elif target == "RETURN":
                    pass
                elif target in ("REJECT", "DROP"):
                    result[(target, fm)] = result.get((target, fm), 0.0) + taken
                else:
                    nxt += walk(target, taken, fm, depth + 1)
            flows = [f for f in nxt if f[0] > 1e-12]
        return flows

    for fp, fm in walk("KUBE-SERVICES", 1.0, False):
        result[(None, fm)] = result.get((None, fm), 0.0) + fp
    return result
