"""The fabric as a graph: switches, live inter-switch links, equal-cost next hops."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import AbstractSet

from k8snet.fabric.facts import Facts, Host, Link

Port = tuple[str, int]  # (switch name, port number)


@dataclass(frozen=True)
class Hop:
    """Leave switch ``switch`` by ``port`` towards neighbour ``peer``."""

    switch: str
    port: int
    peer: str


def link_up(link: Link, down: AbstractSet[Port]) -> bool:
    """A link carries traffic only while both of its ports are up."""
    return (link.a, link.a_port) not in down and (link.b, link.b_port) not in down


def host_up(host: Host, down: AbstractSet[Port]) -> bool:
    """A host is attached while its switch port is up."""
    return (host.switch, host.port) not in down


class Topology:
    """Adjacency over live links, built from facts and the set of down ports."""

    def __init__(self, facts: Facts, down: AbstractSet[Port] = frozenset()) -> None:
        self.facts = facts
        self.down = frozenset(down)
        self.adjacent: dict[str, list[Hop]] = {s.name: [] for s in facts.switches}
        for ln in facts.links:
            if link_up(ln, self.down):
                self.adjacent[ln.a].append(Hop(ln.a, ln.a_port, ln.b))
                self.adjacent[ln.b].append(Hop(ln.b, ln.b_port, ln.a))
        for hops in self.adjacent.values():
            hops.sort(key=lambda h: h.port)

    def distances_to(self, target: str) -> dict[str, int]:
        """Hop counts from every switch that can reach ``target`` (BFS over live links)."""
        dist = {target: 0}
        queue = deque([target])
        while queue:
            here = queue.popleft()
            for hop in self.adjacent[here]:
                if hop.peer not in dist:
                    dist[hop.peer] = dist[here] + 1
                    queue.append(hop.peer)
        return dist

    def next_hops(self) -> dict[tuple[str, str], tuple[Hop, ...]]:
        """For every (switch, destination switch) pair that is connected and distinct,
        the equal-cost hops that lie on some shortest path."""
        table: dict[tuple[str, str], tuple[Hop, ...]] = {}
        for target in self.adjacent:
            dist = self.distances_to(target)
            for here, d in dist.items():
                if d == 0:
                    continue
                hops = tuple(h for h in self.adjacent[here] if dist.get(h.peer) == d - 1)
                table[(here, target)] = hops
        return table

    def live_hosts(self) -> list[Host]:
        """Hosts whose attachment port is up."""
        return [h for h in self.facts.hosts if host_up(h, self.down)]
