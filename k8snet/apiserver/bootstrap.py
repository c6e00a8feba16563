"""What exists from the start: system namespaces, the `kubernetes` Service and Endpoints, the
default RBAC roles and bindings. (Terminating namespaces are emptied and finalized by the
controller-manager's namespace controller, k8snet.kcm.namespace.)"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Optional

from k8snet.apiserver import alloc, rbac, rbac_defaults
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.deletion import SYSTEM_NAMESPACES
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery import resources as kinds


def kubernetes_service(cluster_ip: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip,
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                "targetPort": port}]}}


def kubernetes_endpoints(ip: str, port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": ip}],
                         "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}


LEAK_GRACE = 30.0  # seconds a reservation no Service holds is given before it is freed
BOOTSTRAP_ATTEMPTS = 20


def bootstrap(reg: Registry, advertise_ip: str, port: int) -> dict[str, int]:
    """Idempotent start-up: reserve the addresses stored Services hold, then ensure the
    defaults. Several apiservers may run it at once on one store (HA masters): each
    object is created by whichever gets there first, and the others find it made.
    Returns the address reservations no Service held (see `release_leaks_later`)."""
    items, _ = reg.store.list("/registry/services/")
    leaks = reg.ipam.repair([json.loads(v) for _, v, _ in items])
    ns_info = kinds.RESOURCES["namespaces"]
    for ns in SYSTEM_NAMESPACES:
        ensure_created(reg, ns_info, None, {"metadata": {"name": ns}})
    ensure_created(reg, kinds.RESOURCES["services"], "default",
                   kubernetes_service(alloc.reserved_cluster_ip(reg.ipam.cidr), port))
    from k8snet.apiserver.masterleases import MasterLeases

    # this apiserver among the `kubernetes` Endpoints, beside the other live ones
    MasterLeases(reg, advertise_ip, port).once()
    ensure_default_rbac(reg)
    return leaks


def ensure_created(reg: Registry, info, ns: Optional[str], obj: dict) -> None:
    """Create `obj` unless it exists. Another apiserver creating it at the same moment
    makes our create fail (409 AlreadyExists; for the `kubernetes` Service, 422 "provided
    IP is already allocated" when its address is reserved but the Service not yet
    stored): then read again until it is there, or create it if the other gave up."""
    name = obj["metadata"]["name"]
    for _ in range(BOOTSTRAP_ATTEMPTS):
        if reg.read(info, ns, name) is not None:
            return
        try:
            reg.create(info, ns, copy.deepcopy(obj), Ctx())
            return
        except ApiStatusError as e:
            if e.code not in (409, 422):
                raise
        time.sleep(0.25)
    if reg.read(info, ns, name) is None:
        raise RuntimeError(f"bootstrap: could not create {info.plural} {name}")


def release_leaks_later(reg: Registry, leaks: dict[str, int], stop: threading.Event,
                        grace: float = LEAK_GRACE) -> None:
    """After `grace` seconds, free the reservations `bootstrap` found unheld that are
    still unheld (as upstream's repair controller frees a leak only when it persists)."""
    if not leaks or stop.wait(grace):
        return
    items, _ = reg.store.list("/registry/services/")
    released = reg.ipam.release_leaks(leaks, [json.loads(v) for _, v, _ in items])
    if released:
        print(f"k8snet apiserver: released {len(released)} address reservation(s) no "
              f"Service holds: {', '.join(released)}", flush=True)


def _reconcile_role(cur: dict, want: dict) -> Optional[dict]:
    """The default ClusterRole `want` merged into the stored `cur` (None: nothing to do).

    As upstream: only objects still annotated autoupdate=true are touched; missing rules
    are added (extra ones kept); an aggregated role keeps its rules (the aggregation
    controller owns them) but gets the default selectors back.
    """
    meta = cur.get("metadata") or {}
    if (meta.get("annotations") or {}).get(next(iter(rbac_defaults.AUTOUPDATE))) != "true":
        return None
    new = copy.deepcopy(cur)
    nmeta = new.setdefault("metadata", {})
    nmeta["labels"] = dict(nmeta.get("labels") or {}, **want["metadata"]["labels"])
    if "aggregationRule" in want:
        sels = list((cur.get("aggregationRule") or {}).get("clusterRoleSelectors") or [])
        for sel in want["aggregationRule"]["clusterRoleSelectors"]:
            if sel not in sels:
                sels.append(sel)
        new["aggregationRule"] = {"clusterRoleSelectors": sels}
    else:
        have = rbac.rules_from_api(cur.get("rules"))
        rules = list(cur.get("rules") or [])
        for r in want["rules"]:
            if not rbac.covers(list(have), [rbac.rule_from_api(r)])[0]:
                rules.append(r)
        new["rules"] = rules
    return None if new == cur else new


def _reconcile_binding(cur: dict, want: dict) -> Optional[dict]:
    """The default binding's subjects added to the stored one (None: nothing to do)."""
    meta = cur.get("metadata") or {}
    if (meta.get("annotations") or {}).get(next(iter(rbac_defaults.AUTOUPDATE))) != "true":
        return None
    subjects = list(cur.get("subjects") or [])
    for sub in want["subjects"]:
        if sub not in subjects:
            subjects.append(sub)
    return None if subjects == list(cur.get("subjects") or []) else dict(cur,
                                                                         subjects=subjects)


def ensure_default_rbac(reg: Registry) -> None:
    """Create the default ClusterRoles and ClusterRoleBindings, or bring them up to date."""
    for plural, objs, merge in (
            ("clusterroles", rbac_defaults.cluster_roles(), _reconcile_role),
            ("clusterrolebindings", rbac_defaults.cluster_role_bindings(), _reconcile_binding)):
        info = kinds.RESOURCES[plural]
        for want in objs:
            name = want["metadata"]["name"]

            def mutate(cur: Optional[dict], want: dict = want,
                       merge=merge) -> Optional[dict]:
                return copy.deepcopy(want) if cur is None else merge(cur, want)
            reg.guaranteed_update(info, None, name, mutate, Ctx(), create_ok=True)


def aggregation_writer(reg: Registry):
    """reconcile(name, rules) for the RBAC cache: store an aggregated ClusterRole's union."""
    info = kinds.RESOURCES["clusterroles"]

    def write(name: str, rules: list) -> None:
        def mutate(cur: Optional[dict]) -> Optional[dict]:
            if cur is None or not isinstance(cur.get("aggregationRule"), dict) or \
                    (cur.get("rules") or []) == rules:
                return None
            return dict(cur, rules=rules)
        try:
            reg.guaranteed_update(info, None, name, mutate, Ctx())
        except ApiStatusError as e:
            if e.code != 404:
                raise
    return write
