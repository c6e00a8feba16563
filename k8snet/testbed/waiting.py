"""Waiting on the apiserver by watch, not by repeated list.

    with watching(client, "pods", "default", label_selector="app=web") as pods:
        ready = wait_until(pods, lambda items: ready_pods(items, want), 120,
                           "Pods web-1, web-2 Ready")

`watching` runs a `k8snet.machinery.informer.Informer` for as long as the
block lasts; `wait_until` wakes on every change it sees and raises
`WaitTimeout` naming what it waited for. The predicates below are pure.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Dict, Iterable, Iterator, Optional

from k8snet.machinery.conditions import is_ready
from k8snet.machinery.informer import Informer, WaitTimeout, wait_until

__all__ = ["watching", "wait_for", "ready_pods", "ready_names", "WaitTimeout", "wait_until"]

Items = Dict[str, dict]


@contextlib.contextmanager
def watching(client, resource: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None,
             field_selector: Optional[str] = None) -> Iterator[Informer]:
    """An informer on ``resource`` that runs while the block runs."""
    stop = threading.Event()
    informer = Informer(client, resource, namespace, label_selector=label_selector,
                        field_selector=field_selector, retry_seconds=0.5)
    informer.start(stop)
    try:
        yield informer
    finally:
        stop.set()


def wait_for(client, resource: str, predicate: Callable[[Items], object], timeout: float,
             what: str, namespace: Optional[str] = None,
             label_selector: Optional[str] = None) -> object:
    """Watch ``resource`` until ``predicate(items)`` is truthy; return its value."""
    with watching(client, resource, namespace, label_selector) as informer:
        return wait_until(informer, predicate, timeout, what)


def by_name(items: Items) -> Dict[str, dict]:
    """An informer's items keyed by object name instead of 'namespace/name'."""
    return {obj.get("metadata", {}).get("name"): obj for obj in items.values()}


def ready_names(items: Items) -> set:
    """Names of the objects (Pods or Nodes) whose Ready condition is True."""
    return {name for name, obj in by_name(items).items() if is_ready(obj)}


def ready_pods(items: Items, names: Iterable[str]) -> Optional[Dict[str, dict]]:
    """The Pods called ``names`` once every one is Ready with an IP, else None."""
    pods = by_name(items)
    wanted = list(names)
    if all(n in pods and is_ready(pods[n]) and pods[n].get("status", {}).get("podIP")
           for n in wanted):
        return {n: pods[n] for n in wanted}
    return None
