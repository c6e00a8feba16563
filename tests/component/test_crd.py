"""CustomResourceDefinitions with the real kubectl 1.32 against `k8snet control-plane`:
the docs' CronTab from install to deletion, Calico-style CRDs beside the built-ins, and
two apiservers over one etcd seeing each other's CRDs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml

from tests.component.apiserver_proc import ApiServerProc, free_port

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRDS = os.path.join(REPO, "tests", "data", "crds")
pytestmark = [pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl not installed"),
              pytest.mark.timeout(300)]

CRONTAB = """\
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: {name}
spec:
  cronSpec: "* * * * */5"
  image: my-awesome-cron-image
{extra}"""


def _wait_output(path: str, text: str, proc: subprocess.Popen, deadline: float) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, open(path).read()
        if text in open(path).read():
            return
        time.sleep(0.2)
    raise AssertionError(f"control-plane did not say {text!r} within {deadline}s:\n"
                         + open(path).read())


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """`k8snet control-plane --data-dir D` (apiserver, scheduler, controller-manager)."""
    tmp = str(tmp_path_factory.mktemp("crd"))
    data = os.path.join(tmp, "cp")
    log = os.path.join(tmp, "cp.log")
    out = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "k8snet.cli", "control-plane", "--data-dir",
                             data, "--port", str(free_port())], stdout=out,
                            stderr=subprocess.STDOUT, cwd=REPO)
    out.close()
    try:
        _wait_output(log, "try: kubectl", proc, 90)
        home = os.path.join(tmp, "home")
        os.makedirs(home)
        yield {"tmp": tmp, "data": data, "kubeconfig": os.path.join(data, "kubeconfig"),
               "env": dict(os.environ, HOME=home,
                           KUBECONFIG=os.path.join(data, "kubeconfig"))}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def kubectl(cp, *args, stdin=None, ok=True, timeout=60):
    cache = os.path.join(cp["tmp"], "cache")
    p = subprocess.run([KUBECTL, "--cache-dir", cache, *args], input=stdin, env=cp["env"],
                       capture_output=True, text=True, timeout=timeout)
    if ok:
        assert p.returncode == 0, f"kubectl {' '.join(args)}: {p.stderr}"
    return p


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", x.strip()) for x in text.strip().splitlines()]


def api_get(cp, path: str) -> tuple[int, dict]:
    with open(os.path.join(cp["data"], "apiserver", "apiserver.url")) as f:
        url = f.read().strip()
    with open(os.path.join(cp["data"], "apiserver", "token")) as f:
        token = f.read().strip()
    s = requests.Session()
    s.trust_env = False
    r = s.get(url + path, verify=os.path.join(cp["data"], "apiserver", "ca.crt"), timeout=30,
              headers={"Authorization": f"Bearer {token}"})
    return r.status_code, r.json()


def test_crontab_from_install_to_deletion(cp):
    p = kubectl(cp, "apply", "-f", os.path.join(CRDS, "crontab.yaml"))
    assert p.stdout.strip() == \
        "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created"
    kubectl(cp, "wait", "--for", "condition=established", "--timeout=30s",
            "crd/crontabs.stable.example.com")
    crd = json.loads(kubectl(cp, "get", "crd", "crontabs.stable.example.com", "-o",
                             "json").stdout)
    assert crd["status"]["acceptedNames"]["shortNames"] == ["ct"]
    assert crd["status"]["storedVersions"] == ["v1"]
    assert {c["type"]: c["reason"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "NoConflicts", "Established": "InitialNamesAccepted"}

    # discovery: short name and category, as api-resources prints them
    wide = rows(kubectl(cp, "api-resources", "-o", "wide").stdout)
    crontab = [r for r in wide if r[0] == "crontabs"]
    assert crontab and crontab[0][:5] == ["crontabs", "ct", "stable.example.com/v1", "true",
                                          "CronTab"]
    assert crontab[0][-1] == "all"
    assert "crontabs" in kubectl(cp, "api-resources", "--api-group=stable.example.com").stdout

    # create; printer columns; defaults applied
    kubectl(cp, "apply", "-f", "-", stdin=CRONTAB.format(name="my-new-cron-object", extra=""))
    table = rows(kubectl(cp, "get", "ct").stdout)
    assert table[0] == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert table[1][:3] == ["my-new-cron-object", "* * * * */5", "1"]
    obj = json.loads(kubectl(cp, "get", "crontab", "my-new-cron-object", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 1 and obj["spec"]["suspend"] is False
    assert "status" not in obj

    # refused as upstream refuses
    p = kubectl(cp, "create", "-f", "-", ok=False,
                stdin=CRONTAB.format(name="bad", extra="  replicas: three\n"))
    assert p.returncode == 1
    assert p.stderr.startswith('The CronTab "bad" is invalid: \n* spec.replicas: Invalid value: '
                               '"string": spec.replicas in body must be of type integer: '
                               '"string"')
    p = kubectl(cp, "create", "-f", "-", ok=False,
                stdin=CRONTAB.format(name="bad", extra="  replicas: 11\n"))
    assert "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or " \
           "equal to 10" in p.stderr
    p = kubectl(cp, "create", "-f", "-", ok=False,
                stdin=CRONTAB.format(name="bad", extra="  someRandomField: 42\n"))
    assert 'CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: ' \
           'unknown field "spec.someRandomField"' in p.stderr

    # scale subresource through the declared paths
    p = kubectl(cp, "scale", "ct/my-new-cron-object", "--replicas=3")
    assert p.stdout.strip() == "crontab.stable.example.com/my-new-cron-object scaled"
    assert rows(kubectl(cp, "get", "ct").stdout)[1][2] == "3"
    status, scale = api_get(cp, "/apis/stable.example.com/v1/namespaces/default/crontabs/"
                                "my-new-cron-object/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["spec"] == {"replicas": 3}

    # the schema in OpenAPI v3: explain
    explain = kubectl(cp, "explain", "crontab.spec").stdout
    assert "KIND:       CronTab" in explain
    assert "cronSpec\t<string> -required-" in explain
    assert "The schedule in cron format." in explain

    # deleting the CRD deletes its custom resources, then the CRD
    kubectl(cp, "delete", "crd", "crontabs.stable.example.com", timeout=90)
    # the apiserver drops the kind when its CRD watch sees the deletion (eventually, as
    # upstream's CRD handler does): a few seconds at most
    deadline = time.monotonic() + 10
    while True:
        status, _ = api_get(cp, "/apis/stable.example.com/v1/namespaces/default/crontabs")
        if status == 404 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 404
    assert "crontabs" not in kubectl(cp, "api-resources").stdout
    kubectl(cp, "apply", "-f", os.path.join(CRDS, "crontab.yaml"))
    kubectl(cp, "wait", "--for", "condition=established", "--timeout=30s",
            "crd/crontabs.stable.example.com")
    p = kubectl(cp, "get", "ct", "-A")
    assert p.stdout == "" and p.stderr.strip() == "No resources found"
    kubectl(cp, "delete", "crd", "crontabs.stable.example.com", timeout=90)


def test_calico_style_crds_beside_builtins(cp):
    kubectl(cp, "apply", "-f", os.path.join(CRDS, "calico-subset.yaml"))
    for name in ("ippools", "networkpolicies", "felixconfigurations"):
        kubectl(cp, "wait", "--for", "condition=established", "--timeout=30s",
                f"crd/{name}.crd.projectcalico.org")
    out = kubectl(cp, "api-resources", "--api-group=crd.projectcalico.org").stdout
    assert [r[0] for r in rows(out)[1:]] == ["felixconfigurations", "ippools",
                                            "networkpolicies"]
    kubectl(cp, "apply", "-f", "-", stdin="""\
apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata: {name: default-ipv4-ippool}
spec: {cidr: 10.244.0.0/16, ipipMode: Never, natOutgoing: true, blockSize: 26,
       allowedUses: [Workload, Tunnel]}
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: default}
spec:
  selector: all()
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: UDP
    destination: {ports: [53, dns]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: default}
spec: {podSelector: {}}
---
apiVersion: crd.projectcalico.org/v1
kind: FelixConfiguration
metadata: {name: default}
spec: {logSeverityScreen: Info, featureDetectOverride: {anything: {goes: [1, 2]}}}
""")
    calico = kubectl(cp, "get", "networkpolicies.crd.projectcalico.org", "-o",
                     "name").stdout.split()
    builtin = kubectl(cp, "get", "networkpolicies.networking.k8s.io", "-o",
                      "name").stdout.split()
    assert calico == ["networkpolicy.crd.projectcalico.org/allow-dns"]
    assert builtin == ["networkpolicy.networking.k8s.io/deny-all"]
    felix = json.loads(kubectl(cp, "get", "felixconfiguration", "default", "-o",
                               "json").stdout)
    assert felix["spec"]["featureDetectOverride"] == {"anything": {"goes": [1, 2]}}
    p = kubectl(cp, "apply", "-f", "-", ok=False, stdin="""\
