"""The probe agent: crafts, sends and captures packets inside one netns.

Started by `k8snet.probe.agents` as ``nsenter --net=NETNS python -m
k8snet.probe.agent`` so every socket it opens lives in that namespace. It
reads one JSON request per line on stdin and answers one JSON line per
request on stdout (first line: ``{"ready": true}``). Packets are crafted
with scapy and sent through raw sockets, so the kernel of the namespace
routes them; captures use packet sockets (``AF_PACKET``) per interface and
return raw frames as hex, decoded by the pure code in
`k8snet.probe.packets`. It exits on EOF or ``{"op": "quit"}``.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import threading
import time
from typing import Dict, List, Optional

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SO_TIMESTAMPNS = 35   # also SCM_TIMESTAMPNS: the kernel's receive time of each frame


class Sniffer:
    """Frames seen on one interface, kept when they contain one of ``needles``."""

    def __init__(self, iface: str, needles: List[bytes], limit: int = 5000):
        self.iface = iface
        self.needles = needles
        self.limit = limit
        self.frames: List[Dict] = []
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((iface, 0))
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        while not self.stop.is_set():
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            data, anc, _flags, addr = self.sock.recvmsg(65535, 64)
            if self.needles and not any(n in data for n in self.needles):
                continue
            stamp = time.time()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack("qq", value[:16])
                    stamp = sec + nsec / 1e9
            if len(self.frames) < self.limit:
                self.frames.append({"hex": data.hex(), "ts": stamp, "iface": self.iface,
                                    "outgoing": addr[2] == PACKET_OUTGOING})

    def finish(self) -> List[Dict]:
        time.sleep(0.2)   # let frames already queued in the socket be read
        self.stop.set()
        self.thread.join(2)
        self.sock.close()
        return self.frames


def source_for(dst: str) -> str:
    """The address the kernel would use to reach ``dst``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((dst, 9))
        return s.getsockname()[0]


def craft(req: Dict) -> bytes:
    """An IPv4 packet built with scapy from a request's fields."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    dst = req["dst"]
    flags = "DF" if req.get("df") else 0
    ip = IP(src=req.get("src") or source_for(dst), dst=dst, id=req.get("ident", 1),
            ttl=req.get("ttl", 64), flags=flags)
    payload = bytes.fromhex(req.get("payload_hex", ""))
    proto = req.get("proto", "udp")
    if proto == "icmp":
        l4 = ICMP(type=8, id=req.get("icmp_id", 1), seq=req.get("seq", 1))
    elif proto == "tcp":
        l4 = TCP(sport=req.get("sport", 40000), dport=req.get("dport", 80), flags="S",
                 seq=req.get("seq", 1000))
    else:
        l4 = UDP(sport=req.get("sport", 40000), dport=req.get("dport", 9))
    size = req.get("size")
    pkt = ip / l4 / payload
    if size:
        pad = size - len(pkt)
        if pad > 0:
            pkt = pkt / (b"\x00" * pad)
    return bytes(pkt)


def send_raw(data: bytes, dst: str) -> Optional[str]:
    """Send a full IP packet; the error text if the kernel refused it."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW) as s:
        try:
            s.sendto(data, (dst, 0))
        except OSError as exc:
            return f"{os.strerror(exc.errno)} (errno {exc.errno})" if exc.errno else str(exc)
    return None


