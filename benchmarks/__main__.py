"""Run every benchmark module in this package, one after another."""

import importlib
import pkgutil
import sys

import benchmarks


def main(argv=None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    status = 0
    for info in pkgutil.iter_modules(benchmarks.__path__):
        if not info.name.startswith("bench_") or (wanted and info.name not in wanted):
            continue
        print(f"\n##### {info.name}", flush=True)
        module = importlib.import_module(f"benchmarks.{info.name}")
        status |= int(module.main([]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
