"""A container's shim as a process (isolation off, so no root): attach sessions reach the
first process's stdin (a pipe, or its terminal) and receive its output; stdinOnce ends
the input with the first session; the exit status is still recorded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid

from k8snet.cri import shimio

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_shim(tmp_path, argv, **io) -> str:
    cdir = tmp_path / uuid.uuid4().hex
    cdir.mkdir()
    spec = {"argv": argv, "env": {"PATH": "/usr/bin:/bin"}, "cwd": "", "netns_path": "",
            "pidns_path": "", "hostname": "", "log_path": str(cdir / "c.log"),
            "cgroup_procs": [], "isolate": False, "mounts": [], "exe": "", **io}
    (cdir / "spec.json").write_text(json.dumps(spec))
    subprocess.run([sys.executable, "-m", "k8snet.cri.shim", str(cdir)], check=True,
                   env=dict(os.environ, PYTHONPATH=ROOT), timeout=30)
    deadline = time.monotonic() + 15
    while not (cdir / "started.json").exists():
        assert time.monotonic() < deadline, "the shim did not start"
        time.sleep(0.02)
    return str(cdir)


def session(cdir: str, *records: bytes) -> list:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect(shimio.socket_name(os.path.basename(cdir)))
    for rec in records:
        sock.sendall(rec)
    got, unpacker = [], shimio.Unpacker()
    while True:
        data = sock.recv(65536)
        if not data:
            return got
        got += unpacker.feed(data)


def exit_status(cdir: str) -> dict:
    path = os.path.join(cdir, "exit.json")
    deadline = time.monotonic() + 15
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "no exit.json"
        time.sleep(0.02)
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def test_stdin_once_pipe(tmp_path):
    cdir = start_shim(tmp_path, ["sh", "-c", "while read l; do echo got:$l; done; echo bye"],
                      stdin=True, stdin_once=True)
    got = session(cdir, shimio.pack(shimio.STDIN, b"hello\n"), shimio.pack(shimio.CLOSE_STDIN))
    assert b"".join(d for s, d in got if s == shimio.STDOUT) == b"got:hello\nbye\n"
    assert exit_status(cdir)["exit_code"] == 0
    with open(os.path.join(cdir, "c.log"), encoding="utf-8") as fh:
        assert "stdout F got:hello" in fh.read()   # the log has it too


def test_terminal_resize_and_exit_code(tmp_path):
    cdir = start_shim(tmp_path, ["sh"], stdin=True, tty=True)
    got = session(cdir, shimio.pack(shimio.RESIZE, b'{"Width":77,"Height":22}'),
                  shimio.pack(shimio.STDIN, b"stty size; exit 3\n"))
    out = b"".join(d for _s, d in got)
    assert b"22 77\r\n" in out and {s for s, _d in got} == {shimio.STDOUT}
    assert exit_status(cdir)["exit_code"] == 3


def test_another_user_cannot_attach(tmp_path):
    if os.getuid() != 0:
        return  # needs a second user to be: root's test only
    cdir = start_shim(tmp_path, ["sh", "-c", "read l; echo got:$l"], stdin=True)
    probe = ("import os, socket, sys\nos.setuid(65534)\ns = socket.socket(socket.AF_UNIX)\n"
             "s.connect(bytes.fromhex(sys.argv[1]))\ntry:\n"
             "    s.sendall(bytes.fromhex(sys.argv[2]))\n    s.settimeout(10)\n"
             "    print(len(s.recv(100)))\nexcept OSError:  # reset, broken pipe\n"
             "    print(0)")
    other = subprocess.run([sys.executable, "-c", probe,
                            shimio.socket_name(os.path.basename(cdir)).encode().hex(),
                            shimio.pack(shimio.STDIN, b"intruder\n").hex()],
                           capture_output=True, text=True, timeout=30)
    assert other.stdout.strip() == "0", other   # closed (or reset) at once, nothing read
    got = session(cdir, shimio.pack(shimio.STDIN, b"owner\n"))
    assert b"".join(d for _s, d in got) == b"got:owner\n"
