"""Store URLs: which backend, where, with which options (parsing is pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple
from urllib.parse import parse_qsl, urlsplit

from k8snet.errors import UsageError
from k8snet.store.base import Store


def _synchronous(text: str) -> str:
    """SQLite's commit durability: "full" (fsync each commit) or "normal" (fsync at
    checkpoints: a commit survives kill -9 but not a power loss)."""
    if text.lower() not in ("full", "normal"):
        raise ValueError(text)
    return text.lower()


SQLITE_OPTIONS = {
    "history_revisions": int,
    "history_seconds": float,
    "poll_interval": float,
    "busy_timeout": float,
    "synchronous": _synchronous,
}
ETCD_OPTIONS = {"timeout": float}
_HINT = 'use "sqlite:///abs/path.db" or "etcd://127.0.0.1:2379[,host:port...]"'


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: ``scheme`` is "sqlite" or "etcd"; ``path`` is the
    database file (sqlite); ``endpoints`` are (host, port) pairs (etcd)."""

    scheme: str
    path: str = ""
    endpoints: Tuple[Tuple[str, int], ...] = ()
    options: Dict[str, object] = field(default_factory=dict)


def parse_store_url(url: str) -> StoreUrl:
    """Parse ``sqlite:///abs/path.db[?opt=v]`` or ``etcd://h:p[,h:p...][?timeout=s]``.

    Raises UsageError saying what is wrong.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/"):
            raise UsageError(f"store URL {url!r} needs an absolute path: {_HINT}")
        options = _options(url, parts.query, SQLITE_OPTIONS)
        return StoreUrl("sqlite", path=parts.path, options=options)
    if parts.scheme == "etcd":
        endpoints: List[Tuple[str, int]] = []
        for item in parts.netloc.split(","):
            host, sep, port = item.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise UsageError(f"store URL {url!r} has a bad endpoint {item!r}: {_HINT}")
            endpoints.append((host.strip("[]"), int(port)))
        if parts.path not in ("", "/"):
            raise UsageError(f"store URL {url!r} has a path; etcd takes none: {_HINT}")
        options = _options(url, parts.query, ETCD_OPTIONS)
        return StoreUrl("etcd", endpoints=tuple(endpoints), options=options)
    raise UsageError(f"unknown store URL {url!r}: {_HINT}")


def _options(url: str, query: str, known: Dict[str, type]) -> Dict[str, object]:
    options: Dict[str, object] = {}
    for name, text in parse_qsl(query, keep_blank_values=True):
        if name not in known:
            raise UsageError(
                f"store URL {url!r}: unknown option {name!r} (known: {', '.join(sorted(known))})"
            )
        try:
            options[name] = known[name](text)
        except ValueError:
            what = ('"full" or "normal"' if known[name] is _synchronous else "a number")
            raise UsageError(f"store URL {url!r}: option {name}={text!r} is not {what}") from None
    return options


def open_store(url: str) -> Store:
    """The Store a URL names. Nothing is connected until the first call."""
    parsed = parse_store_url(url)
    if parsed.scheme == "sqlite":
        from k8snet.store.sqlite import SqliteStore

        return SqliteStore(parsed.path, **parsed.options)  # type: ignore[arg-type]
    from k8snet.store.etcd import EtcdStore

    return EtcdStore(list(parsed.endpoints), **parsed.options)  # type: ignore[arg-type]
