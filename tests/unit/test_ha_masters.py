"""HA masters without root: one shared PKI, idempotent bootstrap on one store, client
failover between apiservers, the plan of a three-master cluster, and the figures of
losing a master."""

from __future__ import annotations

import socket
import threading

import pytest
import yaml
from cryptography import x509
from kube_fake_http import FakeServer

from k8snet.apiserver import certs, satokens
from k8snet.apiserver.bootstrap import bootstrap
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.ipam import IP_PREFIX, ServiceIPAM, leaked_reservations
from k8snet.apiserver.registry import Registry
from k8snet.machinery import resources as kinds
from k8snet.machinery.client import ApiClient, Unreachable, kubeconfig_settings
from k8snet.store import open_store
from k8snet.testbed import components, masterloss, portforward
from k8snet.testbed.spec import ClusterSpec
from k8snet.testbed.state import NodeInfo, ProcessRecord


def dead_url() -> str:
    """An http URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- one PKI for every apiserver --------------------------------------------------

def sans_of(path: str) -> set:
    with open(path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)}


def test_apiservers_sharing_a_pki_dir_share_ca_token_and_sa_key(tmp_path):
    pki_dir = str(tmp_path / "pki")
    masters = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    made = []
    # three apiservers starting at once: one CA, one token, one signing key
    threads = [threading.Thread(target=lambda ip=ip: made.append(certs.ensure_tls(
        str(tmp_path / ip), certs.wanted_sans(ip, masters), pki_dir))) for ip in masters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {f.ca_cert for f in made} == {f"{pki_dir}/ca.crt"}
    assert {certs.read_token(f.token_file) for f in made} == \
        {certs.read_token(f"{pki_dir}/token")}
    with open(f"{pki_dir}/ca.crt", "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    for f in made:
        with open(f.cert, "rb") as fh:
            x509.load_pem_x509_certificate(fh.read()).verify_directly_issued_by(ca)
        assert set(masters) <= sans_of(f.cert)   # every master, whichever serves
    assert satokens.load_signing_key(certs.cluster_pki(pki_dir).sa_key)


def test_serving_cert_is_kept_on_restart_and_reissued_for_new_sans_or_a_new_ca(tmp_path):
    data, pki_dir = str(tmp_path / "a"), str(tmp_path / "pki")
    files = certs.ensure_tls(data, ["10.0.0.1"], pki_dir)
    first = open(files.cert, "rb").read()
    certs.ensure_tls(data, ["10.0.0.1"], pki_dir)
    assert open(files.cert, "rb").read() == first
    certs.ensure_tls(data, ["10.0.0.1", "10.0.0.9"], pki_dir)
    assert "10.0.0.9" in sans_of(files.cert)
    # another cluster's CA: the certificate is signed again by the one in use
    other = certs.ensure_tls(data, ["10.0.0.1", "10.0.0.9"], str(tmp_path / "pki2"))
    with open(other.ca_cert, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(other.cert, "rb") as f:
        x509.load_pem_x509_certificate(f.read()).verify_directly_issued_by(ca)


def test_lone_apiserver_keeps_everything_in_its_data_dir(tmp_path):
    files = certs.ensure_tls(str(tmp_path), ["127.0.0.1"])
    assert files.ca_cert == f"{tmp_path}/ca.crt" and files.token_file == f"{tmp_path}/token"
    assert (tmp_path / "sa.key").exists()


def test_kubeconfig_lists_every_server_for_k8snet_clients_only():
    doc = certs.render_kubeconfig("https://10.0.0.1:6443", b"CA", "tok", servers=[
        "https://10.0.0.1:6443", "https://10.0.0.2:6443"])
    settings = kubeconfig_settings(yaml.safe_load(yaml.safe_dump(doc)))
    assert settings["server"] == "https://10.0.0.1:6443"
    assert settings["servers"] == ["https://10.0.0.1:6443", "https://10.0.0.2:6443"]
    lone = certs.render_kubeconfig("https://10.0.0.1:6443", b"CA", "tok")
    assert "extensions" not in lone["clusters"][0]["cluster"]
    # kubectl on the host gets one server: the forwarder, which fails over itself
    user = yaml.safe_load(components.user_kubeconfig(yaml.safe_dump(doc), 4321))
    assert user["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:4321", "certificate-authority-data": "Q0E="}


# -- bootstrap on one store, from several apiservers at once ------------------------

def test_three_apiservers_bootstrapping_one_store_at_once_make_each_object_once(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    errors, leaks = [], []

    def one(ip: str) -> None:
        store = open_store(url)
        try:
            reg = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
            leaks.append(bootstrap(reg, ip, 6443))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)
    for _ in range(3):
        threads = [threading.Thread(target=one, args=(f"10.0.0.{i}",)) for i in (1, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    store = open_store(url)
    reg = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
    items, _ = store.list("/registry/services/")
    assert len(items) == 1
    svc = reg.read(kinds.RESOURCES["services"], "default", "kubernetes")
    assert svc["spec"]["clusterIP"] == "10.96.0.1"
    held, _ = store.list(IP_PREFIX)
    assert [k for k, _, _ in held] == [IP_PREFIX + "10.96.0.1"]


def test_a_leaked_reservation_is_freed_only_when_still_unheld_later(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    reg = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
    store.create(IP_PREFIX + "10.96.0.50", b"default/inflight")
    store.create(IP_PREFIX + "10.96.0.60", b"default/gone")
    leaks = reg.ipam.repair([])
    assert set(leaks) == {IP_PREFIX + "10.96.0.50", IP_PREFIX + "10.96.0.60"}
    assert len(store.list(IP_PREFIX)[0]) == 2  # nothing freed at start-up
    # meanwhile the in-flight create stored its Service
    svc = {"metadata": {"name": "inflight", "namespace": "default"},
           "spec": {"clusterIP": "10.96.0.50", "ports": [{"port": 80}]}}
    assert reg.ipam.release_leaks(leaks, [svc]) == [IP_PREFIX + "10.96.0.60"]
    assert leaked_reservations({"a": 1, IP_PREFIX + "10.96.0.1": 2}, {"10.96.0.1": "x"},
                               {}) == {"a": 1}


# -- client failover ------------------------------------------------------------------

@pytest.fixture
def server():
    fake = FakeServer().start()
    try:
        yield fake
    finally:
        fake.stop()


def test_client_fails_over_to_the_next_apiserver_and_stays_there(server):
    server.route("GET", "/api/v1/namespaces/default", lambda r: (200, {"kind": "Namespace"}))
    server.route("POST", "/api/v1/namespaces/default/configmaps",
                 lambda r: (201, {"kind": "ConfigMap"}))
    dead = dead_url()
    client = ApiClient(dead, token="secret", timeout=5, servers=[dead, server.url])
    assert client.get("namespaces", "default")["kind"] == "Namespace"
    assert client.server == server.url
    # a write whose connection was refused never left: it goes to the next server too
    client2 = ApiClient(dead, token="secret", timeout=5, servers=[server.url])
    assert client2.create("configmaps", {"metadata": {"name": "c"}}, "default")
    assert [r["method"] for r in server.requests] == ["GET", "POST"]


def test_watch_fails_over_and_a_lone_dead_server_is_unreachable(server):
    server.route("GET", "/api/v1/pods", lambda r: (200, [
        {"type": "ADDED", "object": {"kind": "Pod", "metadata": {"name": "a"}}}]))
    dead = dead_url()
    client = ApiClient(dead, token="secret", timeout=5, servers=[server.url])
    with client.watch("pods") as events:
        assert [obj["metadata"]["name"] for _, obj in events] == ["a"]
    with pytest.raises(Unreachable):
        ApiClient(dead, timeout=2).get("namespaces", "default")


# -- the plan of three masters ------------------------------------------------------

def master(name: str, ip: str) -> NodeInfo:
    return NodeInfo(name=name, role="master", ip=ip, mac="02:00:00:00:00:01",
                    netns=f"k8snet-h-{name}", pid=1)


def test_three_masters_plan_shares_pki_and_names_every_master():
    nodes = [master("m1", "10.0.0.1"), master("m2", "10.0.0.2"), master("m3", "10.0.0.3"),
             NodeInfo(name="w1", role="worker", ip="10.0.0.4", mac="02:00:00:00:00:04",
                      netns="k8snet-h-w1", pid=2)]
    plan = components.plan_components(nodes, ClusterSpec(name="h", masters=3, store="etcd"),
                                      "/run/k8snet/h", ["k8snet"])
    apiservers = [c for c in plan if c.name == "apiserver"]
    assert len(apiservers) == 3 and len([c for c in plan if c.name == "etcd"]) == 3
    for comp in apiservers:
        argv = comp.argv
        assert argv[argv.index("--pki-dir") + 1] == "/run/k8snet/h/pki"
        sans = {argv[i + 1] for i, a in enumerate(argv) if a == "--tls-san"}
        assert sans | {argv[argv.index("--bind-address") + 1]} == \
            {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
        assert comp.ready_file  # bring-up waits for each apiserver
    first = apiservers[0].argv
    assert [first[i + 1] for i, a in enumerate(first) if a == "--kubeconfig-server"] == [
        "https://10.0.0.1:6443", "https://10.0.0.2:6443", "https://10.0.0.3:6443"]
    assert "--kubeconfig-server" not in apiservers[1].argv
    assert len([c for c in plan if c.name in ("scheduler", "controller-manager")]) == 6
    assert components.forward_targets(nodes[:3]) == [
        "--to", "k8snet-h-m1=10.0.0.1:6443", "--to", "k8snet-h-m2=10.0.0.2:6443",
        "--to", "k8snet-h-m3=10.0.0.3:6443", "--connect-timeout", "2"]


def test_single_master_plan_has_no_failover_list():
    nodes = [master("m1", "10.0.0.1")]
    plan = components.plan_components(nodes, ClusterSpec(name="h"), "/run/k8snet/h",
                                      ["k8snet"])
    (api,) = [c for c in plan if c.name == "apiserver"]
    assert "--kubeconfig-server" not in api.argv and "--tls-san" not in api.argv
    assert components.forward_targets(nodes) == ["--to", "k8snet-h-m1=10.0.0.1:6443"]


def test_forwarder_targets_and_order():
    assert portforward.parse_target("k8snet-h-m2=10.0.0.2:6443") == portforward.Target(
        "k8snet-h-m2", ("10.0.0.2", 6443))
    with pytest.raises(ValueError):
        portforward.parse_target("10.0.0.2:6443")
    assert portforward.try_order(3, 1) == [1, 2, 0]
    # a master that accepts but fails /readyz (cut off from etcd's quorum) comes last
    assert portforward.try_order(3, 0, [False, True, True]) == [1, 2, 0]


# -- the figures of losing a master ------------------------------------------------

def test_master_loss_figures():
    assert masterloss.holder_pid("vm_17392_ea4c692d") == 17392
    assert masterloss.holder_pid("") is None and masterloss.holder_pid("a_b") is None
    procs = [ProcessRecord(5, "apiserver@m1", 1, node="m1"),
             ProcessRecord(7, "controller-manager@m2", 1, node="m2")]
    assert masterloss.node_of_pid(7, procs) == "m2"
    assert masterloss.node_of_pid(9, procs) is None
    assert masterloss.lost_writes(["a", "b", "c"], ["a", "c", "d"]) == ["b"]
    assert masterloss.first_after([1.0, 3.5, 4.0], 3.0) == 0.5
    assert masterloss.first_after([1.0], 3.0) is None
    assert masterloss.longest_gap([1.0, 2.0, 6.0], 0.5, 7.0) == 4.0


# -- the `kubernetes` Endpoints: every live apiserver ---------------------------------

def test_kubernetes_endpoints_list_every_live_apiserver(tmp_path):
    from k8snet.apiserver import masterleases

    store = open_store(f"sqlite:///{tmp_path}/state.db")
    reg = Registry(store, ServiceIPAM(store, "10.96.0.0/12", (30000, 32767)))
    reg.create(kinds.RESOURCES["namespaces"], None, {"metadata": {"name": "default"}}, Ctx())
    now = [1000.0]
    one, two = (masterleases.MasterLeases(reg, ip, 6443, ttl=30, clock=lambda: now[0])
                for ip in ("10.0.0.2", "10.0.0.1"))
    one.once()
    two.once()
    endpoints = kinds.RESOURCES["endpoints"]

    def addresses():
        subsets = reg.read(endpoints, "default", "kubernetes")["subsets"]
        return [a["ip"] for s in subsets for a in s["addresses"]]
    assert addresses() == ["10.0.0.1", "10.0.0.2"]
    now[0] += 31          # 10.0.0.1 died: only 10.0.0.2 renews
    one.once()
    assert addresses() == ["10.0.0.2"]
    two.once()            # it came back
    one.release()         # and 10.0.0.2 stops cleanly: gone at once
    assert addresses() == ["10.0.0.1"]
    assert masterleases.live_addresses([(masterleases.PREFIX + "10.0.0.9", b"junk")], 0, 1) == []
