"""Discovery documents built from a ResourceTable (pure).

Public names:

    resource_list(table, group, version) -> dict   APIResourceList (/api/v1, /apis/g/v)
    aggregated(table, core) -> dict                 APIGroupDiscoveryList for /api
                                                    (core=True) or /apis; serve it with
                                                    Content-Type AGGREGATED_CT
    group_list(table) -> dict                       APIGroupList for legacy /apis
    api_group(table, group) -> dict | None          APIGroup for /apis/<group>
    AGGREGATED_CT
"""

from __future__ import annotations

from typing import Optional

from k8snet.machinery.resources import KindInfo, ResourceTable

AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def resource_list(table: ResourceTable, group: str, version: str) -> dict:
    """An APIResourceList: each resource, then its subresources."""
    gv = f"{group}/{version}" if group else version
    resources: list[dict] = []
    for info in table.resources_in(group, version):
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


def aggregated(table: ResourceTable, core: bool) -> dict:
    """APIGroupDiscoveryList: one item per group, its versions preferred first."""
    items = []
    for group in table.groups():
        if (group == "") != core:
            continue
        items.append({
            "metadata": {"name": group, "creationTimestamp": None},
            "versions": [{"version": version, "freshness": "Current",
                          "resources": [_aggregated_resource(i)
                                        for i in table.resources_in(group, version)]}
                         for version in table.versions(group)],
        })
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _group(table: ResourceTable, group: str) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v}
                for v in table.versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def group_list(table: ResourceTable) -> dict:
    """APIGroupList (named groups only)."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(table, g) for g in table.groups() if g]}


def api_group(table: ResourceTable, group: str) -> Optional[dict]:
    """APIGroup for /apis/<group>, or None when the group is not served."""
    if not group or group not in table.groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(table, group)}
