"""Generate the Python gRPC modules from the .proto files in this package.

Run once at install time (`make setup` does): the generated modules are not
kept in git, the .proto written here is the source.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional


def build(package_dir: Optional[Path] = None) -> int:
    package_dir = package_dir or Path(__file__).resolve().parent
    protos = sorted(package_dir.glob("*.proto"))
    if not protos:
        return 0
    from grpc_tools import protoc  # imported here: only needed at build time

    for proto in protos:
        rc = protoc.main([
            "grpc_tools.protoc",
            f"-I{package_dir}",
            f"--python_out={package_dir}",
            f"--grpc_python_out={package_dir}",
            str(proto),
        ])
        if rc != 0:
            print(f"protoc failed on {proto}", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(build())