apiVersion: crd.projectcalico.org/v1
kind: IPPool
metadata: {name: broken}
spec: {cidr: 10.0.0.0/8, ipipMode: Sometimes, allowedUses: [Workload, Workload]}
""")
    assert 'spec.ipipMode: Unsupported value: "Sometimes": supported values: "Never", ' \
           '"Always", "CrossSubnet"' in p.stderr
    assert 'spec.allowedUses[1]: Duplicate value: "Workload"' in p.stderr
    kubectl(cp, "delete", "-f", os.path.join(CRDS, "calico-subset.yaml"), timeout=90)
    assert kubectl(cp, "get", "networkpolicies.networking.k8s.io", "-o",
                   "name").stdout.split() == ["networkpolicy.networking.k8s.io/deny-all"]


ETCD = "/usr/bin/etcd"


@pytest.mark.skipif(not os.access(ETCD, os.X_OK), reason="etcd is not installed")
def test_two_apiservers_over_one_etcd_share_crds(tmp_path):
    from k8snet.store.etcd_process import (
        EtcdMember,
        render_etcd_command,
        start_etcd,
        stop_etcd,
        wait_healthy,
    )
    member = EtcdMember("m0", "127.0.0.1", free_port(), free_port())
    etcd = start_etcd(render_etcd_command(member, [member], str(tmp_path / "etcd")),
                      str(tmp_path / "etcd.log"))
    servers: list[ApiServerProc] = []
    try:
        wait_healthy(member.client_url, time.monotonic() + 30, etcd, str(tmp_path / "etcd.log"))
        store = ["--store", f"etcd://127.0.0.1:{member.client_port}"]
        for name in ("a", "b"):
            os.makedirs(tmp_path / name)
            servers.append(ApiServerProc(str(tmp_path / name), extra=tuple(store)).start())
        a, b = servers
        with open(os.path.join(CRDS, "crontab.yaml")) as f:
            crd = yaml.safe_load(f)
        code, _ = a.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                            crd)
        assert code == 201
        path = "/apis/stable.example.com/v1/namespaces/default/crontabs"
        end = time.monotonic() + 30
        code = 0
        while time.monotonic() < end and code != 200:
            code, _ = b.request("GET", path)
            time.sleep(0.2)
        assert code == 200, "apiserver b never served the CRD created through a"
        body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                "metadata": {"name": "via-b"},
                "spec": {"cronSpec": "* * * * */5", "image": "x"}}
        code, created = b.request("POST", path, body)
        assert code == 201 and created["spec"]["replicas"] == 1
        code, got = a.request("GET", path + "/via-b")
        assert code == 200 and got["metadata"]["uid"] == created["metadata"]["uid"]
        code, disc = b.request("GET", "/apis/stable.example.com/v1")
        assert [r["name"] for r in disc["resources"]] == ["crontabs", "crontabs/scale",
                                                          "crontabs/status"]
    finally:
        for s in servers:
            s.stop()
        stop_etcd(etcd)
