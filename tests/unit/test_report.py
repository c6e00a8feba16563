"""Comparison reports assembled from recorded figures: series, plots, files."""

import csv
import json
from html.parser import HTMLParser

from k8snet.report import figures, plots
from k8snet.report.write import write_report


def extra(gbps, ready_s, frag_ok=True):
    return {"paths": {"pod_across_leaves_parallel": {"gbps": [gbps * 1.5]},
                      "pod_across_leaves_udp": {"error": "iperf3 gave no result"}},
            "rr_ms": [1.0, 1.2, 1.1], "ready_to_reachable_s": ready_s,
            "cpu": {"gbps": gbps, "seconds": 2.0, "iperf_cpu_s": 0.4, "ovs_cpu_s": 1.0},
            "mtu": {"pod_mtu": 1450, "df_full_size_passes": True,
                    "df_one_byte_more_passes": False, "fragmented_3000_passes": frag_ok}}


def run(routed_gbps, overlay_gbps, veth_gbps=10.0):
    return {"topology": "leaf-spine 2 spines x 2 leaves, 2 workers", "proxy_mode": "iptables",
            "seconds": 1.0, "pings": 3,
            "veth": {"gbps": [veth_gbps], "rtt_ms": [0.05, 0.06, 0.05]},
            "modes": {
                "routed": {"pod_mtu": 1500, "node_mtu": 1500, "paths": {
                    "pod_across_leaves": {"gbps": [routed_gbps], "rtt_ms": [0.5, 0.6, 0.7]},
                    "node_across_leaves": {"gbps": [routed_gbps * 1.1], "rtt_ms": [0.4]}}},
                "overlay": {"pod_mtu": 1450, "node_mtu": 1500, "paths": {
                    "pod_across_leaves": {"gbps": [overlay_gbps], "rtt_ms": [0.8, 0.9, 1.0]},
                    "node_across_leaves": {"gbps": [routed_gbps * 1.1], "rtt_ms": [0.4]}}}}}


RUNS = [run(0.6, 0.4), run(0.8, 0.5), run(0.7, 0.45, veth_gbps=12.0)]
WITH_EXTRA = [run(0.5, 0.25), run(0.5, 0.25)]
for _r in WITH_EXTRA:
    _r["modes"]["routed"]["extra"] = extra(0.5, 0.2)
    _r["modes"]["overlay"]["extra"] = extra(0.25, 0.4, frag_ok=False)
LABELS = {"pod_across_leaves": "Pod-to-Pod, across leaves",
          "node_across_leaves": "node-to-node, across leaves"}


def test_throughput_keeps_one_median_per_run_and_the_baseline():
    tp = figures.throughput(RUNS)
    assert tp["baseline"] == {"veth": [10.0, 10.0, 12.0]}
    assert tp["pod_across_leaves"] == {"routed": [0.6, 0.8, 0.7], "overlay": [0.4, 0.5, 0.45]}
    ratios = figures.ratios(RUNS)
    assert ratios["pod_across_leaves"]["routed"] == 0.7 / 10.0
    assert ratios["pod_across_leaves"]["overlay"] == 0.45 / 10.0


def test_latency_pools_every_sample_and_cdf_ends_at_one():
    lat = figures.latency(RUNS)
    assert sorted(lat["pod_across_leaves"]["overlay"]) == [0.8] * 3 + [0.9] * 3 + [1.0] * 3
    xs, ys = figures.cdf([3.0, 1.0, 2.0])
    assert xs == [1.0, 2.0, 3.0] and ys[-1] == 1.0 and ys[0] == 1 / 3


def test_throughput_plot_has_a_bar_series_per_mode_and_a_dot_per_run():
    fig = plots.throughput_figure(figures.throughput(RUNS), LABELS)
    ax = fig.axes[0]
    assert ax.get_legend_handles_labels()[1] == ["veth", "routed", "overlay"]
    heights = {c.get_label(): [round(p.get_height(), 3) for p in c.patches]
               for c in ax.containers}
    assert heights["routed"] == [0.7, 0.77]
    assert heights["overlay"] == [0.45, 0.77]
    dots = sorted(round(y, 3) for line in ax.lines for y in line.get_ydata())
    assert 0.6 in dots and 0.8 in dots and 12.0 in dots   # every run is drawn


