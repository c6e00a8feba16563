"""k8snet.report.perf: ratios, verdicts, comparison, the table, progress
milestones and py-spy profile headlines (pure)."""

import pytest

from k8snet.report import perf
from k8snet.report.perf import Figure


def test_cost_ratio_is_value_over_baseline_for_times_and_inverse_for_rates():
    assert perf.cost_ratio(30.0, 3.0) == pytest.approx(10.0)
    assert perf.cost_ratio(4.0, 40.0, "higher") == pytest.approx(10.0)
    assert perf.cost_ratio(None, 3.0) is None
    assert perf.cost_ratio(3.0, 0.0) is None


def test_verdict_against_targets():
    assert perf.verdict(9.0, 10.0) == "met"
    assert perf.verdict(32.0, 10.0) == "3.2x off"
    assert perf.verdict(25.0, 20.0, "higher") == "met"
    assert perf.verdict(4.0, 20.0, "higher") == "5.0x off"
    assert perf.verdict(0.0, 20.0, "higher") == "not met"
    assert perf.verdict(5.0, None) == "-"
    assert perf.verdict(None, 1.0) == "-"


def test_change_needs_value_and_ratio_to_agree():
    before = Figure("up", "up", 30.0, "s", baseline=3.0)
    # slower in absolute terms, but the baseline was as much slower: not a regression
    worse, text = perf.change(Figure("up", "up", 60.0, "s", baseline=6.0), before)
    assert worse == 0.0
    assert text == "value +100%, ratio +0%"
    # slower by both: the lesser is the change
    worse, text = perf.change(Figure("up", "up", 60.0, "s", baseline=4.0), before)
    assert worse == pytest.approx(0.5)
    assert text == "value +100%, ratio +50% REGRESSION"
    # faster, but its tiny baseline was faster still: they disagree
    worse, text = perf.change(Figure("up", "up", 20.0, "s", baseline=1.0), before)
    assert worse == 0.0 and "REGRESSION" not in text and "better" not in text


def test_change_flags_a_regression_and_an_improvement():
    before = Figure("mem", "mem", 60.0, "MiB")
    worse, text = perf.change(Figure("mem", "mem", 75.0, "MiB"), before)
    assert worse == pytest.approx(0.25)
    assert text == "value +25% REGRESSION"
    worse, text = perf.change(Figure("mem", "mem", 30.0, "MiB"), before)
    assert worse == pytest.approx(-0.5)
    assert text == "value -50% better"


def test_change_of_a_rate_is_worse_when_it_drops():
    before = Figure("r", "r", 10.0, "Pods/s", better="higher", baseline=100.0)
    worse, text = perf.change(Figure("r", "r", 5.0, "Pods/s", better="higher",
                                     baseline=100.0), before)
    assert worse == pytest.approx(1.0)
    assert text == "value +100%, ratio +100% REGRESSION"


def test_change_without_previous_or_value():
    assert perf.change(Figure("a", "a", 1.0, "s"), None) == (None, "-")
    assert perf.change(Figure("a", "a", None, "s"), Figure("a", "a", 1.0, "s")) == (None, "-")


