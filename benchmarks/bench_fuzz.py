"""Fuzz a live apiserver with 10,000 hypothesis-generated requests (every served kind:
schema-derived bodies with garbage, raw garbage bodies, patches of every type, query
strings); print the answers counted by status class, the 5xx and dropped connections
(both must be 0), tracebacks in the server's log, and whether it is still healthy.

    python -m benchmarks.bench_fuzz [--examples 10000] [--seed N] [--dir DIR]

`make fuzz` runs it. Exit status 1 when any request got a 5xx or no answer, the server
logged a traceback, died, or failed its health check afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from hypothesis import given, seed, settings

from tests.component import fuzzing
from tests.component.apiserver_proc import ApiServerProc

RESEED_EVERY = 500


def run(srv: ApiServerProc, examples: int, seed_value: int) -> fuzzing.Tally:
    tally = fuzzing.Tally()
    session = fuzzing.session_for(srv.ca_file, srv.token)
    fuzzing.seed(session, srv.url)

    @seed(seed_value)
    @settings(settings.get_profile("k8snet-fuzz-full"), max_examples=examples)
    @given(req=fuzzing.any_request)
    def one(req):
        tally.add(fuzzing.send(session, srv.url, req))
        if tally.total % RESEED_EVERY == 0:
            fuzzing.seed(session, srv.url, strict=False)
            print(f"  {tally.summary()}", flush=True)
    one()
    session.close()
    return tally


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args(argv)
    tmp = args.dir or tempfile.mkdtemp(prefix="k8snet-fuzz-")
    srv = ApiServerProc(tmp).start(deadline=120)
    t0 = time.monotonic()
    try:
        tally = run(srv, args.examples, args.seed)
        took = time.monotonic() - t0
        alive = srv.proc.poll() is None
        session = fuzzing.session_for(srv.ca_file, srv.token)
        health = fuzzing.healthy(session, srv.url) if alive else "the apiserver died"
    finally:
        srv.stop()
    with open(srv.log_path, errors="replace") as f:
        tracebacks = f.read().count("Traceback (most recent call last)")
    print(f"seed {args.seed}: {tally.summary()} in {took:.1f} s "
          f"({tally.total / took:.0f} requests/s)")
    print("by status: " + ", ".join(f"{c or 'none'}: {n}" for c, n in
                                    sorted(tally.codes.items())))
    print(f"5xx: {tally.server_errors}   no response: {tally.dropped}   "
          f"tracebacks in the log: {tracebacks}   healthy after: {health or 'yes'}")
    for out in tally.failures[:20]:
        print(f"FAIL {out.problem[:300]}\n     {out.request.curl(srv.url)[:400]}")
    bad = tally.server_errors or tally.dropped or tracebacks or health or tally.failures
    print(f"log: {srv.log_path}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
