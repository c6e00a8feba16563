"""What authentication and RBAC cost per request.

    python -m benchmarks.bench_auth [--requests 500] [--bindings 10,1000,5000] [--before DIR]

1. In process: microseconds per request for request parsing + authentication +
   authorization, for the admin token (system:masters, RBAC skipped), a static-token user
   and a ServiceAccount JWT (signature, ServiceAccount lookup in a SQLite store, RBAC), with
   N RoleBindings for other subjects in the namespace; and the time to rebuild the policy
   snapshot after an RBAC change.
2. Over HTTPS: P50/P99 of sequential GETs of one Pod on a keep-alive connection, as the
   admin and as a ServiceAccount bound to `view`; with --before, the same GET against the
   apiserver of another checkout (e.g. /work/main, without authorization) in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable

import requests
import yaml

from benchmarks.common import percentile
from k8snet.apiserver import authn, authz, rbac_defaults, satokens
from k8snet.apiserver.auth import Auth
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.ipam import ServiceIPAM
from k8snet.apiserver.rbaccache import policy_from
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.requestinfo import request_info
from k8snet.machinery import resources as kinds
from k8snet.store import open_store

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = "/api/v1/namespaces/demo/pods/p1"


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def _objects(bindings: int) -> dict:
    objs: dict = {}
    for o in rbac_defaults.cluster_roles():
        objs[f"/registry/clusterroles/{o['metadata']['name']}"] = o
    for o in rbac_defaults.cluster_role_bindings():
        objs[f"/registry/clusterrolebindings/{o['metadata']['name']}"] = o
    for i in range(bindings):
        objs[f"/registry/rolebindings/demo/other-{i}"] = {
            "metadata": {"namespace": "demo", "name": f"other-{i}"},
            "roleRef": {"kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": f"sa-{i}"},
                         {"kind": "User", "name": f"user-{i}"}]}
    objs["/registry/rolebindings/demo/app-view"] = {
        "metadata": {"namespace": "demo", "name": "app-view"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "app"},
                     {"kind": "User", "name": "alice"}]}
    return objs


def _measure(auth: Auth, token: str, n: int) -> tuple[float, ...]:
    """us per request: admin, static user, ServiceAccount (signature cached), the same with
    the signature verified every time, RBAC decision alone."""
    def request(header: str) -> None:
        ri = request_info("GET", PATH, {})
        user = auth.act_as(auth.user_for(header, ri.path), [])
        auth.authorize(ri.attributes(user))

    def cold() -> None:
        auth.authenticator._verified.clear()
        request(f"Bearer {token}")
    app = auth.authenticator.authenticate(f"Bearer {token}")
    attrs = request_info("GET", PATH, {}).attributes(app)
    return (_per_call_us(lambda: request("Bearer admin-token"), n),
            _per_call_us(lambda: request("Bearer alice-token"), n),
            _per_call_us(lambda: request(f"Bearer {token}"), n),
            _per_call_us(cold, n),
            _per_call_us(lambda: auth.authorize(attrs), n))


def in_process(bindings_list: list[int], n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/state.db")
        reg = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
        reg.create(kinds.KINDS["Namespace"], None, {"metadata": {"name": "demo"}}, Ctx())
        sa = reg.create(kinds.KINDS["ServiceAccount"], "demo", {"metadata": {"name": "app"}},
                        Ctx())
        issuer = satokens.TokenIssuer(satokens.load_signing_key(
            satokens.ensure_signing_key(tmp)))
        token, _ = issuer.issue("demo", "app", sa["metadata"]["uid"], issuer.api_audiences,
                                3600)

        def lookup(kind, ns, name):
            info = kinds.KINDS[kind]
            return reg.read(info, ns if info.namespaced else None, name)
        static = {"admin-token": authn.admin_user(),
                  "alice-token": authn.UserInfo("alice", "1")}
        print(f"{'bindings':>9} {'rebuild ms':>11} {'admin us':>9} {'static us':>10} "
              f"{'sa-token us':>12} {'sa cold us':>11} {'rbac only us':>13}")
        for bindings in bindings_list:
            objs = _objects(bindings)
            start = time.perf_counter()
            policy = policy_from(objs)
            rebuild_ms = (time.perf_counter() - start) * 1e3
            auth = Auth(authn.Authenticator(static, issuer, lookup),
                        authz.Authorizer(lambda policy=policy: policy))
            row = _measure(auth, token, n)
            print(f"{bindings:>9} {rebuild_ms:>11.1f} " +
                  " ".join(f"{v:>{w}.1f}" for v, w in zip(row, (9, 10, 12, 11, 13))))
        store.close()


class Server:
    def __init__(self, tmp: str, checkout: str) -> None:
        os.makedirs(tmp, exist_ok=True)
        self.data = os.path.join(tmp, "data")
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.log = open(os.path.join(tmp, "log"), "wb")
        env = dict(os.environ, PYTHONPATH=checkout)
        self.proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "apiserver",
                                      "--data-dir", self.data, "--port", "0",
                                      "--kubeconfig-out", self.kubeconfig],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=checkout,
                                     env=env)
        end = time.monotonic() + 60
        while not os.path.exists(self.kubeconfig):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise SystemExit(f"apiserver of {checkout} did not start; see {tmp}/log")
            time.sleep(0.1)
        cfg = yaml.safe_load(open(self.kubeconfig))
        self.url = cfg["clusters"][0]["cluster"]["server"]
        self.token = cfg["users"][0]["user"]["token"]
        self.ca = os.path.join(self.data, "ca.crt")

    def session(self, token: str) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca
        s.headers["Authorization"] = f"Bearer {token}"
        return s

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def _setup(srv: Server, with_sa: bool) -> str:
    s = srv.session(srv.token)
    s.post(f"{srv.url}/api/v1/namespaces", json={"metadata": {"name": "demo"}})
    r = s.post(f"{srv.url}/api/v1/namespaces/demo/pods", json={
        "metadata": {"name": "p1"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    assert r.status_code == 201, r.text
    if not with_sa:
        return ""
    s.post(f"{srv.url}/api/v1/namespaces/demo/serviceaccounts", json={
        "metadata": {"name": "app"}})
    s.post(f"{srv.url}/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings", json={
        "metadata": {"name": "app-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "demo"}]})
    r = s.post(f"{srv.url}/api/v1/namespaces/demo/serviceaccounts/app/token", json={
        "spec": {}})
    assert r.status_code == 201, r.text
    return r.json()["status"]["token"]


def _latency(srv: Server, token: str, n: int) -> tuple[float, float]:
    s = srv.session(token)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = s.get(srv.url + PATH)
        times.append((time.perf_counter() - start) * 1e3)
        assert r.status_code == 200, r.text
    return percentile(times, 50), percentile(times, 99)


def over_https(n: int, before: str) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if before:
            srv = Server(os.path.join(tmp, "before"), before)
            try:
                _setup(srv, False)
                rows.append((f"before ({before}), admin", *_latency(srv, srv.token, n)))
            finally:
                srv.stop()
        srv = Server(os.path.join(tmp, "after"), REPO)
        try:
            sa_token = _setup(srv, True)
            rows.append(("this checkout, admin", *_latency(srv, srv.token, n)))
            rows.append(("this checkout, ServiceAccount (view)", *_latency(srv, sa_token, n)))
        finally:
            srv.stop()
    print(f"GET {PATH}, {n} sequential requests on one keep-alive HTTPS connection")
    for name, p50, p99 in rows:
        print(f"  {name:<45} P50 {p50:6.2f} ms  P99 {p99:6.2f} ms")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--bindings", default="10,1000,5000")
    ap.add_argument("--before", default="", help="another checkout to compare with")
    args = ap.parse_args(argv)
    in_process([int(x) for x in args.bindings.split(",")], max(args.requests, 100))
    over_https(args.requests, args.before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
