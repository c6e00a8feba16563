"""The registry of API kinds that k8snet serves, as discovery describes them.

Public names:

    KINDS: dict kind -> KindInfo        (Namespace, Node, Pod, Service, Endpoints, Event,
                                         Deployment, ReplicaSet, Lease; plus the
                                         subresource-only kinds Binding and Scale)
    RESOURCES: dict plural -> KindInfo  (top-level resources incl. "bindings", which like
                                         Kubernetes' is create-only; not Scale)
    STORED: dict plural -> KindInfo     (the resources kept in the store: RESOURCES minus
                                         bindings)
    KindInfo fields: kind, plural, singular, group, version, namespaced, short_names,
        verbs, subresources (tuple of Subresource), categories; properties
        api_version ("v1", "apps/v1"), group_version, list_kind, scope
    Subresource fields: name, kind, group, version, verbs
    lookup(name, group=None) -> KindInfo | None   plural, singular, kind (any case) or short name
    by_api_version_kind(api_version, kind) -> KindInfo | None
    group_versions() -> list[tuple[group, version]]   each once, core ("") first
    resources_in(group, version) -> list[KindInfo]
    legacy_resource_list(group, version) -> dict      APIResourceList (/api/v1, /apis/apps/v1)
    aggregated_discovery(core: bool) -> dict           APIGroupDiscoveryList body for /api
                                                       (core=True) or /apis (core=False)
    api_group_list() -> dict                           APIGroupList for legacy /apis

Facts (plurals, short names, verbs, categories) follow what a Kubernetes 1.32
apiserver publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as pods/status: the kind it accepts/returns and its verbs."""

    name: str
    kind: str
    group: str
    version: str
    verbs: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class KindInfo:
    """One API kind and how it is served."""

    kind: str
    plural: str
    singular: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = ()
    categories: tuple[str, ...] = ()
    top_level: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    group_version = api_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"

    def subresource(self, name: str) -> Optional[Subresource]:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


def _status(kind: str, group: str, version: str = "v1") -> Subresource:
    return Subresource("status", kind, group, version, STATUS_VERBS)


def _scale() -> Subresource:
    return Subresource("scale", "Scale", "autoscaling", "v1", STATUS_VERBS)


KINDS: dict[str, KindInfo] = {
    k.kind: k
    for k in (
        KindInfo("Namespace", "namespaces", "namespace", "", "v1", False, ("ns",),
                 ("create", "delete", "get", "list", "patch", "update", "watch"),
                 (_status("Namespace", ""),
                  Subresource("finalize", "Namespace", "", "v1", ("update",)))),
        KindInfo("Node", "nodes", "node", "", "v1", False, ("no",), ALL_VERBS,
                 (_status("Node", ""),)),
        KindInfo("Pod", "pods", "pod", "", "v1", True, ("po",), ALL_VERBS,
                 (_status("Pod", ""),
                  Subresource("binding", "Binding", "", "v1", ("create",)),
                  Subresource("log", "Pod", "", "v1", ("get",))),
                 ("all",)),
        KindInfo("Service", "services", "service", "", "v1", True, ("svc",), ALL_VERBS,
                 (_status("Service", ""),), ("all",)),
        KindInfo("Endpoints", "endpoints", "endpoints", "", "v1", True, ("ep",)),
        KindInfo("Event", "events", "event", "", "v1", True, ("ev",)),
        KindInfo("Deployment", "deployments", "deployment", "apps", "v1", True, ("deploy",),
                 ALL_VERBS, (_scale(), _status("Deployment", "apps")), ("all",)),
        KindInfo("ReplicaSet", "replicasets", "replicaset", "apps", "v1", True, ("rs",),
                 ALL_VERBS, (_scale(), _status("ReplicaSet", "apps")), ("all",)),
        KindInfo("Lease", "leases", "lease", "coordination.k8s.io", "v1", True),
        KindInfo("Binding", "bindings", "binding", "", "v1", True, (), ("create",)),
        KindInfo("Scale", "scales", "scale", "autoscaling", "v1", True, (), (), (), (),
                 top_level=False),
    )
}

RESOURCES: dict[str, KindInfo] = {k.plural: k for k in KINDS.values() if k.top_level}
STORED: dict[str, KindInfo] = {p: k for p, k in RESOURCES.items() if "get" in k.verbs}


def lookup(name: str, group: Optional[str] = None) -> Optional[KindInfo]:
    """Resolve a plural, singular, kind (case-insensitive) or short name to a kind."""
    low = name.lower()
    for info in KINDS.values():
        if not info.top_level or (group is not None and info.group != group):
            continue
        if low in (info.plural, info.singular, info.kind.lower()) or low in info.short_names:
            return info
    return None


def by_api_version_kind(api_version: str, kind: str) -> Optional[KindInfo]:
    """The kind registered for this apiVersion and kind, if any."""
    info = KINDS.get(kind)
    if info is not None and info.api_version == api_version:
        return info
    return None


def group_versions() -> list[tuple[str, str]]:
    """Every served (group, version) once, the core group first."""
    out: list[tuple[str, str]] = []
    for info in KINDS.values():
        if info.top_level and (info.group, info.version) not in out:
            out.append((info.group, info.version))
    return sorted(out, key=lambda gv: (gv[0] != "", gv[0], gv[1]))


def resources_in(group: str, version: str) -> list[KindInfo]:
    """The top-level resources served in a group-version, in registry order."""
    return [k for k in KINDS.values()
            if k.top_level and k.group == group and k.version == version]


def legacy_resource_list(group: str, version: str) -> dict:
    """An APIResourceList for /api/v1 or /apis/<group>/<version>."""
    gv = f"{group}/{version}" if group else version
    resources: list[dict] = []
    for info in resources_in(group, version):
        entry: dict = {"name": info.plural, "singularName": info.singular,
                       "namespaced": info.namespaced, "kind": info.kind,
                       "verbs": list(info.verbs)}
        if info.short_names:
            entry["shortNames"] = list(info.short_names)
        if info.categories:
            entry["categories"] = list(info.categories)
        resources.append(entry)
        for sub in info.subresources:
            sub_entry: dict = {"name": f"{info.plural}/{sub.name}", "singularName": "",
                               "namespaced": info.namespaced, "kind": sub.kind,
                               "verbs": list(sub.verbs)}
            if sub.group != info.group or sub.version != info.version:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def _aggregated_resource(info: KindInfo) -> dict:
    entry: dict = {
        "resource": info.plural,
        "responseKind": {"group": info.group, "version": info.version, "kind": info.kind},
        "scope": info.scope,
        "singularResource": info.singular,
        "verbs": list(info.verbs),
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.categories:
        entry["categories"] = list(info.categories)
    if info.subresources:
        entry["subresources"] = [
            {"subresource": sub.name,
             "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
             "verbs": list(sub.verbs)}
            for sub in info.subresources
        ]
    return entry


def aggregated_discovery(core: bool) -> dict:
    """APIGroupDiscoveryList for /api (core=True) or /apis (core=False).

    Serve it with Content-Type
    ``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``.
    """
    items = []
    for group, version in group_versions():
        if (group == "") != core:
            continue
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": version, "freshness": "Current",
                          "resources": [_aggregated_resource(i)
                                        for i in resources_in(group, version)]}],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def api_group_list() -> dict:
    """APIGroupList for the legacy /apis endpoint (named groups only)."""
    groups = []
    for group, version in group_versions():
        if not group:
            continue
        gv = {"groupVersion": f"{group}/{version}", "version": version}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
