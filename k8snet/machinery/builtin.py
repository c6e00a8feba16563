"""The built-in resources of Kubernetes 1.32, read from lightkube-models' resource table.

lightkube-models (pinned to 1.32 in setup.py) is generated from the Kubernetes 1.32
OpenAPI document: every ``lightkube/resources/<group>_<version>.py`` holds one class per
resource and subresource with a literal ``_api_info = res.ApiInfo(resource=ResourceDef(
group, version, kind), plural=..., verbs=[...], action=..., parent=...)`` and a base
class saying whether it is namespaced. We read those files with ``ast`` (no lightkube
client import, no code run). What the OpenAPI document does not carry is written below as
facts of a default 1.32 apiserver (kind's): which group-versions are served, short names,
categories, the connect subresources (exec, attach, portforward, proxy) and the few verb
lists where discovery differs from the OpenAPI paths.

Public names:

    builtin_kinds() -> tuple[KindInfo, ...]     every served top-level resource plus the
                                                subresource-only kind Scale (cached)
    SERVED: tuple[(group, version), ...]        the group-versions a default 1.32 serves
    GROUP_PRIORITY: dict group -> int           upstream's order of groups in /apis
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
from typing import Optional

from k8snet.machinery.resources import ALL_VERBS, KindInfo, Subresource

SERVED: tuple[tuple[str, str], ...] = (
    ("", "v1"),
    ("admissionregistration.k8s.io", "v1"),
    ("apiextensions.k8s.io", "v1"),
    ("apiregistration.k8s.io", "v1"),
    ("apps", "v1"),
    ("authentication.k8s.io", "v1"),
    ("authorization.k8s.io", "v1"),
    ("autoscaling", "v2"),
    ("autoscaling", "v1"),
    ("batch", "v1"),
    ("certificates.k8s.io", "v1"),
    ("coordination.k8s.io", "v1"),
    ("discovery.k8s.io", "v1"),
    ("events.k8s.io", "v1"),
    ("flowcontrol.apiserver.k8s.io", "v1"),
    ("networking.k8s.io", "v1"),
    ("node.k8s.io", "v1"),
    ("policy", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
    ("scheduling.k8s.io", "v1"),
    ("storage.k8s.io", "v1"),
)

# The order kube-aggregator gives groups in /apis (higher first); "" is /api.
GROUP_PRIORITY: dict[str, int] = {
    "": 18000, "apiregistration.k8s.io": 17900, "apps": 17800, "events.k8s.io": 17750,
    "authentication.k8s.io": 17700, "authorization.k8s.io": 17600, "autoscaling": 17500,
    "batch": 17400, "certificates.k8s.io": 17300, "networking.k8s.io": 17200,
    "policy": 17100, "rbac.authorization.k8s.io": 17000, "storage.k8s.io": 16800,
    "admissionregistration.k8s.io": 16700, "apiextensions.k8s.io": 16700,
    "scheduling.k8s.io": 16600, "coordination.k8s.io": 16500, "node.k8s.io": 16300,
    "discovery.k8s.io": 16200, "flowcontrol.apiserver.k8s.io": 16100,
}

# (group, plural) -> short names, as each resource's ShortNames() upstream
SHORT_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "componentstatuses"): ("cs",), ("", "configmaps"): ("cm",),
    ("", "endpoints"): ("ep",), ("", "events"): ("ev",), ("", "limitranges"): ("limits",),
    ("", "namespaces"): ("ns",), ("", "nodes"): ("no",),
    ("", "persistentvolumeclaims"): ("pvc",), ("", "persistentvolumes"): ("pv",),
    ("", "pods"): ("po",), ("", "replicationcontrollers"): ("rc",),
    ("", "resourcequotas"): ("quota",), ("", "serviceaccounts"): ("sa",),
    ("", "services"): ("svc",),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("crd", "crds"),
    ("apps", "daemonsets"): ("ds",), ("apps", "deployments"): ("deploy",),
    ("apps", "replicasets"): ("rs",), ("apps", "statefulsets"): ("sts",),
    ("autoscaling", "horizontalpodautoscalers"): ("hpa",), ("batch", "cronjobs"): ("cj",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("csr",),
    ("events.k8s.io", "events"): ("ev",), ("networking.k8s.io", "ingresses"): ("ing",),
    ("networking.k8s.io", "networkpolicies"): ("netpol",),
    ("policy", "poddisruptionbudgets"): ("pdb",),
    ("scheduling.k8s.io", "priorityclasses"): ("pc",),
    ("storage.k8s.io", "storageclasses"): ("sc",),
}

# (group, plural) -> categories, as each resource's Categories() upstream
CATEGORIES: dict[tuple[str, str], tuple[str, ...]] = {
    **{("", p): ("all",) for p in ("pods", "services", "replicationcontrollers")},
    **{("apps", p): ("all",) for p in ("daemonsets", "deployments", "replicasets",
                                       "statefulsets")},
    ("autoscaling", "horizontalpodautoscalers"): ("all",),
    ("batch", "cronjobs"): ("all",), ("batch", "jobs"): ("all",),
    **{("admissionregistration.k8s.io", p): ("api-extensions",) for p in (
        "mutatingwebhookconfigurations", "validatingwebhookconfigurations",
        "validatingadmissionpolicies", "validatingadmissionpolicybindings")},
    ("apiextensions.k8s.io", "customresourcedefinitions"): ("api-extensions",),
    ("apiregistration.k8s.io", "apiservices"): ("api-extensions",),
}

# Connect subresources (not in the OpenAPI-derived table): (group, plural) -> subresources
CONNECT: dict[tuple[str, str], tuple[Subresource, ...]] = {
    ("", "pods"): (
        Subresource("attach", "PodAttachOptions", "", "v1", ("create", "get")),
        Subresource("exec", "PodExecOptions", "", "v1", ("create", "get")),
        Subresource("portforward", "PodPortForwardOptions", "", "v1", ("create", "get")),
        Subresource("proxy", "PodProxyOptions", "", "v1",
                    ("create", "delete", "get", "patch", "update")),
    ),
    ("", "nodes"): (Subresource("proxy", "NodeProxyOptions", "", "v1",
                                ("create", "delete", "get", "patch", "update")),),
    ("", "services"): (Subresource("proxy", "ServiceProxyOptions", "", "v1",
                                   ("create", "delete", "get", "patch", "update")),),
}

# Subresources behind a feature gate that is off by default in 1.32
GATED_SUBRESOURCES = {("", "pods", "resize")}  # InPlacePodVerticalScaling (alpha)

# Discovery verbs where the apiserver's REST storage differs from the OpenAPI paths
VERBS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "componentstatuses"): ("get", "list"),  # a Getter and a Lister, no watch
}

# Versions whose objects are stored in another version's shape (group, plural) -> apiVersion
STORAGE: dict[tuple[str, str], str] = {
    ("autoscaling", "horizontalpodautoscalers"): "autoscaling/v2",
    ("events.k8s.io", "events"): "v1",
    ("", "events"): "v1",
}

# Create-only or computed resources, not kept in the store
NOT_STORED = {("", "componentstatuses")}

_VERB_NAMES = {"post": "create", "put": "update"}


def _lightkube_dir() -> str:
    spec = importlib.util.find_spec("lightkube.resources")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lightkube-models is not installed (pip install "
                          "'lightkube-models==1.32.0.8')")
    return list(spec.submodule_search_locations)[0]


def _literal(node: ast.AST) -> object:
    if isinstance(node, ast.Call):  # res.ResourceDef('apps', 'v1', 'Deployment')
        return tuple(ast.literal_eval(a) for a in node.args)
    return ast.literal_eval(node)


def _api_infos(path: str) -> list[dict]:
    """Each class's ApiInfo keywords plus 'base' (the lightkube base class name)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = []
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef) or not cls.bases:
            continue
        base = cls.bases[0]
        base_name = base.attr if isinstance(base, ast.Attribute) else ""
        for stmt in cls.body:
            if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                    and any(isinstance(t, ast.Name) and t.id == "_api_info"
                            for t in stmt.targets)):
                entry = {kw.arg: _literal(kw.value) for kw in stmt.value.keywords}
                entry["base"] = base_name
                out.append(entry)
    return out


