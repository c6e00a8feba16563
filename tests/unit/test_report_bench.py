"""`make bench`'s report from recorded benchmark output: figures read from the
printed lines, time figures plotted in ms, the page and bench.json written."""

import json

from k8snet.report import bench

STORE = """sqlite:
  create 1000 Pods          2.41 s
  get P50                   0.8 ms
  watch fan-out             1200 ops/s
etcd: skipped (/usr/bin/etcd missing)
"""
PROXY = """mode      services  render ms
  iptables P50    12.5 ms   P99   40.0 ms
{"qps": 950, "lost": 0, "answered": 1000, "ok": true}
"""


def test_figures_are_read_with_their_units_and_labels():
    run = bench.parse_output("bench_store", 12.0, 0, STORE)
    assert [(f.value, f.unit) for f in run.figures] == [(2.41, "s"), (0.8, "ms"),
                                                        (1200.0, "ops/s")]
    assert run.figures[0].label == "create 1000 Pods #s"   # "1000 Pods" is no figure
    assert [(f.label, f.value) for f in bench.time_figures(run)] == [
        ("create 1000 Pods #s", 2410.0), ("get P50 #ms", 0.8)]
    two = bench.parse_output("bench_proxy", 3.0, 1, PROXY)
    assert [f.label for f in two.figures[:2]] == ["iptables P50 #ms P99 40.0 ms",
                                                  "iptables P50 12.5 ms P99 #ms"]
    assert two.json_lines == [{"qps": 950, "lost": 0, "answered": 1000, "ok": True}]
    # JSON numbers are kept (without a unit, so never plotted as times); booleans are not.
    assert {(f.label, f.value, f.unit) for f in two.figures[2:]} == {
        ("qps", 950.0, ""), ("lost", 0.0, ""), ("answered", 1000.0, "")}


def test_tables_with_units_in_their_headings():
    out = """mode      services  render ms  first apply ms  re-apply ms
iptables        10        6.1           458.3        332.0
nftables      1000     1922.8          4446.7       8049.2

after the table: 3.5 ms
"""
    run = bench.parse_output("bench_proxy", 1.0, 0, out)
    assert [(f.label, f.value, f.unit) for f in run.figures] == [
        ("mode=iptables services=10 render", 6.1, "ms"),
        ("mode=iptables services=10 first apply", 458.3, "ms"),
        ("mode=iptables services=10 re-apply", 332.0, "ms"),
        ("mode=nftables services=1000 render", 1922.8, "ms"),
        ("mode=nftables services=1000 first apply", 4446.7, "ms"),
        ("mode=nftables services=1000 re-apply", 8049.2, "ms"),
        ("after the table: #ms", 3.5, "ms")]
    # No unit in the heading, or a row that does not fit: no figures from it.
    assert bench.parse_output("x", 1.0, 0, "name  count\na  3\n").figures == []
    assert bench.parse_output("x", 1.0, 0, "name  t ms\na b 3\n").figures == []


def test_no_figures_from_names_and_words():
    assert bench.line_figures("bench_x: 3 nodes, P99 of 2 services, k8s 1.32") == []
    assert [(f.value, f.unit) for f in bench.line_figures("took 1.5x (3 min)")] == [
        (1.5, "x"), (3.0, "min")]
    assert [(f.value, f.unit) for f in bench.line_figures(
        "200 Pods in 3.86s = 52 Pods/s, 1.2 Gbit/s")] == [
        (3.86, "s"), (52.0, "Pods/s"), (1.2, "Gbit/s")]


def test_plot_holds_the_time_figures_in_ms():
    fig = bench.bench_figure(bench.parse_output("bench_store", 12.0, 0, STORE))
    ax = fig.axes[0]
    assert [round(p.get_width(), 3) for p in ax.patches] == [2410.0, 0.8]
    assert ax.get_xscale() == "log"     # 0.8 to 2410 ms: over two decades
    assert [t.get_text() for t in ax.get_yticklabels()] == ["create 1000 Pods #s",
                                                           "get P50 #ms"]
    walls = bench.walltime_figure([bench.parse_output("a", 12.0, 0, ""),
                                   bench.parse_output("b", 3.0, 1, "")]).axes[0]
    assert [p.get_width() for p in walls.patches] == [12.0, 3.0]


def test_report_files(tmp_path):
    runs = [bench.parse_output("bench_store", 12.0, 0, STORE),
            bench.parse_output("bench_proxy", 3.0, 1, PROXY),
            bench.parse_output("bench_quiet", 1.0, 0, "nothing measured\n")]
    files = bench.write_bench_report(str(tmp_path), runs, "2026-12-03 05:00 UTC")
    assert set(files) == {"bench.html", "bench.json", "bench_walltime.png",
                          "bench_walltime.svg", "bench_bench_store.png",
                          "bench_bench_store.svg", "bench_bench_proxy.png",
                          "bench_bench_proxy.svg"}
    for name in files:
        assert (tmp_path / name).stat().st_size > 0
    page = (tmp_path / "bench.html").read_text()
    assert 'src="bench_bench_store.svg"' in page and "bench_quiet" in page
    assert "1200" in page and "ops/s" in page          # non-time figures in a table
    assert "etcd: skipped (/usr/bin/etcd missing)" in page   # the printed text, escaped
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert [r["status"] for r in doc["runs"]] == [0, 1, 0]
    assert doc["runs"][0]["figures"][0] == {"label": "create 1000 Pods #s", "value": 2.41,
                                            "unit": "s"}
