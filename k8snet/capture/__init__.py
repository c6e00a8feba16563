"""Packet captures for Wireshark: `k8snet capture` and `k8snet trace --pcap`.

`plan` decides where a capture runs (a network namespace and an interface)
from what the user named; `main` runs tcpdump there; `pcapng` writes the
per-hop captures of a trace as one pcapng file, an interface per hop.
"""
