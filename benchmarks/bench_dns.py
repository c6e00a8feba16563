"""Cluster DNS figures: queries per second one DNS replica serves and P50/P99 latency
from a Pod on another node, next to a plain dnsmasq on the same path in the same run.

The coredns Deployment is scaled to one replica; dnsmasq runs inside that replica's
network namespace on port 5353 answering the same name from a hosts file, so both
servers are reached over exactly the same path (client Pod on w1 -> fabric -> DNS Pod
on w2). The load comes from a Python client in the client Pod: sequential queries for
latency, then a window of outstanding queries for throughput. Needs root.

    python -m benchmarks.bench_dns [--seconds 5] [--window 32] [--name dns3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

from benchmarks.common import is_ready, k8snet
from k8snet.errors import UsageError
from k8snet.probe import cluster as cl
from k8snet.testbed import api

NAME = "kubernetes.default.svc.cluster.local."
ANSWER = "10.96.0.1"

# Run in the client Pod: ``server port name seconds window`` -> JSON figures.
CLIENT = r"""
import json, select, socket, struct, sys, time
import dns.message
server, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seconds, window = float(sys.argv[4]), int(sys.argv[5])
wire = dns.message.make_query(name, "A").to_wire()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, port)); s.setblocking(False)
inflight, lat, lost, qid = {}, [], 0, 0
start = time.perf_counter(); end = start + seconds
while time.perf_counter() < end:
    while len(inflight) < window:
        qid = (qid + 1) & 0xFFFF
        s.send(struct.pack("!H", qid) + wire[2:]); inflight[qid] = time.perf_counter()
    if not select.select([s], [], [], 0.2)[0]:
        now = time.perf_counter()
        for k, t in list(inflight.items()):
            if now - t > 0.5:
                del inflight[k]; lost += 1
        continue
    while True:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            break
        t = inflight.pop(struct.unpack("!H", data[:2])[0], None)
        if t is not None:
            lat.append(time.perf_counter() - t)
elapsed = time.perf_counter() - start
lat.sort()
pick = lambda p: round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 3) if lat else None
print(json.dumps({"answered": len(lat), "lost": lost, "qps": round(len(lat) / elapsed),
                  "p50_ms": pick(50), "p99_ms": pick(99)}))
"""


def kubectl(kubeconfig: str, *args: str) -> str:
    return subprocess.run(["kubectl", f"--kubeconfig={kubeconfig}", *args], check=True,
                          capture_output=True, text=True, timeout=120).stdout


def wait(what: str, fn, timeout: float = 180):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {what}")


def run_client(cluster: str, pod: str, server: str, port: int, seconds: float,
               window: int) -> dict:
    out = k8snet("exec", "--name", cluster, "--timeout", str(int(seconds) + 60), pod, "--",
                 "python3", "-c", CLIENT, server, str(port), NAME, str(seconds), str(window))
    return json.loads(out.stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--name", default="dns3")
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args(argv)
    try:
        api.find(args.name, need_api=True)
        existing = True
    except UsageError:
        existing = False
    if not existing:
        k8snet("up", "--detach", "--name", args.name, "--topology", "single", "--workers", "2")
    dnsmasq, kc = None, ""
    try:
        cluster = api.find(args.name, need_api=True)
        kc = cluster.state.kubeconfig
        kubectl(kc, "-n", "kube-system", "scale", "deployment/coredns", "--replicas=1")
        client = cluster.client()

        def one_dns_pod():
            pods = client.list("pods", "kube-system", label_selector="k8s-app=kube-dns")["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            return live[0] if len(live) == 1 and is_ready(live[0]) else None

        dns_pod = wait("one ready DNS Pod", one_dns_pod)
        dns_node, dns_ip = dns_pod["spec"]["nodeName"], dns_pod["status"]["podIP"]
        other = next(w.name for w in cluster.state.workers if w.name != dns_node)
        kubectl(kc, "delete", "pod", "dnsbench", "--ignore-not-found", "--wait=true")
        kubectl(kc, "run", "dnsbench", "--image=python:3.12-alpine",
                f'--overrides={{"spec":{{"nodeName":"{other}"}}}}', "--", "sleep", "100000")
        wait("the client Pod", lambda: is_ready(client.get("pods", "dnsbench", "default")))
        netns = cl.pod_netns(cluster.state, dns_node, dns_pod["metadata"]["uid"])
        tmp = tempfile.mkdtemp(prefix="k8snet-bench-dns-")
        hosts = os.path.join(tmp, "hosts")
        with open(hosts, "w") as fh:
            fh.write(f"{ANSWER}\t{NAME.rstrip('.')}\n")
        dnsmasq = subprocess.Popen(
            ["nsenter", f"--net={netns}", "dnsmasq", "--keep-in-foreground", "--no-resolv",
             "--no-hosts", f"--addn-hosts={hosts}", f"--listen-address={dns_ip}",
             "--port=5353", "--bind-interfaces", "--user=root", "--group=root",
             f"--pid-file={tmp}/pid", "--local=/#/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        rows = []
        for label, server, port in (("k8snet DNS (dnspython), Pod IP", dns_ip, 53),
                                    ("dnsmasq 2.90, same Pod netns", dns_ip, 5353),
                                    ("k8snet DNS via kube-dns Service", "10.96.0.10", 53)):
            run_client(args.name, "dnsbench", server, port, 1, 1)   # warm up
            latency = run_client(args.name, "dnsbench", server, port, args.seconds, 1)
            load = run_client(args.name, "dnsbench", server, port, args.seconds, args.window)
            rows.append((label, latency, load))
        base = rows[1]
        print(f"one DNS replica on {dns_node}, client Pod on {other}; {args.seconds:.0f} s per "
              f"figure; throughput with {args.window} queries outstanding")
        print(f"{'server':<34} {'P50':>9} {'P99':>9} {'qps':>8} {'lost':>6}  vs dnsmasq")
        for label, lat, load in rows:
            ratio = (f"{lat['p50_ms'] / base[1]['p50_ms']:.1f}x P50, "
                     f"{load['qps'] / base[2]['qps']:.2f}x qps")
            print(f"{label:<34} {lat['p50_ms']:>7.3f}ms {lat['p99_ms']:>7.3f}ms "
                  f"{load['qps']:>8} {load['lost']:>6}  {ratio}")
    finally:
        if dnsmasq is not None:
            dnsmasq.terminate()
            dnsmasq.wait(10)
        if existing:
            subprocess.run(["kubectl", f"--kubeconfig={kc}", "delete", "pod", "dnsbench",
                            "--wait=false"], capture_output=True, timeout=60, check=False)
        elif not args.keep:
            k8snet("down", "--name", args.name, check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
