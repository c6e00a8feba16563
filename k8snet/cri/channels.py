"""The channel protocol of `kubectl exec/attach` over WebSocket (pure).

kubectl 1.32 offers the subprotocols ``v5.channel.k8s.io`` then
``v4.channel.k8s.io`` (KEP-4006). Every binary message starts with one byte
naming its stream: 0 stdin, 1 stdout, 2 stderr, 3 error (one JSON Status when
the command ends, the exit code in ``details.causes``), 4 resize (JSON
``{"Width":W,"Height":H}``). v5 adds 255: ``[255, stream]`` closes a stream,
which is how stdin's end of file reaches the command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional, Sequence
from urllib.parse import parse_qs

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")


def pick_subprotocol(offered: str) -> Optional[str]:
    """The subprotocol to answer, from a Sec-WebSocket-Protocol header (None: none fits)."""
    names = [p.strip() for p in (offered or "").split(",") if p.strip()]
    return next((p for p in SUBPROTOCOLS if p in names), None)


def frame(stream: int, data: bytes) -> bytes:
    """One message of stream `stream`."""
    return bytes([stream]) + data


@dataclass(frozen=True)
class Incoming:
    """What a client message asks: data for stdin, a resize, or a stream's close."""

    kind: str                     # "stdin", "resize", "close", "ignore"
    data: bytes = b""
    width: int = 0
    height: int = 0
    stream: int = -1


def parse_message(msg: bytes) -> Incoming:
    """Decode one binary message from the client."""
    if not msg:
        return Incoming("ignore")
    stream, body = msg[0], msg[1:]
    if stream == STDIN:
        return Incoming("stdin", data=body)
    if stream == RESIZE:
        try:
            size = json.loads(body or b"{}")
            return Incoming("resize", width=int(size.get("Width", 0)),
                            height=int(size.get("Height", 0)))
        except (ValueError, TypeError, AttributeError):
            return Incoming("ignore")
    if stream == CLOSE and body:
        return Incoming("close", stream=body[0])
    return Incoming("ignore")


def exit_status(exit_code: int, command: Sequence[str]) -> bytes:
    """The error stream's Status for a finished command (what kubectl turns into its exit)."""
    if exit_code == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    return json.dumps({
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"{list(command)}, exit code {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}).encode()


def failure_status(message: str) -> bytes:
    """The error stream's Status when the command could not run at all."""
    return json.dumps({"metadata": {}, "status": "Failure", "message": message,
                       "reason": "InternalError", "code": 500}).encode()


@dataclass(frozen=True)
class StreamOptions:
    """Which streams a request opens, and its command (exec only)."""

    command: tuple = ()
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


def _flag(values: dict, *names: str, default: bool = False) -> bool:
    for name in names:
        if name in values:
            return values[name][-1].lower() in ("1", "true")
    return default


def parse_options(query: str) -> StreamOptions:
    """StreamOptions from a query string, in kubectl's names (stdin, stdout, stderr, tty,
    command) or the kubelet's upstream ones (input, output, error)."""
    values = parse_qs(query, keep_blank_values=True)
    tty = _flag(values, "tty")
    return StreamOptions(command=tuple(values.get("command", [])),
                         stdin=_flag(values, "stdin", "input"),
                         stdout=_flag(values, "stdout", "output", default=True),
                         stderr=_flag(values, "stderr", "error", default=True) and not tty,
                         tty=tty)
