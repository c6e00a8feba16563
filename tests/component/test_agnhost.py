"""k8snet's agnhost netexec as a process on loopback, asked what e2e tests ask it:
the HTTP endpoints, /dial over HTTP and UDP (answers, an HTTP error, a refused
port), /shell, the UDP server, and SIGTERM ending it."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.component.apiserver_proc import free_port


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return resp.read().decode()


def udp(port: int, text: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(text.encode(), ("127.0.0.1", port))
        return sock.recv(65535).decode()


@pytest.fixture(scope="module")
def netexec():
    http_port, udp_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.images.agnhost", "netexec",
                             f"--http-port={http_port}", f"--udp-port={udp_port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    end = time.monotonic() + 30
    while True:
        try:
            get(http_port, "/healthz")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                pytest.fail(f"netexec never answered: {proc.stdout.read()}")
            time.sleep(0.1)
    yield proc, http_port, udp_port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_http_endpoints(netexec):
    _proc, port, _udp = netexec
    assert get(port, "/hostname") == socket.gethostname()
    assert get(port, "/echo?msg=hello%20there") == "hello there"
    assert get(port, "/clientip").startswith("127.0.0.1:")
    assert json.loads(get(port, "/shell?cmd=echo%20hi"))["output"] == "hi\n"


def test_dial_answers_and_errors(netexec):
    _proc, port, udp_port = netexec
    out = json.loads(get(port, f"/dial?request=hostname&host=127.0.0.1&port={port}"
                               "&protocol=http&tries=2"))
    assert out == {"responses": [socket.gethostname()] * 2}
    out = json.loads(get(port, f"/dial?request=echo%20hi&host=127.0.0.1&port={udp_port}"
                               "&protocol=udp"))
    assert out == {"responses": ["hi"]}
    missing = json.loads(get(port, f"/dial?request=nothere&host=127.0.0.1&port={port}"))
    assert missing["responses"] == [] and "404" in missing["errors"][0]
    closed = free_port()
    refused = json.loads(get(port, f"/dial?request=hostname&host=127.0.0.1&port={closed}"))
    assert refused["responses"] == [] and "refused" in refused["errors"][0].lower()


def test_udp_server(netexec):
    _proc, _port, udp_port = netexec
    assert udp(udp_port, "hostname") == socket.gethostname()
    assert udp(udp_port, "echo over udp") == "over udp"
    assert udp(udp_port, "clientip").startswith("127.0.0.1:")


def test_sigterm_ends_it_with_status_0(netexec):
    proc, _port, _udp = netexec
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0   # even as PID 1 of a namespace, which ignores default
