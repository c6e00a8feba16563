"""The resource table: which kinds are served, where, and how discovery describes them.

A ``ResourceTable`` holds ``KindInfo`` entries, one per (group, version, plural). The
apiserver owns one, built from the built-in resources of Kubernetes 1.32
(``k8snet.machinery.builtin``, read from lightkube-models); CustomResourceDefinitions add
and remove entries at run time with ``add``/``remove``. Reads see a consistent snapshot
(the entries are an immutable tuple replaced under a lock on each change).

Public names:

    KindInfo fields: kind, plural, singular, group, version, namespaced, short_names,
        verbs, subresources (tuple of Subresource), categories, top_level, stored,
        storage_version, custom, list_kind_name; properties api_version ("v1",
        "apps/v1"), group_version, list_kind, scope, storage_api_version
    Subresource fields: name, kind, group, version, verbs
    ResourceTable(infos=(), group_priority=None, frozen=False)
        add(info), remove(group, version, plural) -> KindInfo | None, infos()
        get(group, version, plural) -> KindInfo | None
        group_versions() -> [(group, version)]   core first, groups in upstream order,
                                                 each group's versions preferred first
        versions(group) -> [version]             preferred first
        preferred_version(group) -> str | None
        resources_in(group, version) -> [KindInfo]
        lookup(name, group=None) -> KindInfo | None   plural, singular, kind, short name;
                                                      the group's preferred version
        by_api_version_kind(api_version, kind) -> KindInfo | None
        stored() -> [KindInfo]                   one per storage location (preferred)
    version_priority(version) -> sort key      Kubernetes' version order (v2 > v1 >
                                               v1beta2 > v1beta1 > v1alpha1 > others)
    builtin_table() -> ResourceTable           a new, mutable table of the built-ins
    builtin_view() -> ResourceTable            the built-ins, shared and read-only

Thin wrappers over the (frozen) built-in table, for callers that need no CRDs:

    KINDS: kind -> KindInfo (the preferred version; core Event), RESOURCES: plural ->
    KindInfo (top-level), STORED: plural -> KindInfo (kept in the store);
    lookup, by_api_version_kind, group_versions, resources_in, legacy_resource_list,
    aggregated_discovery, api_group_list (documents: k8snet.machinery.discovery).
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping, Optional

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
    """One resource in one group-version and how it is served.

    ``stored`` is False for resources that are not kept in the store (create-only
    reviews and bindings, computed componentstatuses). ``storage_version`` names the
    apiVersion whose shape the store keeps when it is not this one ("" = this one), as
    upstream keeps autoscaling/v1 HorizontalPodAutoscalers as autoscaling/v2. ``custom``
    marks a CustomResourceDefinition's resource (stored under /registry/<group>/<plural>).
    """

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
    stored: bool = True
    storage_version: str = ""
    custom: bool = False  # served for a CustomResourceDefinition
    list_kind_name: str = ""  # a CRD's names.listKind ("" = kind + "List")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    group_version = api_version

    @property
    def storage_api_version(self) -> str:
        return self.storage_version or self.api_version

    @property
    def list_kind(self) -> str:
        return self.list_kind_name or self.kind + "List"

    @property
    def scope(self) -> str:
        return "Namespaced" if self.namespaced else "Cluster"

    def subresource(self, name: str) -> Optional[Subresource]:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None


_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """A sort key putting versions in Kubernetes' order: GA, then beta, then alpha (each
    highest first), then anything else alphabetically."""
    m = _VERSION_RE.match(version)
    if m is None:
        return (3, 0, 0, version)
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    return (stage, -int(m.group(1)), -int(m.group(3) or 0), version)


class ResourceTable:
    """The served resources; safe to read from many threads while one adds or removes."""

    def __init__(self, infos: Iterable[KindInfo] = (),
                 group_priority: Optional[Mapping[str, int]] = None,
                 frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._infos: tuple[KindInfo, ...] = ()
        self._priority = dict(group_priority or {})
        for info in infos:
            self._insert(info)
        self._frozen = frozen

    # -- changing ------------------------------------------------------------------
    def _insert(self, info: KindInfo) -> None:
        for cur in self._infos:
            if (cur.group, cur.version, cur.plural) == (info.group, info.version,
                                                        info.plural):
                raise ValueError(f"{info.plural}.{info.version}.{info.group} is already "
                                 "served")
        self._infos = self._infos + (info,)

    def add(self, info: KindInfo) -> None:
        """Serve one more resource (a CustomResourceDefinition's version); ValueError
        when that group-version already has this plural."""
        if self._frozen:
            raise TypeError("this resource table is read-only")
        with self._lock:
            self._insert(info)

    def remove(self, group: str, version: str, plural: str) -> Optional[KindInfo]:
        """Stop serving a resource; the removed entry, or None when it was not served."""
        if self._frozen:
            raise TypeError("this resource table is read-only")
        with self._lock:
            for cur in self._infos:
                if (cur.group, cur.version, cur.plural) == (group, version, plural):
                    self._infos = tuple(i for i in self._infos if i is not cur)
                    return cur
        return None

    # -- reading -------------------------------------------------------------------
    def infos(self) -> tuple[KindInfo, ...]:
        """Every entry (top-level resources and subresource-only kinds)."""
        return self._infos

    def get(self, group: str, version: str, plural: str) -> Optional[KindInfo]:
        for info in self._infos:
            if info.top_level and (info.group, info.version, info.plural) == (
                    group, version, plural):
                return info
        return None

    def _group_key(self, group: str) -> tuple:
        return (group != "", -self._priority.get(group, 1000), group)

    def versions(self, group: str) -> list[str]:
        """The versions served in a group, preferred first."""
        found = {i.version for i in self._infos if i.top_level and i.group == group}
        return sorted(found, key=version_priority)

    def preferred_version(self, group: str) -> Optional[str]:
        versions = self.versions(group)
        return versions[0] if versions else None

    def groups(self) -> list[str]:
        """Every served group once, "" first, then upstream's order of groups."""
        return sorted({i.group for i in self._infos if i.top_level}, key=self._group_key)

    def group_versions(self) -> list[tuple[str, str]]:
        """Every served (group, version) once: core first, each group's preferred first."""
        return [(g, v) for g in self.groups() for v in self.versions(g)]

    def resources_in(self, group: str, version: str) -> list[KindInfo]:
        """The top-level resources served in a group-version, by plural."""
        return sorted((i for i in self._infos
                       if i.top_level and i.group == group and i.version == version),
                      key=lambda i: i.plural)

    def lookup(self, name: str, group: Optional[str] = None) -> Optional[KindInfo]:
        """A plural, singular, kind (any case) or short name -> its resource in the
        group's preferred version; groups in discovery order."""
        low = name.lower()
        for g, v in self.group_versions():
            if (group is not None and g != group) or v != self.preferred_version(g):
                continue
            for info in self.resources_in(g, v):
                if low in (info.plural, info.singular, info.kind.lower()) or \
                        low in info.short_names:
                    return info
        return None

    def by_api_version_kind(self, api_version: str, kind: str) -> Optional[KindInfo]:
        """The resource serving `kind` in `api_version`, if any."""
        for info in self._infos:
            if info.top_level and info.kind == kind and info.api_version == api_version:
                return info
        return None

    def stored(self) -> list[KindInfo]:
        """One entry per storage location (/registry/<plural>/...): the preferred one."""
        out: dict[str, KindInfo] = {}
        for g, v in self.group_versions():
            for info in self.resources_in(g, v):
                if info.stored and info.plural not in out:
                    out[info.plural] = info
        return list(out.values())


def builtin_table() -> ResourceTable:
    """A new table holding the built-in resources of Kubernetes 1.32 (CRDs may be added)."""
    from k8snet.machinery.builtin import GROUP_PRIORITY, builtin_kinds
    return ResourceTable(builtin_kinds(), GROUP_PRIORITY)


@functools.lru_cache(maxsize=1)
def builtin_view() -> ResourceTable:
    """The built-in resources as one shared, read-only table."""
    from k8snet.machinery.builtin import GROUP_PRIORITY, builtin_kinds
    return ResourceTable(builtin_kinds(), GROUP_PRIORITY, frozen=True)


@functools.lru_cache(maxsize=1)
def _maps() -> dict[str, Mapping[str, KindInfo]]:
    table = builtin_view()
    kinds: dict[str, KindInfo] = {}
    resources: dict[str, KindInfo] = {}
    for g, v in table.group_versions():
        if v != table.preferred_version(g):
            continue
        for info in table.resources_in(g, v):
            kinds.setdefault(info.kind, info)
            resources.setdefault(info.plural, info)
    for info in table.infos():
        if not info.top_level:
            kinds.setdefault(info.kind, info)
    stored = {i.plural: i for i in table.stored()}
    return {"KINDS": MappingProxyType(kinds), "RESOURCES": MappingProxyType(resources),
            "STORED": MappingProxyType(stored)}


def __getattr__(name: str) -> Mapping[str, KindInfo]:
    """KINDS, RESOURCES and STORED: read-only maps over the built-in table (made on use)."""
    if name in ("KINDS", "RESOURCES", "STORED"):
        return _maps()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lookup(name: str, group: Optional[str] = None) -> Optional[KindInfo]:
    """Resolve a plural, singular, kind (case-insensitive) or short name to a kind."""
    return builtin_view().lookup(name, group)


def by_api_version_kind(api_version: str, kind: str) -> Optional[KindInfo]:
    """The built-in kind registered for this apiVersion and kind, if any."""
    return builtin_view().by_api_version_kind(api_version, kind)


def group_versions() -> list[tuple[str, str]]:
    """Every served (group, version) once, the core group first."""
    return builtin_view().group_versions()


def resources_in(group: str, version: str) -> list[KindInfo]:
    """The top-level resources served in a group-version."""
    return builtin_view().resources_in(group, version)


def legacy_resource_list(group: str, version: str) -> dict:
    """An APIResourceList for /api/v1 or /apis/<group>/<version>."""
    from k8snet.machinery import discovery
    return discovery.resource_list(builtin_view(), group, version)


def aggregated_discovery(core: bool) -> dict:
    """APIGroupDiscoveryList for /api (core=True) or /apis (core=False)."""
    from k8snet.machinery import discovery
    return discovery.aggregated(builtin_view(), core)


def api_group_list() -> dict:
    """APIGroupList for the legacy /apis endpoint (named groups only)."""
    from k8snet.machinery import discovery
    return discovery.group_list(builtin_view())
