"""Waiting for components to get ready, woken when they do (not by polling).

A component says it is ready by creating a file (its socket, a ready file, the
kubeconfig the first apiserver writes). `ReadyWatch` watches the directories
of those files with inotify and the processes with pidfds, so a wait ends as
soon as a file appears or a process exits. Where either is missing (an old
kernel), it wakes every ``fallback`` seconds and looks.
"""

from __future__ import annotations

import ctypes
import os
import select
import time
from typing import Dict, List, Optional

IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
IN_CLOSE_WRITE = 0x008
IN_MOVED_TO = 0x080
IN_CREATE = 0x100

_libc = ctypes.CDLL(None, use_errno=True)


class ReadyWatch:
    """Files to wait for and processes to watch while waiting."""

    def __init__(self, fallback: float = 0.1):
        self.fallback = fallback
        self.inotify = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        self.dirs: Dict[str, int] = {}
        self.pidfds: Dict[int, int] = {}  # pid -> pidfd

    def close(self) -> None:
        for fd in self.pidfds.values():
            os.close(fd)
        self.pidfds.clear()
        if self.inotify >= 0:
            os.close(self.inotify)
            self.inotify = -1

    def __enter__(self) -> ReadyWatch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def file(self, path: str) -> None:
        """Wake when ``path`` appears (its directory is made if missing)."""
        directory = os.path.dirname(os.path.abspath(path))
        if directory in self.dirs or self.inotify < 0:
            return
        os.makedirs(directory, exist_ok=True)
        wd = _libc.inotify_add_watch(self.inotify, directory.encode(),
                                     IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
        if wd >= 0:
            self.dirs[directory] = wd

    def process(self, pid: int) -> None:
        """Wake when process ``pid`` exits."""
        if pid in self.pidfds:
            return
        try:
            self.pidfds[pid] = os.pidfd_open(pid)
        except (OSError, AttributeError):
            pass

    def forget(self, pid: int) -> None:
        fd = self.pidfds.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def wait(self, timeout: float) -> None:
        """Sleep until a watched file changes, a watched process exits, or
        ``timeout`` (at most ``fallback`` when something cannot be watched)."""
        fds: List[int] = list(self.pidfds.values())
        if self.inotify >= 0:
            fds.append(self.inotify)
        limit = timeout if self.inotify >= 0 else min(timeout, self.fallback)
        if fds:
            ready, _, _ = select.select(fds, [], [], max(0.0, limit))
        else:
            time.sleep(max(0.0, limit))
            ready = []
        if self.inotify in ready:
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                if not os.read(self.inotify, 65536):
                    return
            except BlockingIOError:
                return
            except OSError:
                return


def exists(path: Optional[str]) -> bool:
    return bool(path) and os.path.exists(path)
