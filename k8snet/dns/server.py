"""The DNS server: UDP and TCP on one port, plugins in CoreDNS's order.

A query goes through: loop check -> hosts -> kubernetes (`records.resolve`)
-> cache -> forward. dnspython parses and renders messages (no hand-written
wire format); an answer too big for the client's UDP size is truncated
(TC set, answer emptied) so the client retries over TCP, as RFC 1035 says.

The `Server` keeps the current `Config` and `records.Index` behind plain
attributes that `main` swaps whole (reload, informer changes): a query reads
each once, so it never sees half of an update.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import socketserver
import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from k8snet.dns import records
from k8snet.dns.corefile import Config, in_zone

log = logging.getLogger("k8snet.dns")

UDP_DEFAULT_SIZE = 512
FORWARD_TIMEOUT = 2.0
MEMO_SIZE = 50000       # parsed RRsets kept by a server
MAX_CHASE = 8           # CNAME hops followed for ExternalName Services
LOOP_LIMIT = 2          # CoreDNS's loop plugin gives up after seeing its probe this often


@dataclass
class Stats:
    """Counters the prometheus endpoint exposes (bumped without locks: approximate)."""

    requests: int = 0
    cache_hits: int = 0
    forwarded: int = 0


class Cache:
    """Answers of the forward plugin by (name, type), kept min(TTL, cap) seconds."""

    def __init__(self, cap: int, clock: Callable[[], float] = time.monotonic,
                 size: int = 10000):
        self.cap, self.clock, self.size = cap, clock, size
        self._items: Dict[Tuple[str, int], Tuple[float, dns.message.Message]] = {}

    def get(self, key: Tuple[str, int]) -> Optional[dns.message.Message]:
        item = self._items.get(key)
        if item is None or item[0] < self.clock():
            return None
        return item[1]

    def put(self, key: Tuple[str, int], msg: dns.message.Message) -> None:
        ttls = [rr.ttl for section in (msg.answer, msg.authority) for rr in section]
        ttl = min([self.cap, *ttls])
        if ttl <= 0 or msg.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            return
        if len(self._items) >= self.size:
            self._items.pop(next(iter(self._items)))
        self._items[key] = (self.clock() + ttl, msg)


def _rrsets(rrs, section: list, shuffle: bool = False, memo: Optional[dict] = None) -> None:
    """Group records into RRsets; ``memo`` keeps parsed rdata across queries
    (parsing presentation text is most of the cost of an answer)."""
    memo = {} if memo is None else memo
    by_key: Dict[Tuple[str, str], list] = {}
    for rr in rrs:
        by_key.setdefault((rr.name.lower(), rr.rtype), []).append(rr)
    for group in by_key.values():
        key = (group[0].name, group[0].ttl, group[0].rtype, tuple(r.data for r in group))
        parsed = memo.get(key)
        if parsed is None:
            rrset = dns.rrset.from_text_list(key[0], key[1], "IN", key[2], list(key[3]))
            parsed = memo[key] = (rrset.name, list(rrset))
            if len(memo) > MEMO_SIZE:
                memo.clear()
        rdatas = list(parsed[1])
        if shuffle:
            random.shuffle(rdatas)
        section.append(dns.rrset.from_rdata_list(parsed[0], key[1], rdatas))


def render(query: dns.message.Message, answer: records.Answer,
           shuffle: bool = False, memo: Optional[dict] = None) -> dns.message.Message:
    """The response message for a `records.Answer` (authoritative)."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    response.set_rcode(dns.rcode.from_text(answer.rcode))
    _rrsets(answer.answer, response.answer, shuffle, memo)
    _rrsets(answer.authority, response.authority, False, memo)
    _rrsets(answer.additional, response.additional, False, memo)
    return response


def to_wire(response: dns.message.Message, max_size: int) -> bytes:
    """Wire form within ``max_size``; too big: TC set and the sections emptied."""
    try:
        return response.to_wire(max_size=max_size)
    except dns.exception.TooBig:
        response.answer, response.authority, response.additional = [], [], []
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=max_size)


def upstream_address(target: str) -> Tuple[str, int]:
    host, _, port = target.rpartition(":") if target.count(":") == 1 else (target, "", "")
    return (host, int(port)) if port else (target, 53)


def resolv_conf_servers(path: str = "/etc/resolv.conf") -> Tuple[str, ...]:
    try:
        with open(path, encoding="utf-8") as fh:
            return tuple(line.split()[1] for line in fh
                         if line.startswith("nameserver") and len(line.split()) > 1)
    except OSError:
        return ()


def read_hosts(path: str) -> Tuple[Tuple[str, str], ...]:
    """(name., address) pairs of a hosts file (the hosts plugin's FILE); none if unreadable."""
    if not path:
        return ()
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        log.error("[ERROR] plugin/hosts: cannot read %s", path)
        return ()
    pairs = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        pairs += [(name.lower().rstrip(".") + ".", words[0]) for name in words[1:]]
    return tuple(pairs)


