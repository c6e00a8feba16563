"""The CRI container log format: ``<RFC3339Nano> <stream> <P|F> <text>``.

One line per record; a line longer than MAX_RECORD is cut into partial
records tagged P, the last piece tagged F (full), as containerd writes them
and as the kubelet's log reader expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from k8snet.machinery.timefmt import format_nano_time

MAX_RECORD = 16 * 1024


def format_records(ts_ns: int, stream: str, line: bytes, complete: bool = True) -> bytes:
    """Records for one line (without its newline); complete=False: a trailing piece."""
    stamp = format_nano_time(ts_ns).encode()
    pieces = [line[i:i + MAX_RECORD] for i in range(0, len(line), MAX_RECORD)] or [b""]
    out = []
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        tag = b"F" if last and complete else b"P"
        out.append(stamp + b" " + stream.encode() + b" " + tag + b" " + piece + b"\n")
    return b"".join(out)


def split_lines(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete lines (without newlines) in buffer, and the unfinished rest."""
    *lines, rest = buffer.split(b"\n")
    return lines, rest


@dataclass(frozen=True)
class LogRecord:
    timestamp: str
    stream: str
    partial: bool
    text: str


def parse_record(line: str) -> Optional[LogRecord]:
    """One record of a CRI log file, or None when the line is not one."""
    parts = line.rstrip("\n").split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("P", "F"):
        return None
    return LogRecord(parts[0], parts[1], parts[2] == "P", parts[3] if len(parts) > 3 else "")


def read_log_text(path: str, tail: Optional[int] = None) -> str:
    """A CRI log file as the text the container printed (what `kubectl logs` shows)."""
    out: list[str] = []
    pending = ""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            rec = parse_record(raw)
            if rec is None:
                continue
            pending += rec.text
            if not rec.partial:
                out.append(pending + "\n")
                pending = ""
    if tail is not None:
        out = out[-tail:] if tail > 0 else []
    return "".join(out)
