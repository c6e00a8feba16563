"""Evaluate policies in a running cluster against the oracle: the library under
`k8snet probe --policy` and the integration tests.

`PolicyLab` holds the model (Pods, their namespaces' paths) for one cluster;
`run_case` applies one case's policies and labels, waits for every agent to
enforce them, probes each protocol/port and returns expected and observed
tables side by side. `load_user_policies` reads a user's YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import yaml

from k8snet.errors import UsageError
from k8snet.policy import probe
from k8snet.policy.agent import counter_deltas
from k8snet.policy.cases import Case, CaseProbe
from k8snet.policy.model import parse_policy
from k8snet.policy.truthtable import (
    NAMESPACES,
    Table,
    differences,
    expected_table,
    explain,
    format_table,
    table_json,
)

DEFAULT_PROBES = (("TCP", 80), ("TCP", 81), ("UDP", 80))
USER = "policies from file"


@dataclass
class TableResult:
    protocol: str
    port: int
    expected: Table
    observed: Table
    evidence: dict
    written: Optional[Table] = None   # the case's hand-written table, when it has one
    reasons: dict = field(default_factory=dict)   # cell -> the rule or isolation that decided
    drops: dict = field(default_factory=dict)     # node -> {drop rule: packets} while probing

    @property
    def differ(self) -> list[tuple[str, str]]:
        return differences(self.expected, self.observed)


@dataclass
class CaseResult:
    name: str
    tables: list[TableResult] = field(default_factory=list)
    enforce_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(not t.differ for t in self.tables)

    def text(self) -> str:
        parts = [f"== {self.name}: {'ok' if self.ok else 'MISMATCH'} "
                 f"(enforced on every node in {self.enforce_seconds * 1000:.0f} ms)"]
        for t in self.tables:
            parts.append(format_table(t.expected, t.observed, title=f"{t.protocol}/{t.port} "
                                      "(rows: from, columns: to; . allowed, X denied, "
                                      "! observed differs)"))
            for node, rules in sorted(t.drops.items()):
                parts.append(f"  denied packets died on {node} at: " + "; ".join(
                    f"{rule} ({n} packets)" for rule, n in sorted(rules.items())))
            for src, dst in t.differ:
                parts.append(f"  {src}->{dst}: saw {t.evidence.get((src, dst), 'nothing')}; "
                             f"policy says {t.reasons.get((src, dst), '?')}")
        return "\n".join(parts)

    def json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "enforce_seconds": self.enforce_seconds,
                "tables": [{"protocol": t.protocol, "port": t.port, "drops": t.drops,
                            **_with_reasons(table_json(t.expected, t.observed), t)}
                           for t in self.tables]}


def _with_reasons(doc: dict, table: TableResult) -> dict:
    for cell in doc["cells"]:
        key = (cell["from"], cell["to"])
        cell["reason"] = table.reasons.get(key, "")
        cell["evidence"] = table.evidence.get(key, "")
    return doc


class PolicyLab:
    """The model in one cluster, ready to evaluate policies."""

    def __init__(self, cluster, progress: Callable[[str], None] = lambda _t: None,
                 ready_timeout: float = 180.0):
        self.cluster = cluster
        self.client = cluster.client()
        self.progress = progress
        self.workers = [n.name for n in cluster.state.workers]
        self.pods = probe.ensure_model(self.client, self.workers, timeout=ready_timeout,
                                       progress=progress)
        uids = {}
        for pod in self.pods:
            obj = self.client.get("pods", pod.name, pod.namespace)
            uids[pod.key] = obj["metadata"]["uid"]
        self.probers = probe.Probers(probe.netns_paths(cluster, self.pods, uids))

    def close(self) -> None:
        """Stop the probers (the model stays)."""
        self.probers.stop()

    def run_case(self, case: Case) -> CaseResult:
        """Apply a case, wait for enforcement, probe each of its protocol/ports."""
        pods = case.pods(ips={p.key: p.ip for p in self.pods},
                         nodes={p.key: p.node for p in self.pods})
        objects = case.objects(pods)
        policies = [parse_policy(o) for o in objects]
        versions = probe.set_labels(self.client, case.namespace_labels, case.pod_labels)
        written = probe.replace_policies(self.client, objects)
        applied = probe.Applied({**probe.other_policies(self.client), **written}, versions)
        seconds = probe.wait_enforced(self.cluster.state.dir, self.workers, applied)
        result = CaseResult(case.name, enforce_seconds=seconds)
        for item in case.probes:
            expected = expected_table(policies, case.namespaces(), pods, item.protocol,
                                      item.port)
            before = probe.node_drops(self.cluster, self.workers)
            observed, evidence = probe.observe(self.pods, self.probers, item.protocol, item.port,
                                               expected=expected)
            written = item.expected() if case.name != USER else None
            reasons = {(s, d): explain(policies, case.namespaces(), pods, s, d, item.protocol,
                                       item.port) for (s, d) in expected}
            after = probe.node_drops(self.cluster, self.workers)
            drops = {node: {f"{chain}: {comment}": n for (chain, comment), n in
                            counter_deltas(before[node], after[node]).items()}
                     for node in self.workers}
            result.tables.append(TableResult(item.protocol, item.port, expected, observed,
                                             evidence, written, reasons,
                                             {n: d for n, d in drops.items() if d}))
        return result

    def clear(self) -> float:
        """Remove the model's policies and extra labels; seconds until enforced."""
        versions = probe.set_labels(self.client, {}, {})
        probe.replace_policies(self.client, [])
        return probe.wait_enforced(self.cluster.state.dir, self.workers, probe.Applied(
            probe.other_policies(self.client), versions))


def load_user_policies(path: str) -> list[dict]:
    """NetworkPolicies from a user's YAML file (several documents or a List);
    UsageError on anything that is not one, or that names another namespace."""
    try:
        with open(path, encoding="utf-8") as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    items = []
    for doc in docs:
        items += doc.get("items") or [] if doc.get("kind") == "List" else [doc]
    if not items:
        raise UsageError(f"{path} has no NetworkPolicy; give a file of NetworkPolicy "
                         "manifests")
    for obj in items:
        if obj.get("kind") != "NetworkPolicy":
            raise UsageError(f"{path}: {obj.get('kind')!r} is not a NetworkPolicy; only "
                             "NetworkPolicies can be evaluated on the model")
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "x")
        if meta["namespace"] not in NAMESPACES:
            raise UsageError(f"{path}: policy {meta.get('name')} is in namespace "
                             f"{meta['namespace']!r}; use the model's x, y or z")
        parse_policy(obj)  # a clear error before anything is applied
    return items


def user_case(objects: list[dict], probes=DEFAULT_PROBES) -> Case:
    """A case from a user's policies, probed on ``probes``."""
    policies = tuple({"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"],
                      "spec": o.get("spec") or {}} for o in objects)
    return Case(USER, policies, tuple(CaseProbe(p, n, ()) for p, n in probes))
