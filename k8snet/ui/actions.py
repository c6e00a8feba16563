"""The page's fault buttons, carried out by the functions `k8snet fault` calls.

A button posts ``{"action": ..., ...}`` to ``/api/fault``. `fault_call`
checks that request and names the `k8snet.testbed.cmd_fault` function and
arguments it means (pure, so the mapping is unit-tested); `run_fault`
calls it on the cluster as recorded now (processes restart with new PIDs,
so the record the server started with may be stale). The actions are the
CLI's, one for one:

    link-down / link-up  {"a", "b"}          k8snet fault link down|up A B
    crash / restore      {"node"}            k8snet fault node crash|restore NODE
    kill                 {"component", "node"?}  k8snet fault kill COMPONENT [--node N]
    clear                {}                  k8snet fault clear

(``partition`` takes a set of nodes; the page leaves it to the CLI.)
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from k8snet.errors import UsageError

ACTIONS = ("link-down", "link-up", "crash", "restore", "kill", "clear")


def field(body: Dict, key: str, optional: bool = False) -> Optional[str]:
    """A name from the request (None when ``optional`` and not given)."""
    value = body.get(key)
    if value in (None, "") and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 64:
        raise UsageError(f"give {key!r} as a name for this fault action")
    return value


def fault_call(body: Dict) -> Tuple[str, Dict]:
    """(name of the cmd_fault function, its keyword arguments) for a request
    body; UsageError for an unknown action or a missing name."""
    if not isinstance(body, dict):
        raise UsageError("send a JSON object with an 'action'")
    action = body.get("action")
    if action in ("link-down", "link-up"):
        return "link", {"a": field(body, "a"), "b": field(body, "b"),
                        "up": action == "link-up"}
    if action in ("crash", "restore"):
        return action, {"node": field(body, "node")}
    if action == "kill":
        return "kill", {"component": field(body, "component"),
                        "node": field(body, "node", optional=True)}
    if action == "clear":
        return "clear", {}
    raise UsageError(f"unknown fault action {action!r} (actions: {', '.join(ACTIONS)})")


def run_fault(name: str, body: Dict) -> List[str]:
    """Carry out one page action on cluster ``name``; the lines the CLI prints."""
    from k8snet.testbed import api, cmd_fault, preflight

    fn, kwargs = fault_call(body)
    cluster = api.find(name)
    if not preflight.cluster_running(cluster.name):
        raise UsageError(f"cluster {cluster.name!r} is not running (its supervisor is gone)")
    return getattr(cmd_fault, fn)(cluster, **kwargs)


def components(state) -> List[Dict]:
    """The components a kill button offers: name and the nodes it runs on (those
a node agent runs too: killing one kills its agent)."""
    on: Dict[str, set] = {}
    for record in state.records():
        name, _, node = record.name.partition("@")
        if name != "supervisor":
            for each in (name, *record.hosts):
                on.setdefault(each, set()).update([node or record.node or ""])
    return [{"name": n, "nodes": sorted(x for x in on[n] if x)} for n in sorted(on)]
