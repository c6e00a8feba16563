"""A cluster's state on disk: ``/run/k8snet/<cluster>/state.json``.

The supervisor writes it; ``status``, ``exec``, ``down`` and ``clean`` read
it. Processes are recorded with their start time so that a PID reused by
someone else's process is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Dict, Iterator, List, Optional

from k8snet import naming

STATE_FILE = "state.json"


def state_path(cluster: str, root: str = naming.STATE_ROOT) -> str:
    return os.path.join(naming.state_dir(cluster, root), STATE_FILE)


def read_state(cluster: str, root: str = naming.STATE_ROOT) -> Optional[Dict]:
    """The recorded state of ``cluster``, or None when there is none."""
    try:
        with open(state_path(cluster, root)) as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_state(state: Dict, root: str = naming.STATE_ROOT) -> None:
    """Write atomically, so readers never see half a file."""
    path = state_path(state["name"], root)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def cluster_names(root: str = naming.STATE_ROOT) -> List[str]:
    """Clusters that have a state directory, running or not."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if naming.CLUSTER_NAME_RE.match(n)
                  and os.path.isdir(os.path.join(root, n)))


def process_start_time(pid: int) -> Optional[int]:
    """Start time of ``pid`` in clock ticks since boot, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def record_process(pid: int, name: str, **extra) -> Dict:
    """A process record to keep in the state: enough to find it again safely."""
    return {"pid": pid, "name": name, "start_time": process_start_time(pid), **extra}


def is_alive(record: Dict) -> bool:
    """True if the recorded process still runs (and is the same process)."""
    pid, started = record.get("pid"), record.get("start_time")
    return bool(pid) and started is not None and process_start_time(pid) == started


def signal_process(record: Dict, sig: int = signal.SIGTERM) -> bool:
    """Signal a recorded process if it is still the one recorded."""
    if not is_alive(record):
        return False
    try:
        os.kill(record["pid"], sig)
    except ProcessLookupError:
        return False
    return True


def stop_process(record: Dict, grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL."""
    stop_processes([record], grace)


def stop_processes(records: List[Dict], grace: float = 5.0) -> None:
    """SIGTERM every recorded process at once, wait up to ``grace`` seconds
    for all of them, then SIGKILL those left: one grace period for the lot,
    so a 50-node cluster stops as fast as a 2-node one."""
    alive = [r for r in records if signal_process(r, signal.SIGTERM)]
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [r for r in alive if is_alive(r)]
    for record in alive:
        signal_process(record, signal.SIGKILL)


def iter_records(state: Dict) -> Iterator[Dict]:
    """Every process record in a state: supervisor last."""
    yield from state.get("processes", [])
    if state.get("controller"):
        yield state["controller"]
    if state.get("supervisor"):
        yield state["supervisor"]
