"""What counts as a pass: pure verdicts over what the probe observed.

Each function takes plain data gathered by the effect layer (addresses,
answers, decoded captures) and returns a `Verdict` whose evidence lines say
what was sent and what was seen where. Nothing here sends or sniffs.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from k8snet.probe.model import Exchange, Verdict, failed, passed, skipped
from k8snet.probe.packets import Packet

# ------------------------------------------------------------ unique-pod-ip


@dataclass(frozen=True)
class PodAddress:
    """What was found out about one Pod's address."""

    pod: str                      # namespace/name
    node: str
    pod_ip: str                   # status.podIP
    node_cidr: str                # the node's spec.podCIDR
    eth0: Optional[List[str]]     # IPv4 addresses on eth0 inside the Pod (None: not looked)
    echo_sent: int = 0            # echo requests sent to pod_ip from its node
    echo_answered: int = 0        # echo replies received
    replies_in_pod: int = 0       # rise of the Pod netns' ICMP OutEchoReps counter


def unique_pod_ip(pods: Sequence[PodAddress]) -> Verdict:
    """Each Pod: one address on eth0 = its podIP, inside its node's podCIDR,
    unique cluster-wide, answering echo requests from inside its namespace."""
    if not pods:
        return skipped("no running Pod with an address to look at")
    problems, evidence = [], []
    owners: Dict[str, List[str]] = {}
    for p in pods:
        owners.setdefault(p.pod_ip, []).append(p.pod)
        where = f"{p.pod} on {p.node}: podIP {p.pod_ip}"
        try:
            inside = ipaddress.ip_address(p.pod_ip) in ipaddress.ip_network(p.node_cidr)
        except ValueError:
            inside = False
        if not inside:
            problems.append(f"{p.pod}: {p.pod_ip} is outside {p.node}'s podCIDR {p.node_cidr}")
        if p.eth0 is None:
            problems.append(f"{p.pod}: could not read eth0 inside the Pod")
        elif p.eth0 != [p.pod_ip]:
            problems.append(f"{p.pod}: eth0 has {p.eth0 or 'no address'}, expected [{p.pod_ip}]")
        if p.echo_answered < 1:
            problems.append(f"{p.pod}: {p.echo_sent} echo request(s) from {p.node}, none answered")
        elif p.replies_in_pod < p.echo_answered:
            problems.append(f"{p.pod}: answers came from outside the Pod (OutEchoReps rose "
                            f"by {p.replies_in_pod}, {p.echo_answered} answers)")
        evidence.append(f"{where} in {p.node_cidr}; eth0 {p.eth0}; echo {p.echo_answered}/"
                        f"{p.echo_sent} answered, {p.replies_in_pod} replies counted in the Pod")
    for ip, names in sorted(owners.items()):
        if len(names) > 1:
            problems.append(f"{ip} is used by {len(names)} Pods: {', '.join(sorted(names))}")
    if problems:
        return failed("; ".join(problems), problems + evidence)
    return passed(f"{len(pods)} Pods, {len(owners)} distinct addresses, each answering "
                  "from inside its Pod", evidence)


# ------------------------------------------------------ intra-pod-localhost


def intra_pod_localhost(pod: str, tcp_answer: Optional[str], udp_answer: Optional[str],
                        lo: Sequence[Packet], eth0: Sequence[Packet],
                        ports: Sequence[int]) -> Verdict:
    """Two containers of ``pod`` talk over 127.0.0.1 (TCP and UDP; the server
    reports the client as 127.0.0.1), the exchange shows on ``lo`` and no
    loopback-addressed packet ever shows on eth0."""
    problems = []
    for proto, answer in (("tcp", tcp_answer), ("udp", udp_answer)):
        if not answer:
            problems.append(f"{proto}: no answer over 127.0.0.1")
        elif not answer.strip().startswith("127.0.0.1"):
            problems.append(f"{proto}: the server saw client {answer.strip()!r}, not 127.0.0.1")
    seen = {p.dport for p in lo if p.src == "127.0.0.1"} | \
        {p.sport for p in lo if p.src == "127.0.0.1"}
    for port in ports:
        if port not in seen:
            problems.append(f"no packet for port {port} captured on lo")
    leaked = [p for p in eth0 if p.src and (p.src.startswith("127.") or
                                            (p.dst or "").startswith("127."))]
    if leaked:
        problems.append(f"{len(leaked)} loopback packet(s) on eth0: {leaked[0].summary()}")
    evidence = [f"{pod}: tcp 127.0.0.1:{ports[0]} answered {tcp_answer!r}",
                f"{pod}: udp 127.0.0.1:{ports[-1]} answered {udp_answer!r}",
                f"lo: {len(lo)} frames captured, ports {sorted(p for p in seen if p in ports)}",
                f"eth0: {len(eth0)} frames captured, {len(leaked)} with a 127/8 address"]
    if problems:
        return failed("; ".join(problems), evidence)
    return passed("containers talk over 127.0.0.1 (TCP and UDP); nothing shows on eth0",
                  evidence)