def wait_echo_reply(sock: socket.socket, icmp_id: int, seq: int, timeout: float):
    """(source, ttl, length) of the echo reply with this id and seq, or None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return None
        data, addr = sock.recvfrom(65535)
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 8:
            continue
        icmp_type, _code, _sum, rid, rseq = struct.unpack("!BBHHH", data[ihl:ihl + 8])
        if icmp_type == 0 and rid == icmp_id and rseq == seq:
            return addr[0], data[8], struct.unpack("!H", data[2:4])[0]


def ping(req: Dict) -> Dict:
    """Crafted echo requests (scapy), replies read from a raw ICMP socket."""
    count, timeout = req.get("count", 3), req.get("timeout", 1.0)
    icmp_id = req.get("icmp_id") or (os.getpid() & 0xFFFF)
    replies, errors = [], []
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        for seq in range(1, count + 1):
            data = craft({**req, "proto": "icmp", "icmp_id": icmp_id, "seq": seq,
                          "ident": req.get("ident", seq)})
            started = time.monotonic()
            err = send_raw(data, req["dst"])
            if err:
                errors.append(err)
                continue
            got = wait_echo_reply(sock, icmp_id, seq, timeout)
            if got:
                replies.append({"src": got[0], "ttl": got[1], "len": got[2],
                                "rtt_ms": round((time.monotonic() - started) * 1000, 3)})
    return {"sent": count, "answered": len(replies), "replies": replies, "errors": errors,
            "src": source_for(req["dst"])}


def mtu(req: Dict) -> Dict:
    """Binary search for the largest DF echo (whole IP length) that is answered."""
    lo, hi, timeout = req.get("lo", 576), req.get("hi", 9000), req.get("timeout", 1.0)
    icmp_id = req.get("icmp_id", 0x4d54)
    tried: Dict[int, str] = {}
    seq = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        def works(size: int) -> bool:
            nonlocal seq
            seq += 1
            data = craft({"dst": req["dst"], "proto": "icmp", "icmp_id": icmp_id, "seq": seq,
                          "df": True, "size": size, "ident": size,
                          "payload_hex": req.get("marker_hex", "")})
            err = send_raw(data, req["dst"])
            if err:
                tried[size] = err
                return False
            ok = wait_echo_reply(sock, icmp_id, seq, timeout) is not None
            tried[size] = "answered" if ok else f"no answer in {timeout}s"
            return ok

        if not works(lo):
            return {"largest": None, "smallest_failed": lo, "failure": tried[lo], "tried": tried}
        if works(hi):
            return {"largest": hi, "smallest_failed": None, "failure": "", "tried": tried}
        good, bad = lo, hi
        while bad - good > 1:
            mid = (good + bad) // 2
            if works(mid):
                good = mid
            else:
                bad = mid
    return {"largest": good, "smallest_failed": bad, "failure": tried[bad],
            "tried": {str(k): v for k, v in sorted(tried.items())}}


def tcp(req: Dict) -> Dict:
    """An HTTP GET (or a bare connect when no path) over a plain TCP socket."""
    timeout = req.get("timeout", 3.0)
    try:
        with socket.create_connection((req["dst"], req["port"]), timeout=timeout) as s:
            local = "{}:{}".format(*s.getsockname()[:2])
            if not req.get("path"):
                return {"ok": True, "local": local, "body": ""}
            s.sendall(f"GET {req['path']} HTTP/1.0\r\nHost: {req['dst']}\r\n\r\n".encode())
            chunks = []
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        raw = b"".join(chunks).decode("utf-8", "replace")
        head, _, body = raw.partition("\r\n\r\n")
        ok = head.startswith("HTTP/") and " 200 " in head.split("\r\n")[0] + " "
        return {"ok": ok, "local": local, "body": body, "status": head.split("\r\n")[0]}
    except OSError as exc:
        return {"ok": False, "error": str(exc) or type(exc).__name__}


def udp(req: Dict) -> Dict:
    """One datagram, one answer."""
    timeout = req.get("timeout", 2.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((req["dst"], req["port"]))
            local = "{}:{}".format(*s.getsockname()[:2])
            s.send(req.get("message", "hostname").encode())
            data = s.recv(65535)
        except OSError as exc:
            return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True, "local": local, "body": data.decode("utf-8", "replace")}


def send(req: Dict) -> Dict:
    data = craft(req)
    err = send_raw(data, req["dst"])
    return {"ok": err is None, "error": err or "", "hex": data.hex()}


def serve(stdin=sys.stdin, stdout=sys.stdout) -> int:
    sniffers: Dict[str, Sniffer] = {}
    ops = {"ping": ping, "mtu": mtu, "tcp": tcp, "udp": udp, "send": send}

    def reply(obj: Dict) -> None:
        stdout.write(json.dumps(obj) + "\n")
        stdout.flush()

    import scapy.layers.inet  # noqa: F401  (load scapy before saying ready)

    reply({"ready": True, "pid": os.getpid()})
    for line in stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        op, rid = req.get("op"), req.get("id")
        try:
            if op == "quit":
                reply({"id": rid, "ok": True})
                break
            if op == "sniff_start":
                needles = [bytes.fromhex(h) for h in req.get("needles_hex", [])]
                sniffers[req["sid"]] = Sniffer(req["iface"], needles)
                result = {"ok": True}
            elif op == "sniff_stop":
                sn = sniffers.pop(req["sid"], None)
                result = {"ok": sn is not None, "frames": sn.finish() if sn else []}
            elif op in ops:
                result = ops[op](req)
            else:
                result = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as exc:  # report, keep serving
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        reply({"id": rid, **result})
    for sn in sniffers.values():
        sn.finish()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
