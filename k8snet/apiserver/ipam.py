"""ClusterIP / NodePort reservations kept in the store (the effect layer over alloc)."""

from __future__ import annotations

import random
from typing import Optional

from k8snet.apiserver import alloc
from k8snet.apiserver.status import invalid
from k8snet.store.base import KeyExists, KeyNotFound, RevisionMismatch, Store

IP_PREFIX = "/registry/allocations/clusterips/"
PORT_PREFIX = "/registry/allocations/nodeports/"


class ServiceIPAM:
    """Reserve and release Service addresses; unique across apiservers sharing a store."""

    def __init__(self, store: Store, cidr: str, port_range: tuple[int, int],
                 rng: Optional[random.Random] = None) -> None:
        self.store = store
        self.cidr = cidr
        self.port_range = port_range
        self.rng = rng or random.Random()

    def _used(self, prefix: str) -> list[str]:
        items, _ = self.store.list(prefix)
        return [k[len(prefix):] for k, _, _ in items]

    def _err(self, svc: dict, e: alloc.AllocationError):
        name = str((svc.get("metadata") or {}).get("name"))
        return invalid("Service", name, [{"field": e.field, "reason": "FieldValueInvalid",
                                          "message": e.message}])

    def reserve_ip(self, svc: dict, owner: str, requested: Optional[str],
                   dry_run: bool = False) -> str:
        """Pick (or honour) a ClusterIP and reserve it."""
        for _ in range(20):
            used = self._used(IP_PREFIX)
            if not requested:
                used.append(alloc.reserved_cluster_ip(self.cidr))
            try:
                ip = alloc.pick_cluster_ip(self.cidr, used, requested,
                                           self.rng.randrange(1 << 20))
            except alloc.AllocationError as e:
                raise self._err(svc, e) from None
            if dry_run:
                return ip
            try:
                self.store.create(IP_PREFIX + ip, owner.encode())
                return ip
            except KeyExists:
                if requested:
                    raise self._err(svc, alloc.AllocationError(
                        422, "spec.clusterIP", f"Invalid value: \"{ip}\": provided IP is "
                        "already allocated")) from None
        raise self._err(svc, alloc.AllocationError(422, "spec.clusterIP",
                                                   "could not allocate a ClusterIP"))

    def reserve_port(self, svc: dict, owner: str, requested: Optional[int], field: str,
                     taken: set, dry_run: bool = False) -> int:
        """Pick (or honour) a NodePort not in store reservations nor `taken`; reserve it."""
        for _ in range(20):
            used = [int(p) for p in self._used(PORT_PREFIX) if p.isdigit()] + list(taken)
            try:
                port = alloc.pick_node_port(self.port_range, used, requested,
                                            self.rng.randrange(1 << 20), field)
            except alloc.AllocationError as e:
                raise self._err(svc, e) from None
            if dry_run:
                return port
            try:
                self.store.create(PORT_PREFIX + str(port), owner.encode())
                return port
            except KeyExists:
                if requested:
                    raise self._err(svc, alloc.AllocationError(
                        422, field, f"Invalid value: {port}: provided port is already "
                        "allocated")) from None
        raise self._err(svc, alloc.AllocationError(422, field, "could not allocate a NodePort"))

    def release(self, ips: list[str], ports: list[int]) -> None:
        """Drop reservations (missing ones are fine)."""
        for k in [IP_PREFIX + ip for ip in ips] + [PORT_PREFIX + str(p) for p in ports]:
            try:
                self.store.delete(k)
            except KeyNotFound:
                pass

    def allocate(self, svc: dict, old: Optional[dict], dry_run: bool = False) -> tuple:
        """Fill spec.clusterIP(s) and nodePorts of `svc` (in place), keeping `old`'s.

        Returns (newly reserved ips, newly reserved ports, released ips, released ports);
        the caller releases the new ones if its write fails and the old ones after it
        succeeds.
        """
        meta = svc.get("metadata") or {}
        owner = f"{meta.get('namespace')}/{meta.get('name')}"
        spec = svc.setdefault("spec", {})
        old_ips, old_ports = alloc.service_allocations(old) if old else ([], [])
        new_ips: list[str] = []
        new_ports: list[int] = []
        try:
            if alloc.needs_cluster_ip(svc):
                want = spec.get("clusterIP") or None
                if old_ips and want in (None, old_ips[0]):
                    ip = old_ips[0]
                elif old_ips:
                    raise invalid("Service", str(meta.get("name")), [{
                        "field": "spec.clusterIPs[0]", "reason": "FieldValueInvalid",
                        "message": f"Invalid value: \"{want}\": may not change once set"}])
                else:
                    ip = self.reserve_ip(svc, owner, want, dry_run)
                    new_ips.append(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif spec.get("type") == "ExternalName":
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            else:
                spec["clusterIPs"] = ["None"]
            kept: set = set()
            if alloc.needs_node_ports(svc):
                old_by_port = {}
                for p in ((old or {}).get("spec") or {}).get("ports") or []:
                    if isinstance(p, dict) and p.get("nodePort"):
                        old_by_port[(p.get("port"), p.get("protocol", "TCP"))] = p["nodePort"]
                for i, p in enumerate(spec.get("ports") or []):
                    if not isinstance(p, dict):
                        continue
                    want_port = p.get("nodePort") if isinstance(p.get("nodePort"), int) else None
                    field = f"spec.ports[{i}].nodePort"
                    if want_port and want_port in old_ports and want_port not in kept:
                        kept.add(want_port)
                        continue
                    if not want_port:
                        reuse = old_by_port.get((p.get("port"), p.get("protocol", "TCP")))
                        if reuse and reuse not in kept:
                            p["nodePort"] = reuse
                            kept.add(reuse)
                            continue
                    port = self.reserve_port(svc, owner, want_port, field,
                                             kept | set(new_ports), dry_run)
                    p["nodePort"] = port
                    new_ports.append(port)
        except Exception:
            if not dry_run:
                self.release(new_ips, new_ports)
            raise
        keep_ips = set(spec.get("clusterIPs") or [])
        return (new_ips, new_ports, [ip for ip in old_ips if ip not in keep_ips],
                [p for p in old_ports if p not in kept])

    def _reservations(self) -> dict[str, int]:
        """Every reservation key -> its revision."""
        out: dict[str, int] = {}
        for prefix in (IP_PREFIX, PORT_PREFIX):
            items, _ = self.store.list(prefix)
            out.update({k: rev for k, _, rev in items})
        return out

    def repair(self, services: list[dict]) -> dict[str, int]:
        """At start-up: reserve what stored Services hold and is not reserved. Returns
        the reservations no Service holds (key -> revision) without releasing them:
        with several apiservers one may be another's create in flight (reserved, not yet
        stored). `release_leaks` frees those still unheld a while later."""
        ips, ports = alloc.allocations_from_services(services)
        have = self._reservations()
        for key, owner in [(IP_PREFIX + ip, o) for ip, o in ips.items()] + \
                [(PORT_PREFIX + str(p), o) for p, o in ports.items()]:
            if key not in have:
                try:
                    self.store.create(key, owner.encode())
                except KeyExists:
                    pass
        return leaked_reservations(have, ips, ports)

    def release_leaks(self, candidates: dict[str, int], services: list[dict]) -> list[str]:
        """Release the `candidates` (from `repair`) that no Service holds still and that
        nobody re-reserved since (same revision); the keys released."""
        ips, ports = alloc.allocations_from_services(services)
        still = leaked_reservations(candidates, ips, ports)
        released = []
        for key, rev in still.items():
            try:
                self.store.delete(key, expected_revision=rev)
                released.append(key)
            except (KeyNotFound, RevisionMismatch):
                pass
        return released


def leaked_reservations(reservations: dict[str, int], ips: dict, ports: dict) -> dict[str, int]:
    """The reservations (key -> revision) that no Service's address or port explains
    (pure)."""
    held = {IP_PREFIX + ip for ip in ips} | {PORT_PREFIX + str(p) for p in ports}
    return {k: rev for k, rev in reservations.items() if k not in held}