# ------------------------------------------------------------ exchanges


def exchanges(results: Sequence[Exchange], what: str,
              need_protos: Iterable[str] = ("icmp", "tcp", "udp"),
              both_ways: bool = True, none_reason: str = "") -> Verdict:
    """Every exchange answered, every protocol covered (in both directions
    between each pair when ``both_ways``)."""
    if not results:
        return skipped(none_reason or f"nothing to test for {what}")
    need = set(need_protos)
    problems = [r.line() for r in results if not r.ok]
    pairs: Dict[frozenset, set] = {}
    for r in results:
        pairs.setdefault(frozenset((r.src, r.dst)), set()).add((r.src, r.proto))
    if both_ways:
        for pair, done in pairs.items():
            for end in pair:
                missing = need - {proto for src, proto in done if src == end}
                if missing and len(pair) == 2:
                    problems.append(f"{end} -> {' '.join(sorted(pair - {end}))}: "
                                    f"{', '.join(sorted(missing))} not tested")
    evidence = [r.line() for r in results]
    ok = sum(r.ok for r in results)
    if problems:
        bad = len(results) - ok
        head = f"{bad} of {len(results)} {what} exchanges failed" if bad else "incomplete"
        return failed(f"{head}: {problems[0]}", evidence)
    return passed(f"{ok}/{ok} {what} exchanges answered "
                  f"({', '.join(sorted({r.proto for r in results}))})", evidence)


# ------------------------------------------------------------------ no-nat


@dataclass(frozen=True)
class Marked:
    """A crafted packet: what it carried when it left its sender."""

    sender: str
    receiver: str
    src: str
    dst: str
    sport: int
    dport: int
    ident: int
    marker: bytes
    proto: str = "udp"


def no_nat(sent: Sequence[Marked], captured: Dict[str, Sequence[Packet]]) -> Verdict:
    """Each marked packet is captured at its receiver's eth0 (``captured``
    keyed by receiver) with source, destination and ports unchanged."""
    if not sent:
        return skipped("no Pod pair to send a marked packet between")
    problems, evidence = [], []
    for m in sent:
        got = [p for p in captured.get(m.receiver, ()) if m.marker in p.innermost().payload]
        want = f"{m.proto} {m.src}:{m.sport} > {m.dst}:{m.dport} id {m.ident}"
        if not got:
            problems.append(f"{m.sender} -> {m.receiver}: the packet sent as {want} never "
                            "reached the receiver's eth0")
            evidence.append(f"sent {want} payload {m.marker!r}; not captured at {m.receiver}")
            continue
        p = got[0].innermost()
        changed = [f"{name} {old} -> {new}" for name, old, new in (
            ("source", m.src, p.src), ("destination", m.dst, p.dst),
            ("source port", m.sport, p.sport), ("destination port", m.dport, p.dport))
            if old != new]
        evidence.append(f"sent {want}; captured at {m.receiver} eth0: {p.summary()}")
        if p.ident != m.ident:
            evidence.append(f"  (IP ID {m.ident} -> {p.ident})")
        if changed:
            problems.append(f"{m.sender} -> {m.receiver}: rewritten: {', '.join(changed)}")
    if problems:
        return failed("; ".join(problems), evidence)
    return passed(f"{len(sent)} marked packet(s) arrived with addresses and ports unchanged",
                  evidence)


# ---------------------------------------------------------- service-clusterip


@dataclass(frozen=True)
class ServiceProbe:
    """Tries through a ClusterIP and what answered."""

    service: str
    cluster_ip: str
    port: int
    endpoints: Dict[str, str]        # hostname (Pod name) -> Pod IP, Ready endpoints
    hits: Dict[str, int]             # hostname -> answers
    tries: int
    errors: List[str] = field(default_factory=list)
    udp_answers: int = -1            # -1: UDP not tried
    removed: Optional[str] = None    # endpoint taken out of the Service
    removed_after: Optional[float] = None   # seconds until it stopped receiving (None: never)
    deadline: float = 0.0


