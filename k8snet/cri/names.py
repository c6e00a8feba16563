"""Names the runtime gives sandboxes' network namespaces and IDs.

A Pod sandbox's netns is ``<netns-prefix>-<pod namespace>-<pod name>``, the
prefix being the node's own netns name (``k8snet-<cluster>-<node>``), so
`k8snet clean` and `ip netns` users see which node and Pod it belongs to.
Names longer than MAX_NETNS are shortened to the prefix, a truncated Pod
part and a hash of the full name, so different Pods never share one.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Collection

MAX_NETNS = 64
HASH_LEN = 8


def sandbox_netns_name(prefix: str, namespace: str, name: str, attempt: int = 0,
                       taken: Collection[str] = ()) -> str:
    """The netns name of a Pod sandbox; unique among ``taken``."""
    full = f"{prefix}-{namespace}-{name}" + (f"-{attempt}" if attempt else "")
    candidate = _shorten(prefix, full)
    salt = 0
    while candidate in taken:
        salt += 1
        candidate = _shorten(prefix, full, force=True, salt=str(salt))
    return candidate


def _shorten(prefix: str, full: str, force: bool = False, salt: str = "") -> str:
    if len(full) <= MAX_NETNS and not force:
        return full
    digest = hashlib.sha256((full + salt).encode()).hexdigest()[:HASH_LEN]
    room = MAX_NETNS - len(prefix) - HASH_LEN - 2
    if room < 1:
        raise ValueError(f"netns prefix {prefix!r} is too long (max {MAX_NETNS - 12} chars)")
    pod_part = full[len(prefix) + 1:][:room].rstrip("-")
    return f"{prefix}-{pod_part}-{digest}"


def new_id() -> str:
    """A fresh sandbox or container ID (64 hex digits, as other runtimes use)."""
    return secrets.token_hex(32)
