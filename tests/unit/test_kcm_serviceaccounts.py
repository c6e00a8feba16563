"""ServiceAccount controller and root-CA publisher decisions."""

import base64

import pytest
import yaml

from k8snet.errors import K8snetError
from k8snet.kcm import serviceaccounts as sa


def ns(name, terminating=False):
    obj = {"metadata": {"name": name}, "status": {"phase": "Active"}}
    if terminating:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        obj["status"]["phase"] = "Terminating"
    return obj


def named(name, namespace, **rest):
    return dict({"metadata": {"name": name, "namespace": namespace}}, **rest)


def test_missing_default_service_accounts_skip_terminating_namespaces():
    namespaces = [ns("a"), ns("b"), ns("c", terminating=True), ns("d")]
    accounts = [named("default", "a"), named("robot", "b")]
    assert sa.missing_service_accounts(namespaces, accounts) == ["b", "d"]
    assert sa.default_service_account("b") == {
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "b"}}


def test_root_ca_plan_creates_missing_and_updates_stale():
    stale = named("kube-root-ca.crt", "b", data={"ca.crt": "OLD"})
    good = named("kube-root-ca.crt", "c", data={"ca.crt": "PEM"})
    plan = sa.root_ca_plan([ns("a"), ns("b"), ns("c"), ns("t", terminating=True)],
                           [stale, good, named("other", "a")], "PEM")
    assert plan == [("create", "a", None), ("update", "b", stale)]
    assert sa.root_ca_configmap("a", "PEM")["data"] == {"ca.crt": "PEM"}


def test_ca_from_kubeconfig_data_or_file(tmp_path):
    pem = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"
    cfg = {"current-context": "k", "contexts": [{"name": "k", "context": {"cluster": "c2"}}],
           "clusters": [{"name": "c1", "cluster": {"server": "https://a"}},
                        {"name": "c2", "cluster": {
                            "server": "https://b",
                            "certificate-authority-data": base64.b64encode(
                                pem.encode()).decode()}}]}
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(cfg))
    assert sa.ca_from_kubeconfig(str(path)) == pem
    (tmp_path / "ca.crt").write_text(pem)
    cfg["clusters"][1]["cluster"] = {"server": "https://b",
                                     "certificate-authority": str(tmp_path / "ca.crt")}
    path.write_text(yaml.safe_dump(cfg))
    assert sa.ca_from_kubeconfig(str(path)) == pem
    cfg["clusters"][1]["cluster"] = {"server": "https://b"}
    path.write_text(yaml.safe_dump(cfg))
    assert sa.ca_from_kubeconfig(str(path)) == ""


def test_ca_from_an_unreadable_kubeconfig_says_so(tmp_path):
    with pytest.raises(K8snetError, match="cannot read kubeconfig"):
        sa.ca_from_kubeconfig(str(tmp_path / "missing"))
