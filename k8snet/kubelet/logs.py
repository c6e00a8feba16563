"""CRI container log files: parse, select (tail, since) and format (pure).

The CRI log format is one record per line: `<RFC3339Nano time> <stream>
<tag> <content>`, stream `stdout` or `stderr`, tag `F` for a full line or
`P` for a partial one that the next record continues. Files live under the
sandbox's log directory as `<container>/<attempt>.log`, as the kubelet asks
the runtime to write them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Iterator, List, Mapping, Optional

from k8snet.machinery.timefmt import format_nano_fixed, parse_epoch, parse_nanos


@dataclass(frozen=True)
class LogEntry:
    time: str        # RFC3339NanoFixed, UTC
    ts: float        # Unix seconds
    stream: str
    content: str     # without the trailing newline


@dataclass(frozen=True)
class LogQuery:
    tail_lines: Optional[int] = None
    since_time: Optional[float] = None   # Unix seconds; from sinceSeconds or sinceTime
    timestamps: bool = False
    follow: bool = False
    previous: bool = False
    limit_bytes: Optional[int] = None


def parse_line(line: str) -> Optional[tuple]:
    """(time, ts, stream, tag, content) of one record, or None if it is not CRI format.

    time is given back in UTC with nine digits (RFC3339NanoFixed), as the kubelet prints
    it whatever zone the runtime wrote (conmon writes the machine's offset, "+00:00")."""
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("F", "P"):
        return None
    try:
        ns = parse_nanos(parts[0])
    except ValueError:
        return None
    return format_nano_fixed(ns), ns / 1e9, parts[1], parts[2], parts[3] if len(parts) > 3 \
        else ""


def parse(lines: Iterable[str]) -> Iterator[LogEntry]:
    """Whole log lines, partial records joined; unparsable lines are skipped."""
    pending: dict = {}
    for raw in lines:
        rec = parse_line(raw)
        if rec is None:
            continue
        time_s, ts, stream, tag, content = rec
        if tag == "P":
            first = pending.get(stream)
            pending[stream] = (first[0], first[1], first[2] + content) if first else \
                (time_s, ts, content)
            continue
        first = pending.pop(stream, None)
        if first is not None:
            yield LogEntry(first[0], first[1], stream, first[2] + content)
        else:
            yield LogEntry(time_s, ts, stream, content)


def select(entries: Iterable[LogEntry], query: LogQuery) -> List[LogEntry]:
    """Entries since `since_time`, then only the last `tail_lines` of them."""
    out = [e for e in entries if query.since_time is None or e.ts >= query.since_time]
    if query.tail_lines is not None:
        out = out[-query.tail_lines:] if query.tail_lines > 0 else []
    return out


def render(entry: LogEntry, timestamps: bool) -> str:
    """One output line as `kubectl logs` prints it."""
    return (f"{entry.time} {entry.content}\n" if timestamps else f"{entry.content}\n")


def parse_query(params: Mapping[str, str], now: float) -> LogQuery:
    """The kubelet's containerLogs query parameters; ValueError with a clear message."""
    def number(key: str) -> Optional[int]:
        if params.get(key) in (None, ""):
            return None
        try:
            value = int(params[key])
        except ValueError:
            raise ValueError(f"{key} must be an integer, got {params[key]!r}") from None
        if value < 0:
            raise ValueError(f"{key} must not be negative")
        return value

    def flag(key: str) -> bool:
        return str(params.get(key, "")).lower() in ("1", "true", "yes")

    since = number("sinceSeconds")
    since_time = now - since if since is not None else None
    if params.get("sinceTime"):
        since_time = parse_epoch(params["sinceTime"])
    return LogQuery(tail_lines=number("tailLines"), since_time=since_time,
                    timestamps=flag("timestamps"), follow=flag("follow"),
                    previous=flag("previous"), limit_bytes=number("limitBytes"))


_ATTEMPT = re.compile(r"^(\d+)\.log$")


def pick_log_file(container_dir: str, files: Iterable[str], previous: bool) -> Optional[str]:
    """The newest `<attempt>.log` (or the one before it for --previous)."""
    attempts = sorted(int(m.group(1)) for m in map(_ATTEMPT.match, files) if m)
    index = -2 if previous else -1
    if len(attempts) < (2 if previous else 1):
        return None
    return os.path.join(container_dir, f"{attempts[index]}.log")


def pod_log_dir(root_dir: str, namespace: str, name: str, uid: str) -> str:
    """Where a Pod's logs go: <root>/pods/<ns>_<name>_<uid> (the kubelet's layout)."""
    return os.path.join(root_dir, "pods", f"{namespace}_{name}_{uid}")
