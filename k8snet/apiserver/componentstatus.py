"""ComponentStatus (``kubectl get componentstatuses``), computed from checks the apiserver
can make itself, never stored.

Public names:

    check_all(registry, now) -> list[dict]      the ComponentStatus objects, in the order
                                                upstream lists them
    lease_health(lease, now) -> (status, message, error)   pure
    COMPONENTS: component name -> its leader-election Lease in kube-system

The scheduler and the controller manager are healthy while their leader Lease is held and
renewed within its duration (k8snet's components serve no /healthz port to probe); the
store is healthy when it answers a read of its current revision. The store is named
``etcd-0`` when it is etcd, as upstream names its etcd servers, else ``storage-0``.
"""

from __future__ import annotations

from typing import Any, Optional

from k8snet.apiserver.tables import parse_time

COMPONENTS = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}


def _status(name: str, healthy: Optional[bool], message: str, error: str) -> dict:
    cond: dict = {"type": "Healthy",
                  "status": {True: "True", False: "False", None: "Unknown"}[healthy]}
    if message:
        cond["message"] = message
    if error:
        cond["error"] = error
    return {"kind": "ComponentStatus", "apiVersion": "v1",
            "metadata": {"name": name, "creationTimestamp": None}, "conditions": [cond]}


def lease_health(lease: Optional[dict], now: float) -> tuple[Optional[bool], str, str]:
    """(healthy, message, error) of a component from its leader Lease."""
    if lease is None:
        return False, "", "no leader lease: the component has not started"
    spec: Any = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    renewed = parse_time(spec.get("renewTime"))
    duration = spec.get("leaseDurationSeconds")
    if not holder:
        return False, "", "leader lease is not held"
    if renewed is None or not isinstance(duration, int):
        return None, "", "leader lease carries no renewTime or leaseDurationSeconds"
    age = now - renewed
    if age > duration:
        return False, "", f"leader lease held by {holder} was last renewed {int(age)}s ago " \
                          f"(duration {duration}s)"
    return True, "ok", ""


def _store_name(store: object) -> str:
    return "etcd-0" if type(store).__name__.lower().startswith("etcd") else "storage-0"


def check_all(registry: Any, now: float) -> list[dict]:
    """Every component's status, checked now."""
    out = []
    leases = registry.table.get("coordination.k8s.io", "v1", "leases")
    for name, lease_name in COMPONENTS.items():
        lease = registry.read(leases, "kube-system", lease_name) if leases else None
        healthy, message, error = lease_health(lease, now)
        out.append(_status(name, healthy, message, error))
    try:
        registry.store.current_revision()
        out.append(_status(_store_name(registry.store), True, "ok", ""))
    except Exception as e:  # noqa: BLE001 - the check reports any failure of the store
        out.append(_status(_store_name(registry.store), False, "", str(e)))
    return out
