"""Gathering evidence for the cluster DNS checks (effects; verdicts in checks_dns).

Names are resolved inside the probe Pods' client container with Python's
getaddrinfo, so the Pod's own /etc/resolv.conf (search list, ndots:5,
nameserver 10.96.0.10) is what is tested. ``up`` does not wait for the DNS
add-on; these checks wait (boundedly) for a ready DNS Pod first.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Sequence, Tuple

from k8snet.errors import K8snetError
from k8snet.machinery.client import AlreadyExists, NotFound
from k8snet.probe import checks_dns as cd
from k8snet.probe import cluster as cl
from k8snet.probe import deploy
from k8snet.probe.model import Verdict, failed, skipped
from k8snet.probe.packets import decode_all
from k8snet.testbed import api

DNS_NAMESPACE, DNS_SERVICE = "kube-system", "kube-dns"
DNS_READY_TIMEOUT = 90.0
HEADLESS = f"{deploy.PREFIX}-headless"
UPLINK = "eth0"          # a node's fabric interface, inside its namespace

# Run in a Pod: resolve names and fetch URLs, print one JSON document. The Pod's
# resolv.conf decides search list, ndots and server; only the resolver's timeout is
# shortened (2 s, still two attempts as glibc's default: one lost datagram, e.g. the
# first of a flow while a busy fabric sets it up, is what stub resolvers retry).
# Names and URLs are looked up at once: with DNS unreachable, a name costs its whole
# search list of timeouts (4 names x 2 attempts x 2 s with ndots:5), and one after the
# other they would take minutes.
SCRIPT = r"""
import json, os, socket, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
os.environ["RES_OPTIONS"] = "timeout:2 attempts:2"   # glibc's retry, in seconds not 5 s
req = json.loads(sys.argv[1])
def lookup(name):
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        return {"addresses": sorted({i[4][0] for i in infos})}
    except OSError as exc:
        return {"error": str(exc)}
def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return {"ok": True, "body": r.read(200).decode(errors="replace")}
    except Exception as exc:
        return {"ok": False, "body": str(exc)}
with ThreadPoolExecutor(16) as pool:
    names = pool.map(lookup, req["names"]); urls = pool.map(fetch, req["urls"])
    out = {"names": dict(zip(req["names"], names)), "urls": dict(zip(req["urls"], urls))}
print(json.dumps(out))
"""


def in_pod(ctx, pod: deploy.ProbePod, names: Sequence[str], urls: Sequence[str] = ()
           ) -> Tuple[List[cd.Lookup], List[cd.Fetch]]:
    """Resolve ``names`` and GET ``urls`` from the Pod's client container."""
    res = api.exec_in_pod(ctx.cluster, pod.name, [
        "python3", "-c", SCRIPT, json.dumps({"names": list(names), "urls": list(urls)})],
        deploy.NAMESPACE, "client", timeout=60)
    try:
        doc = json.loads(res.stdout.decode())
    except ValueError:
        raise K8snetError(f"resolving from {pod.ref} failed: "
                          f"{(res.stderr or res.stdout).decode(errors='replace')[-200:]}") \
            from None
    lookups = [cd.Lookup(f"pod {pod.ref}", n, tuple(v.get("addresses", ())), v.get("error", ""))
               for n, v in doc["names"].items()]
    fetches = [cd.Fetch(f"pod {pod.ref}", u, v["ok"], v["body"].strip())
               for u, v in doc["urls"].items()]
    return lookups, fetches


def ready_endpoints(ctx, namespace: str, service: str) -> Dict[str, Dict]:
    """Ready endpoint IP -> {"node", "pod", "uid"} of a Service's EndpointSlices."""
    slices = ctx.client.list("endpointslices", namespace,
                             label_selector=f"kubernetes.io/service-name={service}")
    out = {}
    for sl in slices.get("items") or []:
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            ref = ep.get("targetRef") or {}
            for ip in ep.get("addresses") or []:
                out[ip] = {"node": ep.get("nodeName", ""), "pod": ref.get("name", ""),
                           "uid": ref.get("uid", "")}
    return out


def wait_dns(ctx, timeout: float = DNS_READY_TIMEOUT) -> Dict[str, Dict]:
    """The ready DNS Pods, waiting for at least one (up does not wait for them)."""
    deadline = time.monotonic() + timeout
    while True:
        found = ready_endpoints(ctx, DNS_NAMESPACE, DNS_SERVICE)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def _no_dns(ctx) -> Verdict:
    try:
        ctx.client.get("services", DNS_SERVICE, DNS_NAMESPACE)
    except NotFound:
        return skipped("the cluster has no kube-dns Service (no DNS add-on)")
    return failed(f"no ready DNS Pod behind {DNS_NAMESPACE}/{DNS_SERVICE} after "
                  f"{DNS_READY_TIMEOUT:.0f}s ('kubectl -n kube-system get pods')", [])


