"""The facts the fabric controller is handed: switches, links, hosts.

The testbed knows every port it wired, so it hands the controller the
topology instead of letting it discover it with LLDP: nothing to wait for,
nothing to get wrong, and the facts file is what users read to see which
node sits on which port. Port liveness still comes from the switches.
"""

from __future__ import annotations

from typing import Dict, Iterable, List

from k8snet.testbed import addressing


def fabric_facts(switches: Iterable[Dict], links: Iterable[Dict], hosts: Iterable[Dict],
                 routes: Iterable[Dict] = ()) -> Dict:
    """The controller's facts document (see k8snet/fabric for the format)."""
    gateways: List[Dict] = [
        {"ip": gw.ip, "prefixlen": gw.prefixlen, "mac": gw.mac}
        for gw in (addressing.NODE_GATEWAY, addressing.EXTERNAL_GATEWAY)
    ]
    return {
        "switches": sorted(switches, key=lambda s: s["name"]),
        "links": sorted(links, key=lambda link: (link["a"], link["a_port"])),
        "hosts": sorted(hosts, key=lambda h: h["name"]),
        "gateways": gateways,
        "routes": list(routes),
    }


def describe_link(end1: Dict, end2: Dict):
    """Classify one wire: a switch-switch link or a host attachment.

    ``end`` dicts have ``node``, ``kind`` (switch or host) and ``port``.
    Returns ("link", dict) or ("host", dict) or (None, None) for host-host.
    """
    if end1["kind"] == "switch" and end2["kind"] == "switch":
        return "link", {"a": end1["node"], "a_port": end1["port"],
                        "b": end2["node"], "b_port": end2["port"]}
    if end1["kind"] == "switch":
        end1, end2 = end2, end1
    if end2["kind"] == "switch":
        return "host", {"name": end1["node"], "switch": end2["node"], "port": end2["port"]}
    return None, None
