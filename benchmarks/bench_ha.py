"""HA masters: losing the leader master of a `--masters 3 --store etcd` cluster.

For each way of losing it (every process killed with SIGKILL; its link cut),
on a fresh cluster: seconds until kubectl answers, until writes are
acknowledged again (and the longest stretch without one), until a Deployment
created right after the loss has its Pod bound and Running, and how many
acknowledged writes were lost (target 0: etcd acknowledges what a quorum
holds). Also the bring-up time of one master and of three, measured in the
same run.

    sudo python -m benchmarks.bench_ha [--ways kill,link]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import k8snet
from k8snet.testbed import masterloss
from k8snet.testbed import state as st

NAME = "hab1"


def up(*args: str) -> float:
    start = time.monotonic()
    k8snet("up", "--detach", "--name", NAME, "--topology", "single", "--workers", "2",
           "--timeout", "600", *args)
    return time.monotonic() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ways", default="kill,link")
    args = parser.parse_args(argv)
    k8snet("down", "--name", NAME, check=False)
    try:
        t_one = up()
    finally:
        k8snet("down", "--name", NAME, check=False)
    print(f"bring-up, 1 master (sqlite): {t_one:.1f} s")
    for way in args.ways.split(","):
        try:
            t_three = up("--masters", "3", "--store", "etcd")
            print(f"bring-up, 3 masters (etcd): {t_three:.1f} s "
                  f"({t_three / t_one:.2f}x one master)")
            outcome = masterloss.lose_leader_master(st.load_state(NAME), how=way,
                                                    prefix=f"bench-{way}")
            for line in outcome.lines():
                print("  " + line)
        finally:
            k8snet("down", "--name", NAME, check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
