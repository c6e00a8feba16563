"""Samples every running container's cgroups on a period, so that /stats/summary can
say how many cores each uses now (a rate needs two samples), as cAdvisor does."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from k8snet.kubelet import crispec, stats

LOG = logging.getLogger(__name__)
PERIOD = 5.0


class StatsCollector:
    def __init__(self, runtime: Any, period: float = PERIOD,
                 clock: Callable[[], float] = time.time):
        self.runtime = runtime
        self.period = period
        self.clock = clock
        self._prev: dict = {}       # container id -> Sample
        self._latest: list = []
        self._taken = 0.0
        self._lock = threading.Lock()

    def collect(self) -> list:
        """One round: a ContainerStats per running container whose cgroups can be read."""
        from k8snet.machinery.cri import CriError
        out, seen = [], {}
        try:
            running = self.runtime.list_containers(state="CONTAINER_RUNNING")
        except CriError as exc:
            LOG.warning("stats: cannot list containers: %s", exc)
            return []
        for c in running:
            labels = c["labels"]
            try:
                status = self.runtime.container_status(c["id"])
            except CriError:
                continue
            now = self.clock()
            sample = stats.read_sample(status["pid"], now) if status["pid"] else None
            if sample is None:
                continue
            with self._lock:
                prev = self._prev.get(c["id"])
            seen[c["id"]] = sample
            out.append(stats.ContainerStats(
                namespace=labels.get(crispec.POD_NAMESPACE, ""),
                pod=labels.get(crispec.POD_NAME, ""), pod_uid=labels.get(crispec.POD_UID, ""),
                container=labels.get(crispec.CONTAINER_NAME, c["name"]),
                start=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                    time.gmtime(status["started_at"] / 1e9)),
                sample=sample, nano_cores=stats.nano_cores(prev, sample)))
        with self._lock:
            self._prev, self._latest, self._taken = seen, out, self.clock()
        return out

    def latest(self) -> list:
        """The last round's figures (a fresh round if the loop has not run lately)."""
        with self._lock:
            fresh = self.clock() - self._taken < 2 * self.period
            latest = self._latest
        return latest if fresh else self.collect()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.collect()
            stop.wait(self.period)