def service_clusterip(s: ServiceProbe) -> Verdict:
    """Every Ready endpoint answered through the ClusterIP; a removed endpoint
    stopped receiving within the deadline."""
    if not s.endpoints:
        return failed(f"service {s.service} has no Ready endpoint", [])
    evidence = [f"{s.service} {s.cluster_ip}:{s.port}, endpoints "
                + ", ".join(f"{h} {ip}" for h, ip in sorted(s.endpoints.items())),
                f"{s.tries} tries: " + ", ".join(f"{h} {n}" for h, n in sorted(s.hits.items()))]
    evidence += [f"error: {e}" for e in s.errors[:5]]
    problems = []
    missing = sorted(set(s.endpoints) - {h for h, n in s.hits.items() if n > 0})
    if missing:
        problems.append(f"endpoint(s) never answered in {s.tries} tries: {', '.join(missing)}")
    strangers = sorted(set(s.hits) - set(s.endpoints))
    if strangers:
        problems.append(f"answers from non-endpoints: {', '.join(strangers)}")
    if s.udp_answers == 0:
        problems.append("no UDP answer through the ClusterIP")
    elif s.udp_answers > 0:
        evidence.append(f"udp: {s.udp_answers} answer(s) through the ClusterIP")
    if s.removed is not None:
        if s.removed_after is None:
            problems.append(f"{s.removed} still received {s.deadline:.0f}s after leaving "
                            "the endpoints")
        else:
            evidence.append(f"{s.removed} removed from the endpoints: stopped receiving after "
                            f"{s.removed_after:.1f}s (deadline {s.deadline:.0f}s)")
    if problems:
        return failed("; ".join(problems), evidence)
    return passed(f"all {len(s.endpoints)} endpoints answered through {s.cluster_ip}"
                  + (f"; a removed endpoint stopped receiving in {s.removed_after:.1f}s"
                     if s.removed is not None else ""), evidence)


# --------------------------------------------------- service-nodeport-external


@dataclass(frozen=True)
class NodePortTry:
    """Tries from an outside host to one node's NodePort."""

    node: str
    node_ip: str
    port: int
    tries: int
    answers: Dict[str, int]          # hostname -> count
    errors: List[str] = field(default_factory=list)


def service_nodeport(source: str, results: Sequence[NodePortTry],
                     app: Iterable[str]) -> Verdict:
    """From outside, every node's NodePort answers every try, from the app."""
    if not results:
        return skipped("no worker node to try")
    app = set(app)
    problems, evidence = [], []
    for r in results:
        got = sum(r.answers.values())
        evidence.append(f"{source} -> {r.node} {r.node_ip}:{r.port}: {got}/{r.tries} answered "
                        f"by {', '.join(f'{h} {n}' for h, n in sorted(r.answers.items())) or '-'}"
                        + (f"; {r.errors[0]}" if r.errors else ""))
        if got < r.tries:
            problems.append(f"{r.node} {r.node_ip}:{r.port}: {r.tries - got} of {r.tries} "
                            "tries unanswered")
        strangers = set(r.answers) - app
        if strangers:
            problems.append(f"{r.node}: answered by non-endpoints {sorted(strangers)}")
    if problems:
        return failed("; ".join(problems), evidence)
    return passed(f"the NodePort answered from {source} on all {len(results)} nodes", evidence)


# ------------------------------------------------------------------ pod-mtu


@dataclass(frozen=True)
class MtuProbe:
    """A DF echo size search from one Pod to another."""

    src: str
    dst: str
    largest: Optional[int]           # largest IP packet answered (None: none)
    smallest_failed: Optional[int]   # smallest size that got no answer
    failure: str = ""                # why smallest_failed failed (EMSGSIZE, timeout)
    captured: Sequence[Packet] = ()  # the probe's echo requests captured at dst's eth0


def pod_mtu(configured: int, probes: Sequence[MtuProbe]) -> Verdict:
    """The largest unfragmented Pod-to-Pod packet equals the configured MTU."""
    if not probes:
        return skipped("no Pod pair to measure")
    problems, evidence = [], [f"configured Pod MTU: {configured}"]
    for m in probes:
        whole = [p for p in m.captured if not p.is_fragment and p.df]
        biggest = max((p.total_len for p in whole), default=None)
        evidence.append(f"{m.src} -> {m.dst}: largest DF packet answered {m.largest}, "
                        f"{m.smallest_failed} failed ({m.failure or 'n/a'}); largest captured "
                        f"whole at the receiver {biggest}")
        if m.largest is None:
            problems.append(f"{m.src} -> {m.dst}: no size got through")
        elif m.largest != configured:
            problems.append(f"{m.src} -> {m.dst}: largest unfragmented packet {m.largest}, "
                            f"configured {configured}")
        elif biggest != configured:
            problems.append(f"{m.src} -> {m.dst}: the receiver captured {biggest} at most, "
                            f"expected a whole {configured}-byte packet")
    if problems:
        return failed("; ".join(problems), evidence)
    return passed(f"largest unfragmented Pod-to-Pod packet = {configured} bytes "
                  f"on {len(probes)} path(s)", evidence)


def hits_of(answers: Iterable[str]) -> Dict[str, int]:
    """Count answers (hostnames), ignoring empty ones."""
    return dict(Counter(a.strip() for a in answers if a and a.strip()))
