"""The upstream network-policy test model and its connectivity truth table.

The model is the one Kubernetes' e2e suite uses: namespaces x, y and z
(labelled ``ns=<name>``), Pods a, b and c in each (labelled ``pod=<name>``),
each serving ports 80 and 81 over TCP and UDP (and SCTP where the kernel has
it) under the named ports ``serve-<port>-<proto>``. A table maps every
(source Pod, destination Pod) pair to allowed or not for one protocol and port;
`expected_table` computes it from policies with the oracle, the probe fills the
observed one with packets, and `format_table` shows both with the cells that
differ marked.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from k8snet.policy.model import ContainerPort, PodFacts, Policy
from k8snet.policy.oracle import Endpoint, verdict

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
PORTS = (80, 81)
PROTOCOLS = ("TCP", "UDP", "SCTP")
Table = dict[tuple[str, str], bool]


def port_name(port: int, protocol: str) -> str:
    """The e2e model's name of a served port, e.g. serve-80-tcp."""
    return f"serve-{port}-{protocol.lower()}"


def model_namespaces(extra: Optional[dict[str, dict]] = None) -> dict[str, dict]:
    """Namespace -> labels of the model (``extra`` labels merged per namespace)."""
    out = {}
    for ns in NAMESPACES:
        out[ns] = {"kubernetes.io/metadata.name": ns, "ns": ns, **((extra or {}).get(ns) or {})}
    return out


def model_pods(ips: Optional[dict[str, str]] = None, nodes: Optional[dict[str, str]] = None,
               labels: Optional[dict[str, dict]] = None,
               protocols: Iterable[str] = PROTOCOLS) -> list[PodFacts]:
    """The nine Pods; by default with made-up IPs 10.244.<ns#>.<10+pod#> on nodes w1..w3."""
    out = []
    ports = tuple(ContainerPort(port_name(p, proto), p, proto)
                  for proto in protocols for p in PORTS)
    for n, ns in enumerate(NAMESPACES, 1):
        for i, pod in enumerate(PODS):
            key = f"{ns}/{pod}"
            out.append(PodFacts(
                namespace=ns, name=pod, labels={"pod": pod, **((labels or {}).get(key) or {})},
                ip=(ips or {}).get(key, f"10.244.{n}.{10 + i}"),
                node=(nodes or {}).get(key, f"w{1 + i}"), ports=ports))
    return out


def pod_keys() -> list[str]:
    return [f"{ns}/{pod}" for ns in NAMESPACES for pod in PODS]


def expected_table(policies: list[Policy], namespaces: dict[str, dict],
                   pods: list[PodFacts], protocol: str, port: int) -> Table:
    """(source, destination) -> allowed, for every ordered pair of model Pods."""
    by_key = {p.key: p for p in pods}
    return {(s, d): verdict(policies, namespaces, Endpoint.of(by_key[s]),
                            Endpoint.of(by_key[d]), protocol, port).allowed
            for s in pod_keys() for d in pod_keys()}


def explain(policies: list[Policy], namespaces: dict[str, dict], pods: list[PodFacts],
            src: str, dst: str, protocol: str, port: int) -> str:
    """Why one cell is what it is (the policy and rule that decided)."""
    by_key = {p.key: p for p in pods}
    return verdict(policies, namespaces, Endpoint.of(by_key[src]), Endpoint.of(by_key[dst]),
                   protocol, port).reason


def differences(expected: Table, observed: Table) -> list[tuple[str, str]]:
    """The cells where observed differs from expected (missing observations count)."""
    return sorted(k for k, v in expected.items() if observed.get(k) is not v)


def format_table(expected: Table, observed: Optional[Table] = None, title: str = "") -> str:
    """The truth table as text: ``.`` allowed, ``X`` denied, ``!`` where observed differs
    from expected (the observed value follows in the legend)."""
    keys = pod_keys()
    width = max(len(k) for k in keys)
    lines = [title] if title else []
    lines.append(" " * (width + 1) + " ".join(k.rjust(width) for k in keys))
    for src in keys:
        cells = []
        for dst in keys:
            want = expected[(src, dst)]
            mark = "." if want else "X"
            if observed is not None and observed.get((src, dst)) is not want:
                mark = "!"
            cells.append(mark.rjust(width))
        lines.append(src.ljust(width) + " " + " ".join(cells))
    if observed is not None:
        diff = differences(expected, observed)
        lines.append(f"{len(diff)} of {len(expected)} cells differ"
                     + ("" if not diff else ": " + ", ".join(
                         f"{s}->{d} expected {'allow' if expected[(s, d)] else 'deny'}, saw "
                         f"{_word(observed.get((s, d)))}" for s, d in diff)))
    return "\n".join(lines)


def _word(value: Optional[bool]) -> str:
    return "nothing" if value is None else ("allow" if value else "deny")


def table_json(expected: Table, observed: Optional[Table] = None) -> dict:
    """A JSON-ready document of one table: cells with expected, observed and match."""
    cells = []
    for (src, dst), want in sorted(expected.items()):
        cell = {"from": src, "to": dst, "expected": want}
        if observed is not None:
            cell["observed"] = observed.get((src, dst))
            cell["match"] = observed.get((src, dst)) is want
        cells.append(cell)
    return {"cells": cells, "differ": len(differences(expected, observed))
            if observed is not None else None}


# ------------------------------------------------ hand-written expectations


@dataclass(frozen=True)
class Step:
    """One line of a hand-written expectation: allow or deny every pair matching a glob
    of ``src->dst`` (later steps win)."""

    allow: bool
    pattern: str


def table_from_steps(steps: Iterable[Step]) -> Table:
    """A table from steps applied in order to an all-allowed table."""
    table = {(s, d): True for s in pod_keys() for d in pod_keys()}
    for step in steps:
        src_glob, _, dst_glob = step.pattern.partition("->")
        if not dst_glob:
            raise ValueError(f"pattern {step.pattern!r} must read SRC->DST")
        for s, d in table:
            if fnmatch.fnmatchcase(s, src_glob.strip()) and fnmatch.fnmatchcase(
                    d, dst_glob.strip()):
                table[(s, d)] = step.allow
    return table


_IP_REF = re.compile(r"\{ip:([a-z0-9-]+/[a-z0-9-]+)(/\d+)?\}")


def substitute_ips(text: str, pods: Iterable[PodFacts]) -> str:
    """Replace ``{ip:ns/pod}`` (or ``{ip:ns/pod/24}``, the network around it) with the
    Pod's address, so one case reads the same with made-up and real addresses."""
    ips = {p.key: p.ip for p in pods}

    def repl(match: re.Match) -> str:
        ip = ips.get(match.group(1))
        if not ip:
            raise ValueError(f"no address for {match.group(1)}")
        if match.group(2):
            return str(ipaddress.ip_network(ip + match.group(2), strict=False))
        return ip

    return _IP_REF.sub(repl, text)
