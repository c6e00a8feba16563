"""The garbage collector's owner/dependent graph and what to do about it (pure).

Every object that informers show becomes a Node; `ownerReferences` link dependents to
owners by uid. `plan(graph, known, scope)` walks the graph once and returns the actions
of Kubernetes' garbage collector, in the order they must run:

- an owner being deleted with the ``orphan`` finalizer: remove its ownerReferences from
  every dependent, then the finalizer (Orphan);
- an owner being deleted with ``foregroundDeletion``: once no dependent references it
  with ``blockOwnerDeletion: true``, remove the finalizer (RemoveFinalizer); each
  dependent meanwhile sees its owner "waiting" and is deleted (in foreground itself when
  it has dependents of its own, after unblocking its references when one of those is
  also waiting: that breaks cycles);
- a dependent whose owners are all gone (background): delete it, honouring a GC
  finalizer it already has; one with live owners left loses only the references to
  the gone or waiting ones (PatchOwnerRefs).

An owner not seen by any informer is looked up by a live GET before anything is deleted
for it, as upstream verifies absence: `plan` lists those lookups in `Plan.verify`; the
caller answers them in `known` (None: absent, else the live object) and plans again.
A namespaced dependent's owner must be cluster-scoped or in its namespace (a reference
to a namespaced owner elsewhere counts as absent, with an OwnerRefInvalidNamespace
event); a cluster-scoped dependent cannot have a namespaced owner (never collected).
One pass visits each node once, so cycles of references cannot make it loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Union

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"

Scope = Callable[[str, str], Optional[bool]]
"""(apiVersion, kind) -> namespaced? (None: the kind is not served)."""


@dataclass(frozen=True)
class Ref:
    """An object's identity."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    def __str__(self) -> str:
        return (f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
                f"name: {self.name}, uid: {self.uid}]")


@dataclass
class Node:
    """One observed object: identity, owners, GC-relevant metadata."""

    ref: Ref
    owners: list[dict]
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    resource_version: str = ""

    @property
    def deleting_dependents(self) -> bool:
        return self.deleting and FOREGROUND in self.finalizers


@dataclass(frozen=True)
class Delete:
    """DELETE the object with this propagation (uid and resourceVersion preconditions);
    `owners` is its ownerReferences (JSON) when decided: a conflict may be retried at a
    newer resourceVersion only while they are unchanged."""

    ref: Ref
    policy: str
    resource_version: str = ""
    owners: str = ""


@dataclass(frozen=True)
class PatchOwnerRefs:
    """Remove the references to `remove` (owner uids), or with `unblock` set every
    blockOwnerDeletion to false."""

    ref: Ref
    remove: tuple[str, ...] = ()
    unblock: bool = False


@dataclass(frozen=True)
class RemoveFinalizer:
    ref: Ref
    finalizer: str


@dataclass(frozen=True)
class Orphan:
    """Remove `owner` from each dependent's ownerReferences, then its orphan finalizer."""

    owner: Ref
    dependents: tuple[Ref, ...]


@dataclass(frozen=True)
class Warn:
    """A Warning Event on `ref`."""

    ref: Ref
    reason: str
    message: str


Action = Union[Delete, PatchOwnerRefs, RemoveFinalizer, Orphan, Warn]


@dataclass(frozen=True)
class Lookup:
    """An owner to GET: where a dependent says it is (namespace '' when cluster-scoped)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


@dataclass
class Plan:
    actions: list = field(default_factory=list)
    verify: set = field(default_factory=set)


@dataclass
class Graph:
    """Nodes by uid and, for every uid referenced as an owner, its dependents' uids."""

    nodes: dict[str, Node] = field(default_factory=dict)
    dependents: dict[str, list[str]] = field(default_factory=dict)


def node_of(api_version: str, kind: str, obj: dict) -> Optional[Node]:
    """A Node for an object of this kind (None without a uid)."""
    meta = obj.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return None
    owners = [r for r in meta.get("ownerReferences") or []
              if isinstance(r, dict) and r.get("uid")]
    return Node(Ref(api_version, kind, meta.get("namespace") or "", str(meta.get("name")),
                    str(uid)),
                owners, tuple(meta.get("finalizers") or ()),
                bool(meta.get("deletionTimestamp")), str(meta.get("resourceVersion") or ""))


def build_graph(objects: Iterable[tuple[str, str, dict]]) -> Graph:
    """The graph of (apiVersion, kind, object) triples."""
    graph = Graph()
    for api_version, kind, obj in objects:
        node = node_of(api_version, kind, obj)
        if node is not None:
            graph.nodes[node.ref.uid] = node
    for uid, node in graph.nodes.items():
        for owner in node.owners:
            graph.dependents.setdefault(owner["uid"], []).append(uid)
    return graph


def _group(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def lookup_for(dependent: Ref, owner: dict, namespaced: bool) -> Lookup:
    """Where the owner named by a reference must be: the dependent's namespace or none."""
    return Lookup(str(owner.get("apiVersion") or ""), str(owner.get("kind") or ""),
                  dependent.namespace if namespaced else "", str(owner.get("name") or ""),
                  str(owner["uid"]))


def _observed_owner(graph: Graph, dep: Ref, owner: dict, namespaced: bool) -> Optional[Node]:
    node = graph.nodes.get(owner["uid"])
    if node is None or node.ref.kind != owner.get("kind") or \
            _group(node.ref.api_version) != _group(str(owner.get("apiVersion") or "")) or \
            node.ref.name != owner.get("name"):
        return None
    if namespaced and node.ref.namespace != dep.namespace:
        return None
    return node


def valid_dependents(graph: Graph, owner: Node) -> list[Node]:
    """The dependents that may really have `owner` as owner (namespace rules)."""
    out = []
    for uid in graph.dependents.get(owner.ref.uid, []):
        dep = graph.nodes.get(uid)
        if dep is None:
            continue
        if owner.ref.namespace and dep.ref.namespace != owner.ref.namespace:
            continue
        out.append(dep)
    return out


def _blocks(dep: Node, owner_uid: str) -> bool:
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion") is True
               for r in dep.owners)


