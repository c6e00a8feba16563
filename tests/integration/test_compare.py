"""`k8snet compare` end to end, with small settings (two clusters, one after
the other): both modes in the table, real figures, and what sets the modes
apart on the wire (MTU, VXLAN on the spine links only in overlay mode)."""

import json

from tests.integration.conftest import k8snet, nothing_left

BASE = "tcmp"


def test_compare_routed_and_overlay_side_by_side():
    try:
        proc = k8snet("compare", "--name", BASE, "--seconds", "1", "--pings", "5",
                      "--timeout", "240", "--json", timeout=600)
    finally:
        for mode in "ro":
            k8snet("down", "--name", BASE + mode, check=False)
    doc = json.loads(proc.stdout)
    raw, rows = doc["raw"], {r["kind"]: r for r in doc["table"]}
    assert list(raw["modes"]) == ["routed", "overlay"]
    assert rows["baseline"]["modes"]["veth"]["gbps"] > 0
    for kind in ("pod_same_node", "pod_across_leaves", "node_across_leaves"):
        for mode in ("routed", "overlay"):
            cell = rows[kind]["modes"][mode]
            assert cell["gbps"] > 0 and cell["gbps_ratio"] > 0, (kind, mode, cell)
            assert 0 < cell["rtt_ms"] < 1000, (kind, mode, cell)
    routed, overlay = raw["modes"]["routed"], raw["modes"]["overlay"]
    assert overlay["pod_mtu"] < routed["pod_mtu"]
    assert routed["pod_mtu"] - overlay["pod_mtu"] >= 50  # room for the VXLAN header
    # routed: Pod addresses on the spine link, nothing wrapped around them
    assert routed["capture"]["plain_pod"] > 0 and routed["capture"]["vxlan"] == 0
    # overlay: UDP 4789 between node addresses, the Pod packet inside
    assert overlay["capture"]["vxlan"] > 0 and overlay["capture"]["plain_pod"] == 0
    assert all(pair.startswith("10.0.") for pair in overlay["capture"]["outer"])
    assert all(pair.startswith("10.244.") for pair in overlay["capture"]["inner"])
    for cluster in (BASE + "r", BASE + "o", BASE + "v"):  # "v": the veth baseline's netns
        assert nothing_left(cluster) == {}
