"""The corpus of policy cases (cases.yaml): load them, make their objects, give the
hand-written expectation of each probe.

The unit tests check the oracle and the compiled rules against the
expectations; the integration tests apply the same cases to a real cluster
and probe them, so one corpus is the specification at every level.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import yaml

from k8snet.policy.model import PodFacts, Policy, parse_policy
from k8snet.policy.truthtable import (
    Step,
    Table,
    model_namespaces,
    model_pods,
    pod_keys,
    substitute_ips,
    table_from_steps,
)

CASES_FILE = os.path.join(os.path.dirname(__file__), "cases.yaml")


@dataclass(frozen=True)
class CaseProbe:
    protocol: str
    port: int
    steps: tuple[Step, ...]

    def expected(self) -> Table:
        """The hand-written table, loopback cells allowed."""
        table = table_from_steps(self.steps)
        for key in pod_keys():
            table[(key, key)] = True
        return table


@dataclass(frozen=True)
class Case:
    name: str
    policies: tuple[dict, ...]
    probes: tuple[CaseProbe, ...]
    core: bool = False
    namespace_labels: dict = field(default_factory=dict, compare=False, hash=False)
    pod_labels: dict = field(default_factory=dict, compare=False, hash=False)

    def objects(self, pods: Iterable[PodFacts]) -> list[dict]:
        """The NetworkPolicy objects, with ``{ip:ns/pod}`` replaced by real addresses."""
        pods = list(pods)
        out = []
        for item in self.policies:
            obj = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": item["name"], "namespace": item.get("namespace", "x")},
                   "spec": _substitute(item.get("spec") or {}, pods)}
            out.append(obj)
        return out

    def parsed(self, pods: Iterable[PodFacts]) -> list[Policy]:
        return [parse_policy(obj) for obj in self.objects(pods)]

    def namespaces(self) -> dict[str, dict]:
        return model_namespaces(self.namespace_labels)

    def pods(self, ips: Optional[dict[str, str]] = None,
             nodes: Optional[dict[str, str]] = None) -> list[PodFacts]:
        return model_pods(ips=ips, nodes=nodes, labels=self.pod_labels)


def _substitute(value: Any, pods: list[PodFacts]) -> Any:
    if isinstance(value, str):
        return substitute_ips(value, pods)
    if isinstance(value, list):
        return [_substitute(v, pods) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, pods) for k, v in value.items()}
    return value


def _step(text: str) -> Step:
    verb, _, pattern = text.partition(" ")
    if verb not in ("allow", "deny") or "->" not in pattern:
        raise ValueError(f"expectation {text!r} must read 'allow|deny SRC->DST'")
    return Step(verb == "allow", pattern.strip())


def load_cases(path: str = CASES_FILE) -> list[Case]:
    """Every case in the corpus file."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or []
    cases = []
    for item in raw:
        probes = tuple(CaseProbe(p["protocol"], int(p["port"]),
                                 tuple(_step(s) for s in p.get("expect") or ()))
                       for p in item["probes"])
        cases.append(Case(item["name"], tuple(item["policies"]), probes,
                          bool(item.get("core")), item.get("namespace_labels") or {},
                          item.get("pod_labels") or {}))
    return cases
