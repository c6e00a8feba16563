"""Connect to many addresses at once from inside one network namespace.

Run as ``python -m k8snet.policy.prober`` through nsenter in a Pod's
namespace: it prints ``{"ready": true}``, then answers each line
``{"timeout": S, "targets": [[ip, port, protocol], ...]}`` on stdin with one
line, a JSON list of ``{"ok": bool, "detail": str}`` in the same order (one
process per Pod for a whole run: no interpreter start per table). TCP is a full
handshake (the server's SYN-ACK is the evidence); UDP is a datagram that
agnhost netexec answers. Every target has its own thread, so a table row
costs one timeout, not one per denied cell.
"""

from __future__ import annotations

import json
import socket
import sys
import threading


def probe_one(ip: str, port: int, protocol: str, timeout: float) -> dict:
    try:
        if protocol == "TCP":
            with socket.create_connection((ip, port), timeout=timeout) as s:
                return {"ok": True, "detail": "connected from {}:{}".format(*s.getsockname())}
        if protocol == "UDP":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.connect((ip, port))
                s.send(b"hostname")
                return {"ok": True, "detail": "answered " + s.recv(512).decode(errors="replace")}
        if protocol == "SCTP":
            sctp = getattr(socket, "IPPROTO_SCTP", 132)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM, sctp) as s:
                s.settimeout(timeout)
                s.connect((ip, port))
                return {"ok": True, "detail": "associated"}
    except OSError as exc:
        return {"ok": False, "detail": str(exc) or type(exc).__name__}
    return {"ok": False, "detail": f"unknown protocol {protocol}"}


def probe_all(targets: list, timeout: float) -> list[dict]:
    results: list = [None] * len(targets)

    def run(i: int) -> None:
        ip, port, protocol = targets[i]
        results[i] = probe_one(ip, int(port), protocol, timeout)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(targets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main(_argv: list[str]) -> int:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        print(json.dumps(probe_all(request["targets"], float(request["timeout"]))),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
