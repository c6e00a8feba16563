"""Example facts for a leaf-spine fabric (tests, docs, and a reference for the testbed).

Port numbering: on a leaf, ports 1..H are its hosts and H+1..H+S its spines;
on a spine, port L is leaf L. Hosts get 10.0.0.<n>/16 and MAC 02:4b:00:00:00:<n>.
"""

from __future__ import annotations

from typing import Any


def leaf_spine_facts(spines: int = 2, leaves: int = 2, hosts_per_leaf: int = 2,
                     prefix: str = "kntst") -> dict[str, Any]:
    """Facts (as the JSON document) for ``spines`` x ``leaves`` with hosts h1, h2, ..."""
    switches = [{"name": f"{prefix}-s{i}", "dpid": 0x100 + i, "role": "spine"}
                for i in range(1, spines + 1)]
    switches += [{"name": f"{prefix}-l{i}", "dpid": 0x200 + i, "role": "leaf"}
                 for i in range(1, leaves + 1)]
    links = [{"a": f"{prefix}-l{leaf}", "a_port": hosts_per_leaf + s,
              "b": f"{prefix}-s{s}", "b_port": leaf}
             for leaf in range(1, leaves + 1) for s in range(1, spines + 1)]
    hosts = []
    for leaf in range(1, leaves + 1):
        for j in range(1, hosts_per_leaf + 1):
            n = (leaf - 1) * hosts_per_leaf + j
            hosts.append({"name": f"h{n}", "ip": f"10.0.0.{n}", "prefixlen": 16,
                          "mac": f"02:4b:00:00:00:{n:02x}", "switch": f"{prefix}-l{leaf}",
                          "port": j, "role": "worker"})
    return {"switches": switches, "links": links, "hosts": hosts,
            "gateways": [{"ip": "10.0.255.254", "prefixlen": 16, "mac": "02:4b:ff:00:00:01"}],
            "routes": []}