def _invalid_namespace(dep: Ref, owner: dict) -> Warn:
    where = Ref(str(owner.get("apiVersion") or ""), str(owner.get("kind") or ""),
                dep.namespace, str(owner.get("name") or ""), str(owner["uid"]))
    return Warn(dep, "OwnerRefInvalidNamespace",
                f'ownerRef {where} does not exist in namespace "{dep.namespace}"')


def _classify(graph: Graph, node: Node, known: Mapping[Lookup, Optional[dict]],
              scope: Scope, plan: Plan) -> Optional[tuple[list, list, list]]:
    """(solid, dangling, waiting) references, or None when some cannot be decided yet."""
    solid, dangling, waiting = [], [], []
    undecided = False
    for owner in node.owners:
        namespaced = scope(str(owner.get("apiVersion") or ""), str(owner.get("kind") or ""))
        if namespaced is None:
            undecided = True  # a kind the server does not serve: leave the object alone
            continue
        if namespaced and not node.ref.namespace:
            plan.actions.append(_invalid_namespace(node.ref, owner))
            undecided = True  # a cluster-scoped object cannot have a namespaced owner
            continue
        observed = _observed_owner(graph, node.ref, owner, namespaced)
        if observed is not None:
            live: Optional[dict] = {"metadata": {"finalizers": list(observed.finalizers),
                                                 "deletionTimestamp": observed.deleting}}
        else:
            other = graph.nodes.get(owner["uid"])
            if other is not None and namespaced and other.ref.namespace != node.ref.namespace:
                plan.actions.append(_invalid_namespace(node.ref, owner))
            key = lookup_for(node.ref, owner, namespaced)
            if key not in known:
                plan.verify.add(key)
                undecided = True
                continue
            live = known[key]
            if live is not None and (live.get("metadata") or {}).get("uid") not in (
                    None, owner["uid"]):
                live = None
        if live is None:
            dangling.append(owner)
        elif (live.get("metadata") or {}).get("deletionTimestamp") and \
                FOREGROUND in ((live.get("metadata") or {}).get("finalizers") or []):
            waiting.append(owner)
        else:
            solid.append(owner)
    return None if undecided else (solid, dangling, waiting)


def _attempt_to_delete(graph: Graph, node: Node, known: Mapping[Lookup, Optional[dict]],
                       scope: Scope, plan: Plan) -> None:
    refs = _classify(graph, node, known, scope, plan)
    if refs is None:
        return
    solid, dangling, waiting = refs
    if solid:
        if dangling or waiting:
            plan.actions.append(PatchOwnerRefs(node.ref, tuple(
                r["uid"] for r in dangling + waiting)))
        return
    deps = [graph.nodes[u] for u in graph.dependents.get(node.ref.uid, []) if u in graph.nodes]
    if waiting and deps:
        if any(d.deleting_dependents for d in deps):
            plan.actions.append(PatchOwnerRefs(node.ref, unblock=True))
        plan.actions.append(_delete(node, "Foreground"))
        return
    if ORPHAN in node.finalizers:
        policy = "Orphan"
    elif FOREGROUND in node.finalizers:
        policy = "Foreground"
    else:
        policy = "Background"
    plan.actions.append(_delete(node, policy))


def owners_key(refs: list) -> str:
    """ownerReferences as a comparable string."""
    return json.dumps(refs or [], sort_keys=True)


def _delete(node: Node, policy: str) -> Delete:
    return Delete(node.ref, policy, node.resource_version, owners_key(node.owners))


def plan(graph: Graph, known: Mapping[Lookup, Optional[dict]], scope: Scope) -> Plan:
    """Every action the garbage collector takes on this graph now (see the module doc)."""
    out = Plan()
    for node in graph.nodes.values():
        if node.deleting and ORPHAN in node.finalizers:
            deps = valid_dependents(graph, node)
            out.actions.append(Orphan(node.ref, tuple(d.ref for d in deps)))
            continue
        if node.deleting_dependents:
            if not any(_blocks(d, node.ref.uid) for d in valid_dependents(graph, node)):
                out.actions.append(RemoveFinalizer(node.ref, FOREGROUND))
            continue
        if node.deleting or not node.owners:
            continue
        _attempt_to_delete(graph, node, known, scope, out)
    return out


def without_owners(refs: list[dict], uids: Iterable[str]) -> list[dict]:
    """ownerReferences minus those naming `uids` (for PatchOwnerRefs and Orphan)."""
    drop = set(uids)
    return [r for r in refs if r.get("uid") not in drop]


def unblocked(refs: list[dict]) -> list[dict]:
    """ownerReferences with every blockOwnerDeletion: true set to false."""
    return [dict(r, blockOwnerDeletion=False) if r.get("blockOwnerDeletion") else r
            for r in refs]
