"""The store: a revisioned key-value interface with SQLite and etcd backends.

    from k8snet.store import open_store
    store = open_store("sqlite:///var/lib/k8snet/store.db")   # or "etcd://127.0.0.1:2379"
"""

from k8snet.store.base import (
    Compacted,
    FutureRevision,
    Item,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    Store,
    StoreError,
    StoreUnavailable,
    WatchEvent,
    prefix_end,
)
from k8snet.store.url import StoreUrl, open_store, parse_store_url

__all__ = [
    "Compacted",
    "FutureRevision",
    "Item",
    "KeyExists",
    "KeyNotFound",
    "RevisionMismatch",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoreUrl",
    "WatchEvent",
    "open_store",
    "parse_store_url",
    "prefix_end",
]
