"""`k8snet trace SRC DST [--proto tcp|udp|icmp] [--port P] [--json] [--name C]`.

SRC: a Pod name ([namespace/]name), a node name or a Pod/node address. DST:
the same, or a Service's ClusterIP. Agents capture on the source, every
worker node's interfaces, every switch port (root namespace) and the
destination Pod's eth0; one marked packet is sent from SRC.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from typing import Dict, List, Optional, Tuple

from k8snet.errors import UsageError
from k8snet.fabric.facts import load_facts
from k8snet.machinery.client import ApiClient, NotFound
from k8snet.policy import counters, explain
from k8snet.probe import cluster as cl
from k8snet.probe.agents import Agents, node_netns_path
from k8snet.probe.packets import decode_all
from k8snet.testbed import api
from k8snet.trace import path as tp


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", help="Pod name, node name or address")
    parser.add_argument("dst", help="Pod name, node name, Pod/node address or Service address")
    parser.add_argument("--proto", choices=("tcp", "udp", "icmp"), default="udp")
    parser.add_argument("--port", type=int, help="destination port (default 8080, or the "
                        "Service's first port)")
    parser.add_argument("--name", help="cluster (needed when several run)")
    parser.add_argument("--json", action="store_true", help="machine-readable hops")
    parser.add_argument("--pcap", metavar="FILE", help="save the packet as seen at every hop "
                        "into one pcapng file, an interface per hop (for Wireshark)")


def resolve(client: ApiClient, cluster: api.Cluster, text: str, allow_service: bool) -> Dict:
    """What SRC or DST names: {"kind": pod|node|service, ...}."""
    for n in cluster.state.nodes:
        if text in (n.name, n.ip):
            return {"kind": "node", "name": n.name, "ip": n.ip, "node": n.name}
    pods = client.list("pods")["items"]
    for p in pods:
        if p.get("status", {}).get("podIP") == text or \
                text in (p["metadata"]["name"],
                         f"{p['metadata']['namespace']}/{p['metadata']['name']}"):
            return {"kind": "pod", "name": f"{p['metadata']['namespace']}/"
                    f"{p['metadata']['name']}", "ip": p["status"].get("podIP"),
                    "node": p["spec"].get("nodeName"), "uid": p["metadata"]["uid"]}
    if allow_service:
        for s in client.list("services")["items"]:
            if s["spec"].get("clusterIP") == text or text in service_names(s):
                ports = s["spec"].get("ports") or [{"port": 80}]
                return {"kind": "service", "name": f"{s['metadata']['namespace']}/"
                        f"{s['metadata']['name']}", "ip": s["spec"].get("clusterIP"),
                        "node": None, "port": ports[0]["port"],
                        "proto": ports[0].get("protocol", "TCP").lower(),
                        "ports": {p.get("protocol", "TCP").lower(): p["port"]
                                  for p in reversed(ports)}}
    raise UsageError(f"{text!r} is not a node, Pod, Pod address" +
                     (" or Service address" if allow_service else "") + " of the cluster")


def service_names(svc: Dict) -> Tuple[str, ...]:
    """How a user may name a Service on the command line: kube-dns (in default),
    kube-system/kube-dns, kube-dns.kube-system[.svc[.cluster.local]]."""
    name, ns = svc["metadata"]["name"], svc["metadata"].get("namespace", "default")
    names = (f"{ns}/{name}", f"{name}.{ns}", f"{name}.{ns}.svc",
             f"{name}.{ns}.svc.cluster.local")
    return names + ((name,) if ns == "default" or name == "kube-dns" else ())


def dns_query(marker: bytes) -> bytes:
    """A DNS query whose name carries the marker: the answer echoes the question,
    so the reply is captured on its way back too."""
    import dns.message

    return dns.message.make_query(f"{marker.decode()}.cluster.local.", "A").to_wire()


def interfaces(netns_path: Optional[str]) -> List[str]:
    out = cl.in_netns(netns_path, ["ip", "-o", "link", "show"])
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    return [n for n in names if n != "lo"]


def switch_ports(cluster: api.Cluster) -> List[str]:
    ports = []
    for sw in cluster.state.switches:
        out = subprocess.run(["ovs-vsctl", "--timeout=5", "list-ports", sw.name],
                             capture_output=True, text=True, check=False, timeout=10).stdout
        ports += [p for p in out.split() if tp.port_of(p)]
    return ports


def trace(cluster: api.Cluster, src_text: str, dst_text: str, proto: str,
          port: Optional[int], pcap: Optional[str] = None) -> Dict:
    """Send one marked packet and return the report as plain data; with
    ``pcap``, also write the frame seen at every hop there (pcapng)."""
    client = cluster.client(timeout=10)
    src = resolve(client, cluster, src_text, allow_service=False)
    dst = resolve(client, cluster, dst_text, allow_service=True)
    if dst["kind"] == "service" and port is None:
        port = dst["ports"].get(proto, dst["port"])
    port = port or 8080
    places: Dict[str, Optional[str]] = {"root": None}
    watch_nodes = {n.name for n in cluster.state.workers}
    watch_nodes |= {e["node"] for e in (src, dst) if e.get("node")}
    for name in watch_nodes:
        places[f"node {name}"] = node_netns_path(cluster.node(name))
    for end in (src, dst):
        if end["kind"] == "pod":
            places[f"pod {end['name']}"] = cl.pod_netns(cluster.state, end["node"], end["uid"])
    marker = f"K8SNET-TRACE-{os.getpid()}".encode()
    sender = f"pod {src['name']}" if src["kind"] == "pod" else f"node {src['name']}"
    observed: List[Tuple[str, object]] = []
    back: List[Tuple[str, object]] = []     # the answer, for a DNS query
    with Agents() as agents:
        agents.start(places)
        sniffs = []
        for owner, path in places.items():
            ifaces = switch_ports(cluster) if owner == "root" else (
                ["eth0"] if owner.startswith("pod ") else interfaces(path))
            for i, iface in enumerate(ifaces):
                sid = f"t{i}"
                agents[owner].call("sniff_start", sid=sid, iface=iface,
                                   needles_hex=[marker.hex()])
                sniffs.append((owner, sid))
            payload = dns_query(marker) if (proto, port) == ("udp", 53) else marker
        counted = {o: counters.snapshot(p) for o, p in places.items() if o.startswith("node ")}
        sent = agents[sender].call("send", dst=dst["ip"], proto=proto, sport=41414, dport=port,
                                   ident=0x4b54, icmp_id=0x4b54, payload_hex=payload.hex())
        if (proto, port) == ("udp", 53):
            time.sleep(0.5)    # the answer's way back
        for owner, sid in sniffs:
            frames = agents[owner].call("sniff_stop", sid=sid)["frames"]
            for record, pkt in zip(frames, decode_all(frames)):
                pkt.meta["frame_hex"] = record["hex"]
                inner = pkt.innermost()
                place = owner.split(" ")[0] if owner == "root" else owner
                if inner.proto == proto and proto == "udp" and inner.sport == port \
                        and inner.dport == 41414:
                    back.append((place, pkt))
                elif inner.proto == proto and (proto != "icmp" or inner.icmp_type == 8):
                    observed.append((place, pkt))
    dropped = [d.json() for o, p in places.items() if o in counted
               for d in counters.drops(o[5:], counted[o], counters.snapshot(p))]
    hops = tp.build_hops(observed)
    if pcap:
        write_pcap(pcap, hops, f"k8snet trace {proto} {src['name']} -> {dst['name']}")
    reply = tp.build_hops(back)
    final = hops[-1].packet.innermost() if hops else None
    dst_node = dst.get("node")
    if dst["kind"] == "service" and final is not None:
        dst_node = next((r["node"] for r in [resolve_ip(client, cluster, final.dst)] if r),
                        None)
    if cluster.state.controller is None:
        raise UsageError(f"cluster {cluster.name!r} records no fabric controller")
    facts = load_facts(cluster.state.controller.facts)
    intended = tp.intended_paths(facts, src["node"], dst_node) if dst_node else []
    same, verdict = tp.compare(tp.observed_switch_path(hops), intended)
    return {"src": src, "dst": dst, "proto": proto, "port": port, "marker": marker.decode(),
            "send_error": sent.get("error", ""), "mode": cluster.spec.mode,
            "hops": [{"place": h.place, "iface": h.iface, "direction": h.direction,
                      "packet": h.packet.summary(), "eth_src": h.packet.eth_src,
                      "eth_dst": h.packet.eth_dst, "ttl": h.packet.innermost().ttl,
                      "changes": h.changes, "ts": h.packet.meta.get("ts")} for h in hops],
            "reply_hops": [{"place": h.place, "iface": h.iface, "direction": h.direction,
                            "packet": h.packet.summary(), "changes": h.changes}
                           for h in reply],
            "switch_hops": len(tp.observed_switch_path(hops)),
            "intended": [[list(h) for h in p] for p in intended],
            "matches_intended": same, "comparison": verdict, "policy_drops": dropped}


def write_pcap(path: str, hops: List[tp.Hop], comment: str) -> None:
    """One pcapng interface per hop, named after the place, interface and direction."""
    from k8snet.capture import pcapng

    frames = [pcapng.HopFrame(f"{h.place} {h.iface} {h.direction}", h.packet.meta.get("ts", 0.0),
                              bytes.fromhex(h.packet.meta.get("frame_hex", "")),
                              "; ".join(h.changes)) for h in hops]
    with open(path, "wb") as fh:
        fh.write(pcapng.render(frames, comment))


def resolve_ip(client: ApiClient, cluster: api.Cluster, ip: Optional[str]) -> Optional[Dict]:
    try:
        return resolve(client, cluster, ip, allow_service=False) if ip else None
    except (UsageError, NotFound):
        return None


def render(doc: Dict) -> str:
    lines = [f"trace {doc['proto']} {doc['src']['name']} ({doc['src']['ip']}) -> "
             f"{doc['dst']['kind']} {doc['dst']['name']} ({doc['dst']['ip']}) port "
             f"{doc['port']}, mode {doc['mode']}, marker {doc['marker']}"]
    if doc["send_error"]:
        lines.append(f"sending failed: {doc['send_error']}")
    for n, h in enumerate(doc["hops"], 1):
        lines.append(f"{n:>3}. {h['place']:<24} {h['iface']:<15} {h['direction']:<3} "
                     f"{h['eth_src']} > {h['eth_dst']}  {h['packet']}")
        for c in h["changes"]:
            lines.append(f"       changed: {c}")
    if not doc["hops"]:
        lines.append("the packet was not captured anywhere")
    if doc.get("reply_hops"):
        lines.append("the answer, on its way back:")
    for n, h in enumerate(doc.get("reply_hops") or [], 1):
        lines.append(f"{n:>3}. {h['place']:<24} {h['iface']:<15} {h['direction']:<3} "
                     f"{h['packet']}")
        for c in h["changes"]:
            lines.append(f"       changed: {c}")
    lines.append(f"switches crossed: {doc['switch_hops']}; {doc['comparison']}")
    for drop in doc.get("policy_drops") or []:
        lines.append("NetworkPolicy: " + explain.Drop.from_json(drop).text())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from k8snet.testbed import preflight

    preflight.require_root("trace")
    if args.pcap and not os.path.isdir(os.path.dirname(os.path.abspath(args.pcap))):
        raise UsageError(f"--pcap {args.pcap}: its directory does not exist")
    doc = trace(api.find(args.name, need_api=True), args.src, args.dst, args.proto, args.port,
                args.pcap)
    print(json.dumps(doc, indent=2) if args.json else render(doc))
    return 0 if doc["hops"] and doc["matches_intended"] else 1
