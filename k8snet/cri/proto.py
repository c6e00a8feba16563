"""Load the generated runtime.v1 protobuf and gRPC modules.

The modules are generated from api.proto by `python -m k8snet.cri.build`
(not kept in git). protoc writes the gRPC module with a top-level
``import api_pb2``, so the loader registers the message module under that
name before importing it. Generation happens here on first use when the
files are missing, so a fresh checkout works without a separate step.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from k8snet.errors import K8snetError

PACKAGE_DIR = Path(__file__).resolve().parent


def load() -> tuple[ModuleType, ModuleType]:
    """Return (api_pb2, api_pb2_grpc), generating them first if needed."""
    generated = [PACKAGE_DIR / "api_pb2.py", PACKAGE_DIR / "api_pb2_grpc.py"]
    proto = PACKAGE_DIR / "api.proto"
    # regenerate when missing or older than api.proto (a checkout that added RPCs)
    if not all(g.exists() and g.stat().st_mtime >= proto.stat().st_mtime for g in generated):
        from k8snet.cri import build

        if build.build(PACKAGE_DIR) != 0:
            raise K8snetError("cannot generate the CRI gRPC modules from k8snet/cri/api.proto; "
                              "run 'python -m k8snet.cri.build' to see protoc's error")
    pb2 = importlib.import_module("k8snet.cri.api_pb2")
    sys.modules.setdefault("api_pb2", pb2)
    grpc_mod = importlib.import_module("k8snet.cri.api_pb2_grpc")
    return pb2, grpc_mod