def test_latency_plot_has_a_cdf_per_mode_per_path():
    fig = plots.latency_figure(figures.latency(RUNS), LABELS)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["baseline", "Pod-to-Pod, across leaves", "node-to-node, across leaves"]
    pod_ax = fig.axes[1]
    assert [line.get_label() for line in pod_ax.lines] == ["routed", "overlay"]
    assert max(pod_ax.lines[1].get_xdata()) == 1.0


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.open = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a":
            self.links.append(attrs["href"])
        if tag not in ("img", "meta", "link", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open.pop() == tag


def test_report_files_json_csv_and_a_page_that_names_every_plot(tmp_path):
    files = write_report(str(tmp_path), RUNS, LABELS)
    for name in files:
        assert (tmp_path / name).stat().st_size > 0, name
    assert {"throughput.png", "throughput.svg", "latency_cdf.svg",
            "throughput_ratio.png"} <= set(files)
    page = Page()
    page.feed((tmp_path / "report.html").read_text())
    assert not page.open
    assert set(page.images) == {"throughput.svg", "latency_cdf.svg", "throughput_ratio.svg"}
    assert set(page.links) == {"report.json", "report.csv"}
    doc = json.loads((tmp_path / "report.json").read_text())
    assert len(doc["runs"]) == 3 and doc["mtu"]["overlay"]["pod_mtu"] == 1450
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert sum(1 for r in rows if r["metric"] == "gbps") == 3 * (1 + 2 * 2)
    assert {r["mode"] for r in rows} == {"veth", "routed", "overlay"}


def test_extra_figures_add_paths_cpu_ready_and_say_what_failed(tmp_path):
    tp = figures.throughput(WITH_EXTRA)
    assert tp["pod_across_leaves_parallel"] == {"routed": [0.75, 0.75],
                                                "overlay": [0.375, 0.375]}
    assert "pod_across_leaves_udp" not in tp          # failed: left out, not zero
    assert figures.latency(WITH_EXTRA)["tcp_rr"]["overlay"] == [1.0, 1.2, 1.1] * 2
    cpu = figures.cpu_per_gbit(WITH_EXTRA)
    assert cpu["overlay"]["iperf3"] == [0.4 / 0.5] * 2        # 0.4 s for 0.5 Gbit
    assert cpu["routed"]["ovs-vswitchd"] == [1.0 / 1.0] * 2
    assert figures.ready_to_reachable(WITH_EXTRA) == {"routed": [0.2, 0.2],
                                                      "overlay": [0.4, 0.4]}
    assert any("pod_across_leaves_udp" not in e and "iperf3 gave no result" in e
               for e in figures.errors(WITH_EXTRA))
    fig = plots.cpu_figure(cpu)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["iperf3", "ovs-vswitchd"]
    files = write_report(str(tmp_path), WITH_EXTRA, LABELS)
    assert {"cpu_per_gbit.svg", "ready_to_reachable.svg"} <= set(files)
    page = (tmp_path / "report.html").read_text()
    assert "Not measured" in page and "refused/lost" in page
    rows = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert {r["metric"] for r in rows} >= {"tcp_rr_ms", "ready_to_reachable_s",
                                           "cpu_run_iperf_cpu_s"}


def test_parsers_of_iperf_udp_tcp_and_curl():
    from k8snet.report import measure

    tcp = json.dumps({"end": {"sum_received": {"bits_per_second": 2e9},
                              "sum_sent": {"bits_per_second": 2.1e9}}})
    assert measure.parse_iperf_end(tcp) == {"gbps": 2.0}
    udp = json.dumps({"end": {"sum": {"bits_per_second": 1e9, "lost_percent": 25.0}}})
    assert measure.parse_iperf_end(udp) == {"gbps": 0.75, "loss_pct": 25.0}
    assert measure.parse_curl_times("0.001500\n0.002000\n") == [1.5, 2.0]
