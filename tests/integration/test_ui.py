"""`k8snet ui` in a real browser (Debian's chromium, headless, driven by
Selenium through Debian's chromium-driver: same version as the browser, both
from the archive, so no driver download at test time), and `k8snet capture`.

One leaf-spine cluster for the module. Screenshots go to tests/artifacts/
(ignored by git); their paths are printed.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import k8snet, nothing_left

CLUSTER = "uif1"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = os.path.join(os.path.dirname(__file__), "..", "artifacts")
RED = "rgb(229,57,53)"          # edge.link.down in static/app.js



def kubectl(*args, stdin=None):
    return subprocess.run(["kubectl", "--kubeconfig", f"/run/k8snet/{CLUSTER}/kubeconfig",
                           *args], input=stdin, capture_output=True, text=True, check=True,
                          timeout=60)


@pytest.fixture(scope="module")
def cluster():
    k8snet("up", "--detach", "--name", CLUSTER, "--topology", "leaf-spine", "--workers", "2",
           timeout=600)
    try:
        for i, node in enumerate(("w1", "w2"), 1):
            kubectl("run", f"p{i}", "--image=busybox:1.36", "--restart=Never",
                    f"--overrides={{\"spec\": {{\"nodeName\": \"{node}\"}}}}",
                    "--", "sleep", "3600")
        kubectl("wait", "--for=condition=Ready", "pod/p1", "pod/p2", "--timeout=90s")
        yield CLUSTER
    finally:
        k8snet("down", "--name", CLUSTER, check=False)
        assert not nothing_left(CLUSTER)


@pytest.fixture(scope="module")
def ui_url(cluster):
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "ui", "--name", cluster,
                             "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, f"k8snet ui said: {line!r}"
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(ui_url):
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (make deps)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,850"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    try:
        driver.get(ui_url)
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.abspath(os.path.join(ARTIFACTS, f"ui-{name}.png"))
    driver.save_screenshot(path)
    print(f"screenshot: {path}")


def wait_js(driver, script, predicate, timeout, what):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if predicate(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout}s; last: {value!r}")


def link_color(driver, link_id):
    return driver.execute_script(
        f"const e = cy.getElementById({link_id!r}); "
        "return e.length ? e.style('line-color').replace(/ /g, '') : null")


def test_page_shows_every_node_switch_and_pod(cluster, browser):
    from k8snet.testbed import api

    state = api.find(cluster).state
    want = {f"node:{n.name}" for n in state.nodes} | {f"sw:{s.name}" for s in state.switches}
    want |= {"pod:default/p1", "pod:default/p2"}
    wait_js(browser, "return cy.nodes().map(n => n.id())", lambda ids: want <= set(ids or []),
            20, "every node, switch and Pod drawn")
    wait_js(browser, "return cy.edges('.link.up').length", lambda n: n >= len(state.switches),
            10, "links drawn up")
    screenshot(browser, "cluster")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_link_set_down_turns_red_within_2s(cluster, browser):
    from k8snet.testbed import api

    link = api.find(cluster).state.switches  # a leaf's first uplink: port 1 of l1
    leaf = next(s.name for s in link if s.role == "leaf")
    port, link_id = f"{leaf}p1", f"link:{leaf}:1"
    assert link_color(browser, link_id) != RED
    cut = time.time()
    subprocess.run(["ip", "link", "set", port, "down"], check=True)
    try:
        # Poll generously (a loaded machine slows Selenium's round trips), then
        # judge by when the page itself drew the change: same clock, same machine.
        wait_js(browser, f"return cy.getElementById({link_id!r}).style('line-color')",
                lambda c: (c or "").replace(" ", "") == RED, 20, f"{link_id} red")
        drawn = browser.execute_script(f"return window.k8snet.linkChanged[{link_id!r}]")
        delay = drawn["at"] / 1000 - cut
        print(f"{link_id} drawn red {delay:.2f}s after 'ip link set {port} down'")
        screenshot(browser, "link-down")
        assert drawn["state"] == "down" and delay < 2.0, drawn
    finally:
        subprocess.run(["ip", "link", "set", port, "up"], check=True)
    wait_js(browser, f"return cy.getElementById({link_id!r}).classes()",
            lambda c: "up" in (c or []), 10, f"{link_id} up again")


def test_fault_buttons_take_a_link_down_and_clear_it(cluster, browser):
    """The page's buttons call `k8snet fault`'s own functions: the fault is
    recorded where the CLI records it, drawn red and listed; clear mends it."""
    from selenium.webdriver.common.by import By

    from k8snet.testbed import api
    from k8snet.testbed import faults as flt

    state = api.find(cluster).state
    leaf = next(s.name for s in state.switches if s.role == "leaf")
    link_id = f"link:{leaf}:1"
    wait_js(browser, f"return cy.getElementById({link_id!r}).classes()",
            lambda c: "up" in (c or []), 10, f"{link_id} up before the click")
    browser.execute_script(f"cy.getElementById({link_id!r}).emit('tap')")
    started = time.monotonic()
    browser.find_element(By.ID, "link-down-btn").click()
    try:
        wait_js(browser, f"return cy.getElementById({link_id!r}).style('line-color')",
                lambda c: (c or "").replace(" ", "") == RED, 10, f"{link_id} red")
        listed = wait_js(browser, "return document.getElementById('fault-list').innerText",
                         lambda t: "down" in (t or ""), 10, "the fault listed")
        print(f"{link_id} down by its button: red and listed ({listed.strip()!r}) "
              f"{time.monotonic() - started:.2f}s after the click")
        recorded = flt.load(state.dir)
        assert [f.kind for f in recorded] == ["link"], recorded
        assert link_id in browser.execute_script(
            "return window.k8snet.view.faults[0].elements")
        assert "fault" in browser.execute_script(
            f"return cy.getElementById({link_id!r}).classes()")
        screenshot(browser, "fault-button")
    finally:
        browser.find_element(By.ID, "fault-clear").click()
    wait_js(browser, f"return cy.getElementById({link_id!r}).classes()",
            lambda c: "up" in (c or []) and "fault" not in c, 10, f"{link_id} up after clear")
    wait_js(browser, "return document.getElementById('fault-list').innerText",
            lambda t: (t or "").strip() == "none", 5, "no fault listed after clear")
    assert flt.load(state.dir) == []
    assert browser.execute_script("return window.k8snet.faultError") is None


def test_policy_is_drawn_to_the_pods_it_selects(cluster, browser):
    policy = """{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "only-p1", "namespace": "default"},
                 "spec": {"podSelector": {"matchLabels": {"run": "p1"}},
                          "ingress": [{"from": [{"podSelector": {}}]}]}}"""
    kubectl("apply", "-f", "-", stdin=policy)
    try:
        edges = wait_js(browser, "return cy.edges('.selects').map(e => e.id())",
                        lambda ids: bool(ids), 10, "the policy's edge drawn")
        assert edges == ["sel:default/only-p1:default/p1"], edges
        listed = browser.execute_script("return document.getElementById('policies').innerText")
        assert "applies to: default/p1" in listed, listed
    finally:
        kubectl("delete", "networkpolicy", "only-p1")
    wait_js(browser, "return cy.getElementById('np:default/only-p1').length",
            lambda n: n == 0, 10, "the policy gone from the page")


def test_trace_click_draws_the_switches_the_packet_crossed(cluster, browser):
    from selenium.webdriver.common.by import By

    for pod in ("pod:default/p1", "pod:default/p2"):
        browser.execute_script(f"cy.getElementById({pod!r}).emit('tap')")
    assert browser.find_element(By.ID, "dst").text == "default/p2"
    browser.find_element(By.ID, "trace-btn").click()
    # A trace starts capture agents in every node: minutes on a loaded machine.
    done = wait_js(browser, "return window.k8snet.trace || window.k8snet.traceError || null",
                   bool, 300, "a trace result")
    assert isinstance(done, dict), f"the page says: {done}"
    result = done
    crossed = {f"sw:{h['place'].split(' ', 1)[1]}" for h in result["trace"]["hops"]
               if h["place"].startswith("switch ")}
    drawn = set(browser.execute_script("return cy.nodes('.path').map(n => n.id())"))
    screenshot(browser, "trace")
    assert result["trace"]["matches_intended"], result["trace"]["comparison"]
    # p1 on w1, p2 on w2: at least both leaves and one spine, and exactly those are lit.
    assert len(crossed) >= 3
    assert {el for el in drawn if el.startswith("sw:")} == crossed
    assert {"pod:default/p1", "pod:default/p2", "node:w1", "node:w2"} <= drawn


def test_capture_of_a_pod_ping_opens_in_scapy(cluster, tmp_path):
    from scapy.all import ICMP, IP, rdpcap

    ips = {p: kubectl("get", "pod", p, "-o", "jsonpath={.status.podIP}").stdout
           for p in ("p1", "p2")}
    out = tmp_path / "p2.pcap"
    cap = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "capture", "--name", cluster,
                            "p2", "-w", str(out), "--filter", "icmp", "--duration", "180",
                            "-c", "6"], stderr=subprocess.PIPE, text=True)
    try:
        assert "listening on eth0" in cap.stderr.readline()
        k8snet("exec", "--name", cluster, "p1", "--", "ping", "-c", "3", ips["p2"])
        assert cap.wait(timeout=200) == 0   # it ends at the 6th packet
    finally:
        if cap.poll() is None:
            cap.kill()
    packets = [p for p in rdpcap(str(out)) if ICMP in p]
    print(f"capture: {out} ({len(packets)} ICMP packets)")
    requests = [p for p in packets if p[ICMP].type == 8]
    replies = [p for p in packets if p[ICMP].type == 0]
    assert len(requests) == 3 and len(replies) == 3
    assert {(p[IP].src, p[IP].dst) for p in requests} == {(ips["p1"], ips["p2"])}