class Server:
    """Answers queries from the current config and index."""

    def __init__(self, config: Config, index: Optional[records.Index] = None):
        self.config = config
        self.hosts = config.hosts + read_hosts(config.hosts_file)
        self.index = index or records.Index()
        self.dns_ip = ""            # kube-dns's ClusterIP, for NS glue
        self.stats = Stats()
        self.cache = Cache(config.cache_ttl or 0)
        self.loop_name = ""
        self.loop_seen = 0
        self.on_loop: Callable[[], None] = lambda: None
        self.observe: Callable[[str, str, str, float], None] = lambda *a: None
        self._memo: dict = {}
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dns-forward")

    def set_config(self, config: Config) -> None:
        if config.cache_ttl != self.config.cache_ttl:
            self.cache = Cache(config.cache_ttl or 0)
        self.hosts = config.hosts + read_hosts(config.hosts_file)
        self.config = config

    # -- answering -----------------------------------------------------------

    def handle(self, wire: bytes, client: str, proto: str) -> Optional[bytes]:
        """Wire bytes of the response to one query (None: drop it)."""
        query = parse(wire)
        return None if query is None else self.respond(query, len(wire), client, proto)

    def respond(self, query: dns.message.Message, size: int, client: str, proto: str
                ) -> bytes:
        """Wire bytes of the response to a parsed query."""
        started = time.monotonic()
        self.stats.requests += 1
        if not query.question:
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        qname = question.name.to_text()
        qtype = dns.rdatatype.to_text(question.rdtype)
        response = self.answer(query, qname, qtype)
        max_size = UDP_DEFAULT_SIZE
        if proto == "udp" and query.edns >= 0:
            max_size = max(UDP_DEFAULT_SIZE, query.payload)
        wire_out = to_wire(response, max_size if proto == "udp" else 65535)
        rcode = dns.rcode.to_text(response.rcode())
        if self.config.log:
            log.info('[INFO] %s - %d "%s IN %s %s %d" %s %s', client, query.id, qtype, qname,
                     proto, size, rcode, f"{time.monotonic() - started:.6f}s")
        self.observe(qtype, rcode, proto, time.monotonic() - started)
        return wire_out

    def answer(self, query: dns.message.Message, qname: str, qtype: str, depth: int = 0
               ) -> dns.message.Message:
        cfg = self.config
        if self.loop_name and qname.lower() == self.loop_name:
            self.loop_seen += 1
            if self.loop_seen > LOOP_LIMIT:
                log.error("[FATAL] plugin/loop: Loop (%s) detected for zone %r: the "
                          "forward upstream sends our queries back to us", qname, cfg.zones)
                self.on_loop()
        held = [ip for name, ip in self.hosts if name == qname.lower()]
        if held:   # the hosts plugin: every address of the name, NODATA for other types
            rrs = tuple(records.RR(qname, "AAAA" if ":" in ip else "A", 3600, ip)
                        for ip in held)
            return render(query, records.Answer(answer=tuple(
                rr for rr in rrs if qtype in (rr.rtype, "ANY"))), memo=self._memo)
        if cfg.kubernetes is not None:
            result = records.resolve(self.index, cfg.kubernetes, qname, qtype, self.dns_ip)
            if result is not None and not result.fallthrough:
                response = render(query, result, cfg.loadbalance, self._memo)
                if depth < MAX_CHASE and qtype not in ("CNAME", "ANY"):
                    self._chase(response, qtype, depth)
                return response
        return self.forward(query, qname, qtype)

    def _chase(self, response: dns.message.Message, qtype: str, depth: int) -> None:
        """Append the records of an ExternalName's CNAME target (looked up through
        the plugins again, so usually forwarded), as CoreDNS does: stub resolvers
        such as glibc's do not chase a CNAME themselves."""
        owners = {rrset.name for rrset in response.answer}
        for rrset in list(response.answer):
            if rrset.rdtype != dns.rdatatype.CNAME:
                continue
            target = rrset[0].target
            if target in owners:
                continue
            sub = dns.message.make_query(target, qtype)
            got = self.answer(sub, target.to_text(), qtype, depth + 1)
            response.answer.extend(got.answer)

    def forward(self, query: dns.message.Message, qname: str, qtype: str
                ) -> dns.message.Message:
        cfg = self.config
        response = dns.message.make_response(query)
        if not cfg.forward_to or not in_zone(qname, cfg.forward_from):
            response.set_rcode(dns.rcode.SERVFAIL if cfg.forward_to else dns.rcode.REFUSED)
            return response
        key = (qname.lower(), query.question[0].rdtype)
        if cfg.cache_ttl:
            cached = self.cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
                hit = dns.message.make_response(query)
                hit.flags = (cached.flags & ~dns.flags.AA) | dns.flags.QR | (
                    query.flags & dns.flags.RD)
                hit.set_rcode(cached.rcode())
                hit.answer, hit.authority = list(cached.answer), list(cached.authority)
                hit.additional = list(cached.additional)
                return hit
        upstreams = [u for t in cfg.forward_to for u in
                     (resolv_conf_servers(t) if t.startswith("/") else (t,))]
        self.stats.forwarded += 1
        outgoing = dns.message.make_query(qname, query.question[0].rdtype)
        outgoing.flags = query.flags
        for target in random.sample(upstreams, len(upstreams)):
            host, port = upstream_address(target)
            try:
                got = dns.query.udp(outgoing, host, timeout=FORWARD_TIMEOUT, port=port)
                if got.flags & dns.flags.TC:
                    got = dns.query.tcp(outgoing, host, timeout=FORWARD_TIMEOUT, port=port)
            except (OSError, dns.exception.DNSException) as exc:
                if self.config.errors:
                    log.error("[ERROR] plugin/errors: 2 %s %s: forward to %s: %s", qname,
                              qtype, target, exc)
                continue
            got.id = query.id
            if cfg.cache_ttl:
                self.cache.put(key, got)
            return got
        response.set_rcode(dns.rcode.SERVFAIL)
        return response

    # -- loop detection --------------------------------------------------------

    def check_loop(self, port: int) -> None:
        """Send CoreDNS's loop probe (a random HINFO name) through ourselves until
        something answers: it arrives once from us; arriving more than twice means
        the forward upstream sends it back to us (a loop)."""
        if not self.config.loop or not self.config.forward_to:
            return
        self.loop_name = f"{random.getrandbits(63)}.{random.getrandbits(63)}.".lower()
        probe = dns.message.make_query(self.loop_name, "HINFO")
        for _ in range(LOOP_LIMIT + 1):   # any answer (even an error) ends the check
            try:
                dns.query.udp(probe, "127.0.0.1", timeout=2 * FORWARD_TIMEOUT, port=port)
                return
            except (OSError, dns.exception.DNSException):
                continue

    # -- transports --------------------------------------------------------------

    def serve(self, address: str, port: int, stop: threading.Event) -> Tuple[int, int]:
        """Start UDP and TCP listeners in daemon threads; (udp port, tcp port).

        Port 0 picks a free UDP port and serves TCP on the same number; when
        that TCP port is taken by someone else, another UDP port is tried.
        """
        server = self

        class TCPHandler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(5)
                try:
                    while True:
                        head = _recv_exact(self.request, 2)
                        if not head:
                            return
                        (length,) = struct.unpack("!H", head)
                        wire = _recv_exact(self.request, length)
                        out = server.handle(wire, self.client_address[0], "tcp")
                        if out is None:
                            return
                        self.request.sendall(struct.pack("!H", len(out)) + out)
                except OSError:
                    return

        class TCPServer(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        for attempt in range(20 if port == 0 else 1):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                udp.bind((address, port))
                tcp = TCPServer((address, udp.getsockname()[1]), TCPHandler)
                break
            except OSError as err:
                udp.close()
                if port != 0 or err.errno != errno.EADDRINUSE or attempt == 19:
                    raise
        threading.Thread(target=self._udp_loop, args=(udp, stop), daemon=True,
                         name="dns-udp").start()
        threading.Thread(target=tcp.serve_forever, daemon=True, name="dns-tcp").start()
        threading.Thread(target=lambda: (stop.wait(), tcp.shutdown(), udp.close()),
                         daemon=True).start()
        return udp.getsockname()[1], tcp.server_address[1]

    def _udp_loop(self, sock: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(65535)
            except OSError:
                return
            query = parse(wire)
            if query is None:
                continue
            if self._needs_forward(query):
                self._pool.submit(self._reply, sock, query, len(wire), peer)
            else:
                self._reply(sock, query, len(wire), peer)

    def _needs_forward(self, query: dns.message.Message) -> bool:
        """Answers from memory go out inline, upstream ones from the pool."""
        cfg = self.config
        if not query.question:
            return False
        if cfg.kubernetes is None:
            return bool(cfg.forward_to)
        name = query.question[0].name.to_text()
        return not any(in_zone(name, z) for z in cfg.kubernetes.zones) or \
            cfg.kubernetes.falls_through(name)

    def _reply(self, sock: socket.socket, query: dns.message.Message, size: int,
               peer) -> None:
        try:
            sock.sendto(self.respond(query, size, peer[0], "udp"), peer)
        except OSError as err:
            if sock.fileno() != -1:   # a closed socket: the server is stopping
                log.warning("answering a query from %s: %s", peer[0], err)
        except Exception:  # one bad query must not stop the server
            log.exception("answering a query from %s", peer[0])


def parse(wire: bytes) -> Optional[dns.message.Message]:
    """A query message, or None for bytes that are not one (dropped, as servers do)."""
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    return None if query.flags & dns.flags.QR else query


def _recv_exact(sock: socket.socket, length: int) -> bytes:
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            return b""
        data += chunk
    return data
