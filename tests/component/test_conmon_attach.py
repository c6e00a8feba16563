"""Containers under conmon and crun, driven through the Runtime in this process (root; a
sandbox in the node's network namespace, so no CNI): attach sessions reach the first
process's stdin (a pipe, or its terminal) and receive its output; stdinOnce ends the
input with the first session; the exit status and the CRI log are kept; another user
cannot attach."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import pytest

from k8snet.cri import monitor, oci
from k8snet.cri.logs import read_log_text
from k8snet.cri.runtime import Runtime, RuntimeConfig

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts)"),
    pytest.mark.skipif(bool(monitor.missing_tools()), reason="conmon/crun not installed "
                       "(make setup)"),
]


@pytest.fixture()
def runtime(tmp_path):
    name = f"ca{secrets.token_hex(3)}"
    rt = Runtime(RuntimeConfig(root_dir=str(tmp_path / "root"), netns_prefix=f"k8snet-{name}",
                               cni_conf_dir=str(tmp_path / "cni"),
                               cgroup_parent=f"k8snet/test/{name}"))
    rt.prepare()
    sid = rt.run_pod_sandbox({"metadata": {"name": "p", "namespace": "default", "uid": "u"},
                              "host_network": True, "hostname": "attached"})
    try:
        yield rt, sid
    finally:
        rt.remove_pod_sandbox(sid)
        for path in rt.cgroups._dirs("").values():   # the containers' parent cgroup
            try:
                os.rmdir(path)
            except OSError:
                pass


def start(rt: Runtime, sid: str, command: list, **io) -> str:
    cid = rt.create_container(sid, {"metadata": {"name": "c"}, "image": {"image": "busybox"},
                                    "command": command, **io})
    rt.start_container(cid)
    return cid


def session(rt: Runtime, cid: str, *steps) -> list:
    """Run steps (bytes: input; ("resize", w, h); "close": end of input), then read what
    conmon sends until it ends the session: [(stream, data)]."""
    cdir = rt.container_dir(cid)
    conn = monitor.connect_attach(cdir)
    assert conn is not None, "no attach socket"
    conn.settimeout(20)
    for step in steps:
        if step == "close":
            conn.shutdown(socket.SHUT_WR)
        elif isinstance(step, tuple):
            monitor.resize(cdir, step[1], step[2])
        elif step == "settle":
            time.sleep(0.3)   # the fifo and the socket are two paths into conmon
        else:
            for packet in oci.input_packets(step):
                conn.sendall(packet)
    got = []
    with conn:
        while True:
            packet = conn.recv(65536)
            if not packet:
                return got
            got.append(oci.attach_packet(packet))


def exited(rt: Runtime, cid: str) -> dict:
    deadline = time.monotonic() + 15
    while (st := rt.container_status(cid))["state"] != "exited":
        assert time.monotonic() < deadline, "the container did not exit"
        time.sleep(0.05)
    return st


def test_stdin_once_pipe_and_the_log(runtime):
    rt, sid = runtime
    cid = start(rt, sid, ["sh", "-c", "while read l; do echo got:$l; done; echo bye >&2"],
                stdin=True, stdin_once=True)
    got = session(rt, cid, b"hello\n", "close")
    assert b"".join(d for s, d in got if s == oci.STDOUT) == b"got:hello\n"
    assert b"".join(d for s, d in got if s == oci.STDERR) == b"bye\n"
    st = exited(rt, cid)
    assert st["exit_code"] == 0 and st["reason"] == "Completed"
    assert read_log_text(st["log_path"]) == "got:hello\nbye\n"   # the log has it too
    assert not os.path.exists(st["log_path"] + ".starting")     # named once it ran


def test_terminal_resize_and_exit_code(runtime):
    rt, sid = runtime
    cid = start(rt, sid, ["sh"], stdin=True, tty=True)
    # as `kubectl attach -t` does: the size plus one (the shell redraws), then the size
    got = session(rt, cid, ("resize", 78, 23), ("resize", 77, 22), "settle",
                  b"stty size; hostname; exit 3\n")
    out = b"".join(d for _s, d in got)
    assert b"22 77\r\n" in out and b"attached\r\n" in out
    assert {s for s, _d in got} == {oci.STDOUT}
    assert exited(rt, cid)["exit_code"] == 3


def test_a_signal_is_an_exit_code_of_128_plus_it(runtime):
    rt, sid = runtime
    cid = start(rt, sid, ["sleep", "3600"])
    pid = rt.container_status(cid)["pid"]
    os.kill(pid, 9)
    st = exited(rt, cid)
    assert st["exit_code"] == 137 and st["reason"] == "Error" and st["finished_at"] > 0


def test_another_user_cannot_attach(runtime):
    rt, sid = runtime
    cid = start(rt, sid, ["sh", "-c", "read l; echo got:$l"], stdin=True)
    probe = ("import os, socket, sys\nd = os.open(sys.argv[1], os.O_PATH)\n"
             "os.setuid(65534)\n"
             "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
             "try:\n    s.connect(f'/proc/self/fd/{d}/attach')\n    print('connected')\n"
             "except OSError as exc:\n    print(exc.errno)")
    other = subprocess.run([sys.executable, "-c", probe, rt.container_dir(cid)],
                           capture_output=True, text=True, timeout=30)
    assert other.stdout.strip() == "13", other   # EACCES
    got = session(rt, cid, b"owner\n")
    assert b"".join(d for _s, d in got) == b"got:owner\n"
