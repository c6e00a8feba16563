"""The pause image: sleep until SIGTERM or SIGINT, then exit 0."""

from __future__ import annotations

import signal
import sys


def main() -> int:
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