def _verbs(raw: list) -> tuple[str, ...]:
    names = {_VERB_NAMES.get(v, v) for v in raw if not v.startswith("global_")}
    return tuple(v for v in ALL_VERBS if v in names)


def _file_gv(filename: str) -> Optional[tuple[str, str]]:
    """'rbac_authorization_v1.py' -> its (group, version) when served."""
    stem = filename[:-3]
    for group, version in SERVED:
        short = group.split(".k8s.io")[0].replace(".", "_") if group else "core"
        if stem == f"{short}_{version}":
            return group, version
    return None


def read_table(directory: str) -> tuple[KindInfo, ...]:
    """The served resources described by lightkube's resource modules in `directory`."""
    mains: list[dict] = []
    subs: list[dict] = []
    for filename in sorted(os.listdir(directory)):
        if not filename.endswith(".py") or _file_gv(filename) is None:
            continue
        for entry in _api_infos(os.path.join(directory, filename)):
            (subs if entry.get("parent") else mains).append(entry)
    kinds: list[KindInfo] = []
    for m in mains:
        group, version, kind = m["resource"]
        plural = m["plural"]
        own = [s for s in subs if s["parent"] == (group, version, kind)
               and (group, plural, s["action"]) not in GATED_SUBRESOURCES]
        sub_list = [Subresource(s["action"], s["resource"][2], s["resource"][0],
                                s["resource"][1], _verbs(s["verbs"])) for s in own]
        sub_list += CONNECT.get((group, plural), ())
        sub_list.sort(key=lambda s: s.name)
        verbs = VERBS.get((group, plural)) or _verbs(m["verbs"])
        kinds.append(KindInfo(
            kind=kind, plural=plural, singular=kind.lower(), group=group, version=version,
            namespaced=m["base"].startswith("Namespaced"),
            short_names=SHORT_NAMES.get((group, plural), ()), verbs=verbs,
            subresources=tuple(sub_list), categories=CATEGORIES.get((group, plural), ()),
            stored=(group, plural) not in NOT_STORED and "get" in verbs,
            storage_version=STORAGE.get((group, plural), ""),
        ))
    kinds.sort(key=lambda k: (SERVED.index((k.group, k.version)), k.plural))
    kinds.append(KindInfo("Scale", "scales", "scale", "autoscaling", "v1", True, (), (), (),
                          (), top_level=False, stored=False))
    return tuple(kinds)


@functools.lru_cache(maxsize=1)
def builtin_kinds() -> tuple[KindInfo, ...]:
    """The built-in resources of a default Kubernetes 1.32 apiserver (read once)."""
    return read_table(_lightkube_dir())