def test_markdown_puts_target_previous_and_change_in_each_row():
    figs = [Figure("up_ls_8w", "up 2x4", 32.0, "s", baseline=4.0, baseline_label="plain",
                   note="command start to exit"),
            Figure("up_single_50w", "50 workers", None, "s", note="skipped; run with --scale")]
    prev = {"up_ls_8w": Figure("up_ls_8w", "up 2x4", 20.0, "s", baseline=4.0)}
    text = perf.markdown(figs, prev, context=["a line"])
    row = next(line for line in text.splitlines() if line.startswith("| up 2x4"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["up 2x4", "32.0 s", "4.00 s plain", "8.0x", "32 s", "10.0 s",
                     "3.2x off", "20.0 s", "value +60%, ratio +60% REGRESSION"]
    assert "not measured: skipped; run with --scale" in text
    assert "- **up 2x4**: command start to exit" in text
    assert "a line" in text


def test_regressions_lists_keys():
    prev = {"a": Figure("a", "a", 1.0, "s"), "b": Figure("b", "b", 1.0, "s")}
    now = [Figure("a", "a", 1.5, "s"), Figure("b", "b", 1.05, "s")]
    assert perf.regressions(now, prev) == ["a"]


def test_figure_round_trips_through_a_dict():
    fig = Figure("k", "label", 1.5, "s", baseline=0.5, extra={"x": 1})
    assert Figure.from_dict({**fig.to_dict(), "unknown": 3}) == fig


UP_OUTPUT = """\
[  0.4s] building leaf-spine fabric (user datapath)
[  2.0s] os-ken controller started on 127.0.0.1:4000 (log x)
[  4.1s] 6 switch(es) connected to the controller
[  5.0s] 70/90 node pairs reach each other (not yet: w1->w2)
[  6.1s] 90/90 node pairs reach each other
[ 16.5s] apiserver ready on m1; kubeconfig /run/k8snet/x/kubeconfig
[ 17.0s] CoreDNS add-on deployed
[ 20.0s] 0/8 worker nodes Ready
[ 31.9s] 8/8 worker nodes Ready
cluster 'x' is up
"""


def test_bring_up_phases_and_durations():
    phases = perf.bring_up_phases(perf.progress_lines(UP_OUTPUT))
    assert phases == {"building": 0.4, "switches": 4.1, "reachable": 6.1, "apiserver": 16.5,
                      "nodes_ready": 31.9}
    steps = perf.phase_durations(phases)
    assert [round(s, 1) for _, s in steps] == [0.4, 3.7, 2.0, 10.4, 15.4]
    assert steps[-1][0].endswith("all Nodes Ready")


@pytest.mark.parametrize("cmd, kind", [
    ("/opt/k8snet/venv/bin/python -m k8snet.cli kubelet --kubeconfig x", "kubelet"),
    ("python3 -m k8snet.cri.shim /run/k8snet/a/w1/runtime/c", "shim"),
    ("/usr/bin/python -m k8snet.testbed.supervisor /run/x.json", "supervisor"),
    ("/usr/bin/python3 /work/controllers/launch.py --port 1", "launch"),
    ("nsenter --net=/run/netns/x", "nsenter"),
    ("", "?"),
])
def test_component_of(cmd, kind):
    assert perf.component_of(cmd) == kind


UP = 'process 10:"python -m k8snet.cli up";'
KUBELET = UP + 'process 12:"python -m k8snet.cli kubelet --x";<module> (/w/k8snet/cli.py:1);'
RAW = "\n".join([
    UP + 'process 11:"python -m k8snet.testbed.supervisor s";'
    "main (/w/k8snet/testbed/supervisor.py:10);up (/w/k8snet/testbed/cluster.py:90);"
    "build (/usr/lib/python3/dist-packages/mininet/net.py:500) 30",
    KUBELET + "_find_and_load (<frozen importlib._bootstrap>:1178);"
    "<module> (/w/k8snet/kubelet/main.py:3) 15",
    KUBELET + "sync (/w/k8snet/kubelet/sync.py:40);"
    "dumps (/usr/lib/python3.11/json/__init__.py:231) 5",
    "garbage line", ""])


def test_parse_raw_takes_the_innermost_process():
    stacks = perf.parse_raw(RAW)
    assert [(s.component, s.pid, s.count) for s in stacks] == [
        ("supervisor", 11, 30), ("kubelet", 12, 15), ("kubelet", 12, 5)]
    assert stacks[0].frames[0] == "main (/w/k8snet/testbed/supervisor.py:10)"


def test_profile_headlines_per_component():
    heads = perf.profile_headlines(perf.parse_raw(RAW), root="/w/", top=5)
    assert [h.component for h in heads] == ["supervisor", "kubelet"]
    kubelet = heads[1]
    assert (kubelet.processes, kubelet.samples, kubelet.import_samples) == (1, 20, 15)
    # k8snet/cli.py's <module> is in every sample: an entry point, left out
    assert kubelet.inclusive == [("<module> (k8snet/kubelet/main.py)", 15),
                                 ("sync (k8snet/kubelet/sync.py)", 5)]
    assert kubelet.own[0] == ("<module> (k8snet/kubelet/main.py)", 15)
    assert ("dumps (json/__init__.py)", 5) in kubelet.own
    assert heads[0].own == [("build (mininet/net.py)", 30)]
    text = perf.profile_markdown("t", heads, rate=10, wall=5.0)
    assert "| kubelet | 1 | 2.0 | 40% | 75% |" in text
    assert "5.0 active s sampled" in text and "(1.00 on average" in text


def test_log_stamps_and_first_matching_line():
    text = ("no stamp here\n"
            "2026-12-03 07:51:25,869 kubelet[w1] INFO node sysctls: x\n"
            "2026-12-03 07:51:36,252 kubelet[w1] INFO serving logs, exec and attach on h\n")
    first = perf.first_stamp(text)
    serving = perf.first_stamp(text, "serving logs")
    assert serving - first == pytest.approx(10.383)
    assert perf.first_stamp(text, "registered node") is None
    assert perf.log_stamp("2026-12-03 07:51:25 no millis") is None


def test_timeline_summary_mean_and_slowest_in_milestone_order():
    per_node = {"w1": {"kubelet registered the Node": 30.0, "runtime serving": 16.0},
                "w2": {"kubelet registered the Node": 32.0, "runtime serving": 18.0},
                "w3": {}}
    assert perf.timeline_summary(per_node) == [("runtime serving", 17.0, 18.0),
                                               ("kubelet registered the Node", 31.0, 32.0)]
