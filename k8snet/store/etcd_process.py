"""Start and stop local etcd members (for tests and `k8snet up --store etcd`).

Rendering the command line is a pure function of the member set; starting,
waiting for health and stopping are a thin layer around subprocess. Several
members in several master hosts form one Raft cluster.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import List, Optional, Sequence

from k8snet.errors import K8snetError

ETCD_BIN = "/usr/bin/etcd"


@dataclass(frozen=True)
class EtcdMember:
    """One member: its name and the address its client and peer ports listen on."""

    name: str
    ip: str
    client_port: int = 2379
    peer_port: int = 2380

    @property
    def client_url(self) -> str:
        return f"http://{self.ip}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.ip}:{self.peer_port}"


PROGRESS_NOTIFY_INTERVAL = "1s"


def initial_cluster(members: Sequence[EtcdMember]) -> str:
    """etcd's --initial-cluster value: name=peer_url,..."""
    return ",".join(f"{m.name}={m.peer_url}" for m in members)


def store_url(members: Sequence[EtcdMember]) -> str:
    """The k8snet store URL naming every member: etcd://ip:port,ip:port."""
    return "etcd://" + ",".join(f"{m.ip}:{m.client_port}" for m in members)


def render_etcd_command(
    member: EtcdMember,
    members: Sequence[EtcdMember],
    data_dir: str,
    token: str = "k8snet",
    etcd_bin: str = ETCD_BIN,
    initial_state: str = "new",
) -> List[str]:
    """The argv that runs ``member`` of the cluster ``members``."""
    if member not in members:
        raise ValueError(f"member {member.name} is not in the member set")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError(f"member names must be unique: {names}")
    return [
        etcd_bin,
        f"--name={member.name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={member.client_url}",
        f"--advertise-client-urls={member.client_url}",
        f"--listen-peer-urls={member.peer_url}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        f"--initial-cluster={initial_cluster(members)}",
        f"--initial-cluster-state={initial_state}",
        f"--initial-cluster-token={token}",
        "--logger=zap",
        "--log-outputs=stderr",
        # idle watches learn the current revision every second (the apiserver's BOOKMARKs);
        # etcd's default is 10 minutes
        f"--experimental-watch-progress-notify-interval={PROGRESS_NOTIFY_INTERVAL}",
    ]


def start_etcd(argv: Sequence[str], log_path: str) -> subprocess.Popen:
    """Start etcd with its output in ``log_path``; the caller records the PID."""
    if not os.access(argv[0], os.X_OK):
        raise K8snetError(f"{argv[0]} not found: install Debian's etcd-server")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def is_healthy(client_url: str, timeout: float = 1.0) -> bool:
    """True when the member's /health says it is part of a working cluster."""
    try:
        with urllib.request.urlopen(client_url + "/health", timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}").get("health") in ("true", True)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def wait_healthy(
    client_url: str,
    deadline: float,
    proc: Optional[subprocess.Popen] = None,
    log_path: Optional[str] = None,
) -> None:
    """Wait until ``client_url`` is healthy or ``deadline`` (time.monotonic) passes."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise K8snetError(
                f"etcd exited with status {proc.returncode} before becoming healthy"
                + (f"; see {log_path}" if log_path else "")
            )
        if is_healthy(client_url):
            return
        time.sleep(0.1)
    raise K8snetError(
        f"timed out waiting for etcd at {client_url} to report healthy"
        + (f"; see {log_path}" if log_path else "")
    )


def stop_etcd(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop exactly this etcd process: SIGTERM, then SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
