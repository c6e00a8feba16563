"""`k8snet doctor`: one line per prerequisite, with OK or the fix.

The checks only look; they start nothing. ``evaluate`` is pure: it turns
observations into verdicts, so it is unit-tested on made-up machines.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Dict, List

from k8snet.testbed import preflight


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True   # needed by `up`; optional ones only inform


def observe() -> Dict[str, object]:
    """What this machine has (effects: file system, PATH, one ovs-vsctl call)."""
    which = {tool: shutil.which(tool) for tool in (
        "ovs-vsctl", "mnexec", "ip", "iptables", "nft", "ethtool", "etcd", "tc", "kubectl",
        "iperf3", "tcpdump", "busybox", "dnsmasq", "conmon", "crun")}
    cni_dir = "/usr/lib/cni"
    return {
        "root": os.geteuid() == 0,
        "which": which,
        "ovs_running": bool(which["ovs-vsctl"]) and preflight.ovs_running(),
        "ovs_kernel": os.path.isdir("/sys/module/openvswitch"),
        "mininet": importlib.util.find_spec("mininet") is not None,
        "os_ken": importlib.util.find_spec("os_ken") is not None,
        "scapy": importlib.util.find_spec("scapy") is not None,
        "cni_plugins": sorted(os.listdir(cni_dir)) if os.path.isdir(cni_dir) else [],
        "netem": netem_works(),
    }


def netem_works() -> bool:
    """Try a netem qdisc in a throwaway network namespace (gone on return)."""
    if not shutil.which("unshare") or not shutil.which("tc"):
        return False
    try:
        out = subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root",
                              "netem", "delay", "1ms"], capture_output=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0


def evaluate(seen: Dict[str, object]) -> List[Check]:
    which = seen["which"]
    setup = "run 'sudo make setup'"
    checks = [
        Check("root", seen["root"], "running as root" if seen["root"] else
              "k8snet builds namespaces and switches: run it as root (sudo)"),
        Check("openvswitch installed", bool(which["ovs-vsctl"]),
              which["ovs-vsctl"] or f"missing: {setup} (apt-get install openvswitch-switch)"),
        Check("openvswitch running", seen["ovs_running"],
              "ovsdb-server and ovs-vswitchd answer" if seen["ovs_running"] else
              f"not running: start it with '{preflight.OVS_CTL} start'"),
        Check("ovs datapath", True,
              "kernel module present: 'up' uses the kernel datapath" if seen["ovs_kernel"] else
              "no openvswitch kernel module: 'up' uses the userspace datapath (netdev), "
              "with transmit checksum offload turned off", required=False),
        Check("mininet", bool(seen["mininet"]) and bool(which["mnexec"]),
              "python package and mnexec found" if seen["mininet"] and which["mnexec"] else
              f"missing: {setup} (apt-get install mininet)"),
        Check("os-ken", bool(seen["os_ken"]), "importable" if seen["os_ken"] else
              f"not importable in this Python: {setup}"),
        Check("scapy", bool(seen["scapy"]), "importable" if seen["scapy"] else
              f"not importable in this Python: {setup}"),
    ]
    wanted = {"ptp", "bridge", "host-local", "loopback"}
    missing = sorted(wanted - set(seen["cni_plugins"]))
    checks.append(Check("cni plugins", not missing,
                        "/usr/lib/cni has " + ", ".join(sorted(wanted)) if not missing else
                        f"missing {', '.join(missing)}: {setup} "
                        "(apt-get install containernetworking-plugins)"))
    for tool, package in (("ip", "iproute2"), ("iptables", "iptables"), ("nft", "nftables"),
                          ("ethtool", "ethtool"), ("conmon", "conmon"), ("crun", "crun")):
        checks.append(Check(tool, bool(which[tool]), which[tool] or
                            f"missing: {setup} (apt-get install {package})"))
    checks.append(Check("netem", bool(seen["netem"]),
                        "present: link delay and loss work" if seen["netem"] else
                        "absent in this kernel: link delay/loss (TCLink delay=, loss=) cannot "
                        "be emulated; bandwidth limits still work", required=False))
    checks.append(Check("etcd", bool(which["etcd"]), which["etcd"] or
                        f"absent: '--store etcd' needs it; {setup} (apt-get install "
                        "etcd-server)", required=False))
    checks.append(Check("dnsmasq", bool(which.get("dnsmasq")), which.get("dnsmasq") or
                        "absent: Pods cannot resolve names outside the cluster (the external "
                        f"host's resolver); {setup} (apt-get install dnsmasq-base)",
                        required=False))
    checks.append(Check("kubectl", bool(which["kubectl"]), which["kubectl"] or
                        "absent: install kubectl 1.32 to drive clusters with it",
                        required=False))
    return checks


def render(checks: List[Check]) -> str:
    lines = []
    for check in checks:
        mark = "OK  " if check.ok else ("FAIL" if check.required else "note")
        lines.append(f"{mark} {check.name:<22} {check.detail}")
    return "\n".join(lines)


def ready(checks: List[Check]) -> bool:
    return all(c.ok for c in checks if c.required)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    checks = evaluate(observe())
    print(render(checks))
    if ready(checks):
        print("ready: 'k8snet up' has what it needs")
        return 0
    print("not ready: fix the FAIL lines above")
    return 1
