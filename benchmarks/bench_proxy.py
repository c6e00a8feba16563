"""kube-proxy figures: render and apply time for N Services, both modes, and
the EndpointSlice-change-to-rules-applied latency through the proxy loop.

Rules go into a scratch network namespace (k8snet-bench-px<id>) that is
removed at the end; needs root.

    python -m benchmarks.bench_proxy [--services 10,100,1000] [--endpoints 3] [--changes 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
import uuid

from k8snet.proxy.apply import applier_for
from k8snet.proxy.loop import ProxyLoop
from k8snet.proxy.model import SERVICE_NAME_LABEL, NodeFacts, service_ports
from k8snet.proxy.render_iptables import render as render_ipt
from k8snet.proxy.render_nft import render as render_nft

NODE = NodeFacts("w1", ("10.0.0.2",), "10.244.0.0/16")


def objects(n: int, per: int, shift: int = 0) -> tuple[dict, dict]:
    """n NodePort Services with `per` ready endpoints each, in one EndpointSlice
    per Service (what kube-proxy reads; both keyed like an Informer)."""
    services, slices = {}, {}
    for i in range(n):
        name = f"svc{i}"
        services[f"default/{name}"] = {
            "metadata": {"namespace": "default", "name": name},
            "spec": {"type": "NodePort", "clusterIP": f"10.96.{i // 250}.{i % 250 + 1}",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP",
                                "nodePort": 30000 + i}]}}
        slices[f"default/{name}-x"] = {
            "metadata": {"namespace": "default", "name": f"{name}-x",
                         "labels": {SERVICE_NAME_LABEL: name}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [f"10.244.{(i * per + j + shift) // 250}."
                                         f"{(i * per + j + shift) % 250 + 1}"],
                           "conditions": {"ready": True}} for j in range(per)],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    return services, slices


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_proxy")
    parser.add_argument("--services", default="10,100,1000")
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_proxy: skipped (needs root for a scratch network namespace)")
        return 0
    ns = f"k8snet-bench-px{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        print(f"{'mode':9} {'services':>8} {'render ms':>10} {'first apply ms':>15} "
              f"{'re-apply ms':>12}")
        for mode in ("iptables", "nftables"):
            applier = applier_for(mode, netns=ns)
            for n in (int(x) for x in args.services.split(",")):
                svcs, eps = objects(n, args.endpoints)
                ports = service_ports(svcs.values(), eps.values())
                t0 = time.perf_counter()
                (render_ipt if mode == "iptables" else render_nft)(ports, NODE)
                t_render = time.perf_counter() - t0
                t0 = time.perf_counter()
                applier.sync(ports, NODE)
                t_first = time.perf_counter() - t0
                _, eps2 = objects(n, args.endpoints, shift=1)
                t0 = time.perf_counter()
                applier.sync(service_ports(svcs.values(), eps2.values()), NODE)
                t_again = time.perf_counter() - t0
                print(f"{mode:9} {n:8d} {t_render * 1000:10.1f} {t_first * 1000:15.1f} "
                      f"{t_again * 1000:12.1f}")
                applier.sync([], NODE)
            applier.cleanup()
        n = 100
        print(f"\nendpoints change -> rules applied, {n} services, loop min interval 0:")
        for mode in ("iptables", "nftables"):
            loop = ProxyLoop(applier_for(mode, netns=ns), NODE, sync_period=3600,
                             min_interval=0.0)
            stop = threading.Event()
            thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
            thread.start()
            svcs, eps = objects(n, args.endpoints)
            loop.on_services(svcs)
            loop.on_endpoint_slices(eps)
            deadline = time.monotonic() + 60
            while loop.stats.syncs < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            for k in range(args.changes):
                target = loop.stats.syncs + 1
                _, eps = objects(n, args.endpoints, shift=k + 1)
                loop.on_endpoint_slices(eps)
                while loop.stats.syncs < target and time.monotonic() < deadline + 60:
                    time.sleep(0.002)
            stop.set()
            thread.join(30)
            lat = sorted(loop.stats.latencies[1:]) or [float("nan")]
            print(f"  {mode:9} P50 {lat[len(lat) // 2] * 1000:7.1f} ms   "
                  f"P99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:7.1f} ms   "
                  f"({len(lat)} changes)")
            applier_for(mode, netns=ns).cleanup()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
