"""CRI calls between components hosted in one process, without gRPC.

A node agent (k8snet.nodeagent) runs the runtime and the kubelet as threads of
one process. Over the runtime's socket every kubelet call was serialised,
sent through gRPC's poller threads, parsed and answered back the same way:
during a 1,000-Pod rollout on 50 workers gRPC's own code and threads were
about a tenth of the machine's CPU, and most of an idle node agent's thread
wake-ups. So a serving runtime registers its servicers here under its socket
path, and a RuntimeClient of that socket in the same process calls them
directly: the same handlers, the same protobuf messages, the same status codes
(an abort becomes a `LocalRpcError`, a grpc.RpcError like the one gRPC raises).

The socket still serves everyone else (crictl, ``k8snet exec``, a kubelet run
on its own). A stopped runtime unregisters first, so its callers then find
the socket gone, as they would with gRPC. What differs: no deadline cuts a
call short (the runtime bounds its own slow work: CNI plugins, crun, stops).
"""

from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional, Tuple

import grpc

_LOCK = threading.Lock()
_SERVED: Dict[str, Tuple[Any, Any]] = {}   # socket path -> (runtime, image) servicer


def _key(socket_path: str) -> str:
    return os.path.abspath(socket_path)


def register(socket_path: str, runtime_servicer: Any, image_servicer: Any) -> None:
    """Answer in-process callers of `socket_path` with these servicers."""
    with _LOCK:
        _SERVED[_key(socket_path)] = (runtime_servicer, image_servicer)


def unregister(socket_path: str) -> None:
    with _LOCK:
        _SERVED.pop(_key(socket_path), None)


def servicers(socket_path: str) -> Optional[Tuple[Any, Any]]:
    """(runtime, image) servicers serving `socket_path` in this process, or None."""
    return _SERVED.get(_key(socket_path))


class LocalRpcError(grpc.RpcError):
    """A call answered in-process ended with a status other than OK."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class LocalContext:
    """What the handlers use of grpc.ServicerContext, for one in-process call."""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        if code == grpc.StatusCode.OK:   # as gRPC treats it
            code, details = grpc.StatusCode.UNKNOWN, ""
        raise LocalRpcError(code, details)

    def is_active(self) -> bool:
        return True


def call(servicer: Any, method: str, request: Any) -> Any:
    """`servicer.method(request)` as gRPC would run it: any exception that is not a
    status becomes UNKNOWN, as grpc reports an exception in a handler."""
    try:
        return getattr(servicer, method)(request, LocalContext())
    except LocalRpcError:
        raise
    except Exception as exc:  # noqa: BLE001 - gRPC answers UNKNOWN for these too
        raise LocalRpcError(grpc.StatusCode.UNKNOWN,
                            f"Exception calling application: {exc}") from None
