"""The zygote forks k8snet commands that this process adopts (as the supervisor
does): their exit statuses, command lines and logs are those of the command
run on its own (k8snet.testbed.zygote)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from k8snet.testbed import zygote


@pytest.fixture(scope="module")
def forker(tmp_path_factory):
    if not zygote.become_subreaper():
        pytest.skip("the kernel refuses PR_SET_CHILD_SUBREAPER")
    path = str(tmp_path_factory.mktemp("zygote") / zygote.SOCKET_NAME)
    log = open(path + ".log", "ab")
    proc = subprocess.Popen(zygote.zygote_command(path), stdout=log, stderr=subprocess.STDOUT)
    try:
        client = zygote.ZygoteClient(path)
        assert client.wait_ready(300, alive=lambda: proc.poll() is None), \
            open(path + ".log").read()
        yield client
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        # the rest of the session must not adopt (and never reap) other tests' orphans
        zygote.become_subreaper(False)


def children() -> set:
    with open(f"/proc/self/task/{os.getpid()}/children") as fh:
        return {int(p) for p in fh.read().split()}


def test_a_forked_command_is_adopted_with_its_exit_status_and_log(forker, tmp_path):
    log = str(tmp_path / "bad.log")
    pid = forker.spawn("kubelet@w1", ["kubelet", "--no-such-flag"], dict(os.environ), log,
                       None)
    assert zygote.ForkedProcess(pid).wait(30) == 2  # argparse's usage error, as on its own
    assert "k8snet kubelet: error: the following arguments are required" in open(log).read()


def test_a_running_component_shows_as_itself_and_stops_on_sigterm(forker, tmp_path):
    log = str(tmp_path / "apiserver.log")
    argv = ["apiserver", "--data-dir", str(tmp_path / "data"), "--bind-address", "127.0.0.1",
            "--port", "0", "--insecure-http"]
    pid = forker.spawn("apiserver@m1", argv, dict(os.environ), log, None)
    proc = zygote.ForkedProcess(pid)
    try:
        deadline = time.monotonic() + 60
        while "serving" not in open(log).read():
            assert proc.poll() is None, open(log).read()
            assert time.monotonic() < deadline, open(log).read()
            time.sleep(0.05)
        assert pid in children()  # adopted: this process waits for it
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = fh.read().rstrip(b"\0").split(b"\0")
        assert cmdline[1:4] == [b"-m", b"k8snet.cli", b"apiserver"]
        assert os.getsid(pid) == pid  # its own session, as start_new_session gives
    finally:
        if proc.poll() is None:
            os.kill(pid, signal.SIGTERM)
    assert proc.wait(30) == 0


def test_a_zygote_that_is_gone_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        zygote.ZygoteClient(str(tmp_path / "none.sock")).spawn(
            "x@y", ["doctor"], {}, str(tmp_path / "x.log"), None)


def test_orphans_that_exited_are_reaped_but_not_known_children():
    if not zygote.become_subreaper():
        pytest.skip("the kernel refuses PR_SET_CHILD_SUBREAPER")
    # A grandchild whose parent exits is adopted; once it exits it is reaped.
    out = subprocess.run(["sh", "-c", "sleep 0.2 & echo $!"], capture_output=True, text=True)
    orphan = int(out.stdout)
    known = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    reaped: list = []
    while orphan not in reaped and time.monotonic() < deadline:
        time.sleep(0.1)
        reaped += zygote.reap_orphans({known.pid})
    try:
        assert orphan in reaped and known.pid not in reaped
        assert known.wait(5) == 0  # its Popen still gets its status
    finally:
        zygote.become_subreaper(False)


FIRST_USE = r"""
import os, sys, ssl, tempfile
from k8snet.testbed import zygote
assert zygote.preload() == [], "preload failed"
before = set(sys.modules)
pid = os.fork()
if pid == 0:
    # what a component does on its first request, its gRPC server and its first
    # CRI call: a resource lookup, a TLS client context, a gRPC server and channel
    import grpc
    from concurrent import futures
    from k8snet.machinery import resources
    resources.RESOURCES["pods"], resources.KINDS["Deployment"]
    ssl.create_default_context().check_hostname
    "apiserver.k8snet.example".encode("idna")  # http.client encodes the host
    path = os.path.join(tempfile.mkdtemp(), "s.sock")
    server = grpc.server(futures.ThreadPoolExecutor(1))
    server.add_insecure_port("unix:" + path)
    server.start()
    with grpc.insecure_channel("unix:" + path) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
    server.stop(None)
    print(" ".join(sorted(set(sys.modules) - before)), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_forked_component_imports_nothing_on_first_use():
    """What a component imports after it is forked is its own memory, not the
    zygote's shared pages: the modules its first request, TLS context and gRPC
    calls need are all preloaded."""
    out = subprocess.run([sys.executable, "-c", FIRST_USE], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported after the fork: {out.stdout}"
