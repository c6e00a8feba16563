"""`k8snet probe --policy [--from FILE.yaml] [--case NAME ...] [--json] [--keep]`."""

from __future__ import annotations

import json
import sys

from k8snet.errors import UsageError
from k8snet.policy.cases import load_cases


def select_cases(names, all_cases: bool):
    """The corpus cases asked for: by name, all, or the core ones."""
    cases = load_cases()
    if names:
        known = {c.name: c for c in cases}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(f"unknown case(s) {', '.join(unknown)}; known: "
                             + ", ".join(known))
        return [known[n] for n in names]
    return cases if all_cases else [c for c in cases if c.core]


def run(args, ready_timeout: float = 180.0) -> int:
    """Evaluate a user's policies (--from) or corpus cases on the model; exit 1 on a
    mismatch between what the cluster did and what the policies mean. The model's Pods
    get `ready_timeout` seconds to be Ready."""
    from k8snet.policy.evaluate import PolicyLab, load_user_policies, user_case
    from k8snet.policy.probe import remove_model
    from k8snet.testbed import api, preflight

    if args.policy_from and (args.case or args.all_cases):
        raise UsageError("give either --from FILE or --case/--all-cases, not both")
    cases = [user_case(load_user_policies(args.policy_from))] if args.policy_from else \
        select_cases(args.case, args.all_cases)
    preflight.require_root("probe")
    cluster = api.find(args.name, need_api=True)
    out = sys.stderr if args.json else sys.stdout
    lab = PolicyLab(cluster, progress=lambda t: print(f"-- {t}", file=out, flush=True),
                    ready_timeout=ready_timeout)
    results = []
    try:
        for case in cases:
            print(f"-- {case.name}", file=out, flush=True)
            result = lab.run_case(case)
            results.append(result)
            if not args.json:
                print(result.text(), flush=True)
        lab.clear()
    finally:
        lab.close()
        if not args.keep:
            remove_model(lab.client)
    ok = all(r.ok for r in results)
    if args.json:
        print(json.dumps({"cluster": cluster.name, "mode": cluster.spec.mode, "ok": ok,
                          "cases": [r.json() for r in results]}, indent=1))
    else:
        print(f"{sum(r.ok for r in results)} of {len(results)} case(s) enforced exactly as "
              "the policies mean")
    return 0 if ok else 1
