"""Plain data shared by the probe's decisions and effects.

A check's outcome is a `Verdict` (pass, fail or skip with a reason, plus
evidence lines); the runner times it and makes a `Row`. Rows render as a
table or as the stable JSON documented in docs/PROBES.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List

PASS, FAIL, SKIP = "pass", "fail", "skip"

# Check names, in the order the probe runs them.
CHECKS = (
    "unique-pod-ip",
    "intra-pod-localhost",
    "pod-to-pod-same-node",
    "pod-to-pod-cross-node",
    "no-nat",
    "node-to-pod",
    "pod-to-node",
    "service-nodeport-external",
    "service-clusterip",
    "pod-mtu",
    "dns-service",
    "dns-headless",
    "dns-pod-to-dns-path",
    "dns-external",
)

JSON_VERSION = 1


@dataclass(frozen=True)
class Verdict:
    """What a check concluded and why."""

    verdict: str
    reason: str
    evidence: List[str] = field(default_factory=list)


def passed(reason: str, evidence: List[str]) -> Verdict:
    return Verdict(PASS, reason, list(evidence))


def failed(reason: str, evidence: List[str]) -> Verdict:
    return Verdict(FAIL, reason, list(evidence))


def skipped(reason: str, evidence: List[str] = ()) -> Verdict:
    return Verdict(SKIP, reason, list(evidence))


@dataclass(frozen=True)
class Row:
    """One line of the probe's report."""

    name: str
    verdict: str
    reason: str
    evidence: List[str]
    duration: float

    def to_dict(self) -> Dict:
        out = asdict(self)
        out["duration"] = round(self.duration, 3)
        return out


def row(name: str, verdict: Verdict, duration: float) -> Row:
    return Row(name, verdict.verdict, verdict.reason, list(verdict.evidence), duration)


@dataclass(frozen=True)
class Exchange:
    """One request/answer between two endpoints (a Pod, a node, a host)."""

    src: str          # who sent: "pod default/a", "node w1", "host ext1"
    dst: str
    src_ip: str
    dst_ip: str
    proto: str        # icmp, tcp, udp
    ok: bool
    detail: str = ""  # what came back, or why nothing did

    def line(self) -> str:
        mark = "ok" if self.ok else "FAILED"
        return (f"{self.proto} {self.src} ({self.src_ip}) -> {self.dst} ({self.dst_ip}): "
                f"{mark}{': ' + self.detail if self.detail else ''}")
