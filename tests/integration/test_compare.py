"""`k8snet compare` end to end, with small settings (two clusters, one after
the other): both modes in the table, real figures, and what sets the modes
apart on the wire (MTU, VXLAN on the spine links only in overlay mode); the
same run writes the report (``--report``), which headless chromium renders."""

import json
import os
import shutil

import pytest

from tests.integration.conftest import k8snet, nothing_left

BASE = "tcmp"


@pytest.mark.timeout(900)   # two clusters one after the other, then the report's figures
def test_compare_routed_and_overlay_side_by_side(tmp_path):
    report = tmp_path / "report"
    try:
        proc = k8snet("compare", "--name", BASE, "--seconds", "1", "--pings", "5",
                      "--timeout", "240", "--json", "--report", str(report), "--repeat", "1",
                      timeout=600)
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
    # Inside: the probes' Pod-to-Pod packets, and nothing that does not belong to a
    # Pod (a node answering a Pod, e.g. the apiserver to CoreDNS, is wrapped too).
    inner = [pair.split(" > ") for pair in overlay["capture"]["inner"]]
    assert any(a.startswith("10.244.") and b.startswith("10.244.") for a, b in inner), inner
    assert all(a.startswith("10.244.") or b.startswith("10.244.") for a, b in inner), inner
    for cluster in (BASE + "r", BASE + "o", BASE + "v"):  # "v": the veth baseline's netns
        assert nothing_left(cluster) == {}
    check_report(report)


def check_report(report):
    """Every plot written, the raw figures beside them, and a page chromium
    renders with every image loaded and no console error."""
    for name in ("report.html", "report.json", "report.csv", "throughput.png",
                 "throughput.svg", "latency_cdf.png", "latency_cdf.svg",
                 "throughput_ratio.png", "throughput_ratio.svg", "cpu_per_gbit.svg",
                 "ready_to_reachable.svg"):
        assert (report / name).stat().st_size > 0, name
    print(f"report: {report / 'report.html'}")
    doc = json.loads((report / "report.json").read_text())
    assert not doc["errors"], doc["errors"]        # every extra figure was measured
    assert doc["mtu_behaviour"]["overlay"]["df_full_size_passes"]
    assert not doc["mtu_behaviour"]["overlay"]["df_one_byte_more_passes"]
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("report written; chromium and chromium-driver are needed to render it")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(f"file://{report / 'report.html'}")
        loaded = driver.execute_script(
            "return Array.from(document.images)"
            ".map(i => [i.src, i.complete && i.naturalWidth > 0])")
        names = {src.rsplit("/", 1)[1] for src, _ok in loaded}
        assert {"throughput.svg", "latency_cdf.svg", "throughput_ratio.svg",
                "cpu_per_gbit.svg", "ready_to_reachable.svg"} == names, names
        assert all(ok for _src, ok in loaded), loaded
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        driver.save_screenshot(os.path.join(str(report), "report.png"))
    finally:
        driver.quit()