def check_dns_service(ctx) -> Verdict:
    if not wait_dns(ctx):
        return _no_dns(ctx)
    info = deploy.service_info(ctx.client)
    svc = deploy.SERVICE
    names = [svc, f"{svc}.{deploy.NAMESPACE}", f"{svc}.{deploy.NAMESPACE}.svc.cluster.local"]
    lookups, fetches = [], []
    with ThreadPoolExecutor(len(ctx.pods) or 1) as pool:   # each Pod's wait in parallel
        for got, fetched in pool.map(
                lambda pod: in_pod(ctx, pod, names, [f"http://{svc}/hostname"]), ctx.pods):
            lookups += got
            fetches += fetched
    return cd.dns_service(f"{deploy.NAMESPACE}/{svc}", info["cluster_ip"], lookups, fetches)


def headless_manifest() -> Dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": HEADLESS, "namespace": deploy.NAMESPACE,
                         "labels": dict(deploy.APP_LABEL)},
            "spec": {"clusterIP": "None",
                     "selector": {**deploy.APP_LABEL, deploy.SERVING_LABEL: "yes"},
                     "ports": [{"name": "http", "port": 80, "targetPort": deploy.HTTP_PORT}]}}


def check_dns_headless(ctx) -> Verdict:
    if not wait_dns(ctx):
        return _no_dns(ctx)
    want = sorted(p.ip for p in ctx.pods if p.role == "server")
    try:
        ctx.client.create("services", headless_manifest(), deploy.NAMESPACE)
    except AlreadyExists:
        pass
    try:
        deadline = time.monotonic() + 30
        while sorted(ready_endpoints(ctx, deploy.NAMESPACE, HEADLESS)) != want and \
                time.monotonic() < deadline:
            time.sleep(0.5)
        ready = sorted(ready_endpoints(ctx, deploy.NAMESPACE, HEADLESS))
        lookups, _ = in_pod(ctx, ctx.pod("a"), [HEADLESS])
        return cd.dns_headless(f"{deploy.NAMESPACE}/{HEADLESS}", lookups[0], ready)
    finally:
        try:
            ctx.client.delete("services", HEADLESS, deploy.NAMESPACE)
        except NotFound:
            pass


def _sniff(ctx, agent: str, sid: str, iface: str, needles: Sequence[bytes]) -> Tuple[str, str]:
    ctx.agents[agent].call("sniff_start", sid=sid, iface=iface,
                           needles_hex=[n.hex() for n in needles])
    return agent, sid


def _collect(ctx, sniff: Tuple[str, str]) -> tuple:
    agent, sid = sniff
    return tuple(decode_all(ctx.agents[agent].call("sniff_stop", sid=sid)["frames"]))


def check_dns_path(ctx) -> Verdict:
    dns_pods = wait_dns(ctx)
    if not dns_pods:
        return _no_dns(ctx)
    client = ctx.pod(cd.path_client([(p.name, p.node) for p in ctx.pods],
                                    [w["node"] for w in dns_pods.values()]))
    dns_ip = ctx.client.get("services", DNS_SERVICE, DNS_NAMESPACE)["spec"]["clusterIP"]
    places = {}
    for ip, where in dns_pods.items():
        path = cl.pod_netns(ctx.cluster.state, where["node"], where["uid"])
        if path:
            places[f"dns {ip}"] = path
    ctx.agents.start(places)
    run = f"{random.SystemRandom().getrandbits(32):08x}"
    needles = tuple(f"k8snet-dnspath-{run}-{i}".encode() for i in range(8))
    leaving = _sniff(ctx, client.name, "dnsout", "eth0", needles)
    arriving = {ip: _sniff(ctx, f"dns {ip}", "dnsin", "eth0", needles)
                for ip in dns_pods if f"dns {ip}" in places}
    nodes = {w["node"] for w in dns_pods.values()} - {client.node}
    uplinks = {n: _sniff(ctx, n, "dnsup", UPLINK, needles) for n in nodes if n in ctx.agents}
    in_pod(ctx, client, [n.decode() for n in needles])
    obs = cd.DnsPath(f"pod {client.ref}", client.ip, client.node, dns_ip,
                     {ip: w["node"] for ip, w in dns_pods.items()}, needles,
                     _collect(ctx, leaving), {ip: _collect(ctx, s) for ip, s in arriving.items()},
                     {n: _collect(ctx, s) for n, s in uplinks.items()})
    return cd.dns_path(obs)


def check_dns_external(ctx) -> Verdict:
    if not ctx.external:
        return skipped("the topology has no host outside the cluster (ext1)")
    dns_pods = wait_dns(ctx)
    if not dns_pods:
        return _no_dns(ctx)
    ext = ctx.external
    fresh = f"k8snet-ext-{random.SystemRandom().getrandbits(32):08x}"
    sniff = _sniff(ctx, ext.name, "dnsext", UPLINK, [fresh.encode()])
    lookups, _ = in_pod(ctx, ctx.pod("a"), ["example.test", f"{fresh}.example.test"])
    seen = [p for p in _collect(ctx, sniff) if p.innermost().dport == cd.DNS_PORT]
    node_ips = {n.name: n.ip for n in ctx.cluster.state.nodes}
    sources = set(dns_pods) | {node_ips.get(w["node"], "") for w in dns_pods.values()}
    return cd.dns_external(lookups[0], ext.ip, f"{ext.name} ({ext.ip})", seen, sorted(sources))


RUNNERS = {
    "dns-service": check_dns_service,
    "dns-headless": check_dns_headless,
    "dns-pod-to-dns-path": check_dns_path,
    "dns-external": check_dns_external,
}
