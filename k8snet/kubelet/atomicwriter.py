"""Writing a volume's files so that readers never see a half-updated set.

The layout is the kubelet's (its AtomicWriter): the files live in a
timestamped directory ``..2026_12_02_19_50_01.123456789``; ``..data`` is a
symlink to the current one; every top-level name the user sees is a symlink
through ``..data`` (``game.properties -> ..data/game.properties``). An update
writes a new timestamped directory, points ``..data_tmp`` at it and renames
that over ``..data`` (one atomic step), fixes the visible links, and removes
the old directory. A reader that opened ``..data/x`` keeps a consistent view.

`payload_changed` and `visible_names` are the decisions; `write` the effect.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Dict, Mapping, Optional, Set

from k8snet.kubelet.volumes import FileData

DATA = "..data"
DATA_TMP = "..data_tmp"


def visible_names(paths: Mapping[str, object]) -> Set[str]:
    """The top-level names a payload shows in the volume directory."""
    return {p.split("/", 1)[0] for p in paths}


def read_payload(ts_dir: str) -> Dict[str, FileData]:
    """What a timestamped directory holds (relative path -> content and mode)."""
    out: Dict[str, FileData] = {}
    for dirpath, _dirs, files in os.walk(ts_dir):
        for name in files:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as fh:
                data = fh.read()
            out[os.path.relpath(full, ts_dir)] = FileData(data, os.stat(full).st_mode & 0o7777)
    return out


def payload_changed(old: Optional[Mapping[str, FileData]], new: Mapping[str, FileData]) -> bool:
    """Must the volume be rewritten? (No current payload, or any path, content or mode differs.)"""
    return old is None or dict(old) != dict(new)


def _timestamp_name(now: float) -> str:
    t = time.gmtime(now)
    return time.strftime("..%Y_%m_%d_%H_%M_%S", t) + f".{int((now % 1) * 1e9):09d}"


def current_dir(target: str) -> Optional[str]:
    """The timestamped directory ``..data`` points at, or None."""
    try:
        return os.path.join(target, os.readlink(os.path.join(target, DATA)))
    except OSError:
        return None


def write(target: str, payload: Mapping[str, FileData], gid: Optional[int] = None,
          clock=time.time) -> bool:
    """Make `target` show exactly `payload`; returns whether anything was written."""
    os.makedirs(target, exist_ok=True)
    old_dir = current_dir(target)
    old = read_payload(old_dir) if old_dir and os.path.isdir(old_dir) else None
    if not payload_changed(old, payload):
        _fix_links(target, payload)
        return False
    ts_name = _timestamp_name(clock())
    ts_dir = os.path.join(target, ts_name)
    if os.path.exists(ts_dir):  # same nanosecond twice: make it unique
        ts_name += f"_{os.getpid()}"
        ts_dir = os.path.join(target, ts_name)
    os.makedirs(ts_dir, 0o755)
    for rel, fd in payload.items():
        full = os.path.join(ts_dir, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as fh:
            fh.write(fd.data)
        os.chmod(full, fd.mode)
        if gid is not None:
            os.chown(full, -1, gid)
    tmp_link = os.path.join(target, DATA_TMP)
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(ts_name, tmp_link)
    os.rename(tmp_link, os.path.join(target, DATA))
    _fix_links(target, payload)
    if old_dir and os.path.basename(old_dir) != ts_name:
        shutil.rmtree(old_dir, ignore_errors=True)
    return True


def _fix_links(target: str, payload: Mapping[str, FileData]) -> None:
    """Visible names: a link through ..data for each; stale ones removed."""
    names = visible_names(payload)
    for name in sorted(names):
        link = os.path.join(target, name)
        want = os.path.join(DATA, name)
        if os.path.islink(link) and os.readlink(link) == want:
            continue
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(want, link)
    for name in os.listdir(target):
        if name.startswith("..") or name in names:
            continue
        full = os.path.join(target, name)
        if os.path.islink(full):
            os.unlink(full)
