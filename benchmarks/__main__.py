"""Run every benchmark module in this package, one after another.

    python -m benchmarks [bench_x ...]                  print as they go
    python -m benchmarks --report DIR [bench_x ...]     the same, and DIR/bench.html

With ``--report``, each benchmark runs in its own process (``python -m
benchmarks bench_x``) whose output is shown as it comes and kept; the page,
its plots and bench.json are written by `k8snet.report.bench`.
"""

import importlib
import os
import pkgutil
import subprocess
import sys
import time

import benchmarks


def names(wanted) -> list:
    return [info.name for info in pkgutil.iter_modules(benchmarks.__path__)
            if info.name.startswith("bench_") and (not wanted or info.name in wanted)]


def run_in_process(wanted) -> int:
    status = 0
    for name in names(wanted):
        print(f"\n##### {name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status |= int(module.main([]) or 0)
    return status


def run_reported(directory: str, wanted) -> int:
    from k8snet.report.bench import parse_output, write_bench_report

    runs, status = [], 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in names(wanted):   # each prints its own "##### name" line
        started, kept = time.monotonic(), []
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks", name], cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            kept.append(line)
        rc = proc.wait()
        status |= int(rc != 0)
        runs.append(parse_output(name, time.monotonic() - started, rc, "".join(kept)))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_bench_report(directory, runs, when)
    print(f"\nreport: {os.path.join(os.path.abspath(directory), 'bench.html')}", flush=True)
    return status


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    if args[:1] == ["--report"]:
        if len(args) < 2:
            sys.exit("--report needs a directory: python -m benchmarks --report DIR")
        return run_reported(args[1], set(args[2:]))
    return run_in_process(set(args))


if __name__ == "__main__":
    sys.exit(main())
