"""SPDY framing and the port-forward session (with a socketpair as the Pod's port),
cgroup stats parsing and the metrics.k8s.io shapes."""

from __future__ import annotations

import socket
import struct
import time
import zlib

import pytest

from k8snet.apiserver import metricsapi
from k8snet.apiserver.status import ApiStatusError
from k8snet.cri import spdy
from k8snet.cri.portforward import PortForwardSession
from k8snet.kubelet import stats


def client_syn_stream(sid: int, headers: dict, deflate) -> bytes:
    """What spdystream sends: SYN_STREAM with a dictionary-compressed header block."""
    block = deflate.compress(spdy.encode_headers(headers)) + deflate.flush(zlib.Z_SYNC_FLUSH)
    return spdy.control(spdy.SYN_STREAM, 0, struct.pack(">IIBB", sid, 0, 0, 0) + block)


def test_dictionary_is_the_spdy3_one():
    d = spdy.load_dictionary()
    assert len(d) == 1423 and d.startswith(b"\x00\x00\x00\x07options")


def test_frames_split_anywhere_are_reassembled():
    wire = spdy.data(3, b"hello", fin=True) + spdy.control(spdy.PING, 0, b"\x00\x00\x00\x01")
    reader = spdy.FrameReader()
    frames = [f for i in range(len(wire)) for f in reader.feed(wire[i:i + 1])]
    assert [(f.kind, f.stream_id, f.payload, f.fin) for f in frames] == [
        (0, 3, b"hello", True), (spdy.PING, 1, b"\x00\x00\x00\x01", False)]
    with pytest.raises(ValueError, match="version 2"):
        spdy.FrameReader().feed(struct.pack(">HHI", 0x8002, 1, 0))


def test_header_blocks_round_trip_through_the_shared_zlib_streams():
    server, client_deflate = spdy.HeaderCodec(), zlib.compressobj(zdict=spdy.load_dictionary())
    for n in range(3):  # one zlib stream per direction: later blocks depend on earlier ones
        frame = spdy.FrameReader().feed(client_syn_stream(
            1 + 2 * n, {"streamType": "data", "port": "80", "requestID": str(n)},
            client_deflate))[0]
        assert spdy.syn_stream_headers(frame, server) == {
            "streamtype": "data", "port": "80", "requestid": str(n)}


class Recorder:
    def __init__(self):
        self.reader, self.frames = spdy.FrameReader(), []

    def __call__(self, data: bytes) -> bool:
        self.frames += self.reader.feed(data)
        return True


def test_port_forward_session_pairs_streams_and_copies_both_ways():
    pod_side, ours = socket.socketpair()
    sent = Recorder()
    session = PortForwardSession(sent, lambda port: ours if port == 80 else None)
    deflate = zlib.compressobj(zdict=spdy.load_dictionary())
    session.feed(client_syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"},
                                   deflate))
    session.feed(client_syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"},
                                   deflate))
    assert [(f.kind, f.stream_id) for f in sent.frames] == [(spdy.SYN_REPLY, 1),
                                                            (spdy.SYN_REPLY, 3)]
    session.feed(spdy.data(3, b"GET / HTTP/1.0\r\n\r\n", fin=True))
    assert pod_side.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
    assert pod_side.recv(100) == b""  # the client's FIN half-closed the Pod's socket
    pod_side.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
    pod_side.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(f.fin and f.stream_id == 1
                                                  for f in sent.frames):
        time.sleep(0.01)
    data = [f for f in sent.frames if f.kind == 0 and f.stream_id == 3]
    assert b"".join(f.payload for f in data) == b"HTTP/1.0 200 OK\r\n\r\n" and data[-1].fin
    assert session.feed(spdy.control(spdy.GOAWAY, 0, struct.pack(">II", 3, 0))) is False


def test_port_forward_session_reports_a_refused_port_on_the_error_stream():
    sent = Recorder()

    def refuse(port: int):
        raise ConnectionRefusedError(111, "Connection refused")
    session = PortForwardSession(sent, refuse)
    deflate = zlib.compressobj(zdict=spdy.load_dictionary())
    for sid, kind in ((1, "error"), (3, "data")):
        session.feed(client_syn_stream(sid, {"streamType": kind, "port": "9",
                                             "requestID": "7"}, deflate))
    err = [f for f in sent.frames if f.kind == 0 and f.stream_id == 1]
    assert b"error forwarding port 9" in err[0].payload and err[0].fin


V1 = """4:memory:/k/w1/c1
2:cpuacct:/k/w1/c1
1:cpu:/k/w1/c1
0::/
"""


def test_cgroup_dirs_v1_and_v2():
    assert stats.cgroup_dirs(V1, "/cg") == {"memory": "/cg/memory/k/w1/c1",
                                            "cpuacct": "/cg/cpuacct/k/w1/c1"}
    assert stats.cgroup_dirs("0::/k/w1/c1\n", "/cg") == {"v2": "/cg/k/w1/c1"}


def test_working_set_and_rate():
    assert stats.working_set(1000, "cache 10\ntotal_inactive_file 300\n", False) == 700
    assert stats.working_set(1000, "inactive_file 1200\n", True) == 0
    a, b = stats.Sample(1_000_000_000, 0, 10.0), stats.Sample(1_500_000_000, 0, 12.0)
    assert stats.nano_cores(a, b) == 250_000_000
    assert stats.nano_cores(None, b) is None and stats.nano_cores(b, a) is None


def figures(cores=250_000_000):
    return [stats.ContainerStats("default", "p", "u1", "c", "2026-01-01T00:00:00Z",
                                 stats.Sample(2_000_000_000, 40 << 20, 100.0), cores)]


def test_summary_feeds_metrics_api_as_kubectl_top_reads_it():
    summary = stats.summary("w1", 0.0, 100.0, figures())
    node = metricsapi.node_metrics(summary)
    assert node["usage"] == {"cpu": "250000000n", "memory": "40960Ki"}
    assert node["metadata"]["name"] == "w1" and node["apiVersion"] == "metrics.k8s.io/v1beta1"
    pods = metricsapi.pod_metrics(summary)
    assert pods[0]["containers"] == [{"name": "c", "usage": {"cpu": "250000000n",
                                                             "memory": "40960Ki"}}]
    assert metricsapi.node_metrics(stats.summary("w1", 0.0, 100.0, figures(None))) is None
    text = stats.resource_metrics(figures(), 100.0)
    assert 'container_cpu_usage_seconds_total{container="c",namespace="default",pod="p"} ' \
           "2.000000000 100000" in text


def test_select_lists_filters_and_404s():
    items = metricsapi.pod_metrics(stats.summary("w1", 0.0, 100.0, figures()))
    assert metricsapi.select(items, "PodMetrics", "default", None,
                             lambda i: True)["kind"] == "PodMetricsList"
    assert metricsapi.select(items, "PodMetrics", "other", None, lambda i: True)["items"] == []
    with pytest.raises(ApiStatusError, match='pods.metrics.k8s.io "q" not found'):
        metricsapi.select(items, "PodMetrics", "default", "q", lambda i: True)
