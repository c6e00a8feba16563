"""CNI configuration rendering and the pure parts of plugin invocation."""

import json

import pytest

from k8snet import cni


def test_routed_mode_is_ptp_with_host_local_in_the_pod_cidr():
    conf = cni.render_conflist("routed", "10.244.1.0/24", 1500, "w1", "/run/k8snet/c/w1/ipam")
    assert conf["cniVersion"] == "1.0.0"
    (plugin,) = conf["plugins"]
    assert plugin["type"] == "ptp"
    assert plugin["ipMasq"] is False
    assert plugin["mtu"] == 1500
    ipam = plugin["ipam"]
    assert ipam["type"] == "host-local"
    assert ipam["ranges"] == [[{"subnet": "10.244.1.0/24"}]]
    assert ipam["routes"] == [{"dst": "0.0.0.0/0"}]
    assert ipam["dataDir"] == "/run/k8snet/c/w1/ipam"


def test_overlay_mode_is_a_gateway_bridge_with_room_for_vxlan():
    conf = cni.render_conflist("overlay", "10.244.2.0/24", 1500, "w2", "/d")
    (plugin,) = conf["plugins"]
    assert plugin["type"] == "bridge"
    assert plugin["bridge"] == "cni0"
    assert plugin["isGateway"] is True and plugin["ipMasq"] is False
    assert plugin["mtu"] == 1450
    assert cni.pod_mtu("overlay", 9000) == 8950
    assert cni.pod_mtu("routed", 9000) == 9000


def test_gateway_is_passed_through_and_checked():
    conf = cni.render_conflist("routed", "10.244.1.0/24", 1500, "w1", "/d", gateway_ip="10.244.1.1")
    assert conf["plugins"][0]["ipam"]["ranges"][0][0]["gateway"] == "10.244.1.1"
    with pytest.raises(ValueError, match="outside"):
        cni.render_conflist("routed", "10.244.1.0/24", 1500, "w1", "/d", gateway_ip="10.9.9.9")


def test_bad_mode_and_cidr_are_rejected():
    with pytest.raises(ValueError, match="unknown network mode"):
        cni.render_conflist("macvlan2", "10.244.1.0/24", 1500, "w1", "/d")
    with pytest.raises(ValueError):
        cni.render_conflist("routed", "10.244.1.7/24", 1500, "w1", "/d")


def test_plugin_env_follows_the_spec():
    inv = cni.Invocation("cid1", "/run/netns/x", "eth0",
                         cni.cni_args("default", "web", "u-1", "cid1"))
    env = cni.plugin_env("ADD", inv, ["/usr/lib/cni", "/opt/cni/bin"],
                         base_env={"PATH": "/bin", "CNI_COMMAND": "stale"})
    assert env["CNI_COMMAND"] == "ADD"
    assert env["CNI_CONTAINERID"] == "cid1"
    assert env["CNI_NETNS"] == "/run/netns/x"
    assert env["CNI_IFNAME"] == "eth0"
    assert env["CNI_PATH"] == "/usr/lib/cni:/opt/cni/bin"
    assert env["PATH"] == "/bin"
    args = dict(kv.split("=", 1) for kv in env["CNI_ARGS"].split(";"))
    assert args["K8S_POD_NAMESPACE"] == "default" and args["K8S_POD_NAME"] == "web"
    assert args["IgnoreUnknown"] == "1"


def test_plugin_stdin_injects_name_version_and_prev_result():
    conf = cni.render_conflist("routed", "10.244.1.0/24", 1500, "w1", "/d")
    first = cni.plugin_stdin(conf, conf["plugins"][0], None)
    assert first["name"] == "k8snet" and first["cniVersion"] == "1.0.0"
    assert "prevResult" not in first
    chained = cni.plugin_stdin(conf, {"type": "portmap"}, {"ips": []})
    assert chained["prevResult"] == {"ips": []}


def test_plugin_error_json_becomes_cni_error_with_the_plugins_message():
    out = json.dumps({"cniVersion": "1.0.0", "code": 7, "msg": "invalid CIDR",
                      "details": "bogus"}).encode()
    with pytest.raises(cni.CniError) as info:
        cni.parse_output("ptp", "ADD", 1, out, b"")
    assert info.value.code == 7 and info.value.msg == "invalid CIDR"
    assert "invalid CIDR" in str(info.value) and "bogus" in str(info.value)


def test_plugin_failure_without_json_uses_its_output():
    with pytest.raises(cni.CniError, match="segfault"):
        cni.parse_output("ptp", "ADD", 2, b"", b"segfault")


def test_result_parsing():
    result = {"cniVersion": "1.0.0",
              "interfaces": [{"name": "cni0"}, {"name": "veth1234", "mac": "x"},
                             {"name": "eth0", "sandbox": "/run/netns/p"}],
              "ips": [{"interface": 2, "address": "10.244.1.5/24", "gateway": "10.244.1.1"}]}
    assert cni.result_ips(result) == ["10.244.1.5"]
    assert cni.host_interfaces(result) == ["veth1234"]
    assert cni.result_ips(None) == [] and cni.host_interfaces({}) == []
    assert cni.parse_output("ptp", "ADD", 0, json.dumps(result).encode(), b"") == result
    assert cni.parse_output("ptp", "DEL", 0, b"", b"") is None


def test_load_conflist_picks_the_first_file_and_wraps_single_plugin_conf(tmp_path):
    assert cni.load_conflist(str(tmp_path / "missing")) is None
    (tmp_path / "20-b.conflist").write_text(json.dumps({"name": "b", "plugins": []}))
    (tmp_path / "10-a.conf").write_text(json.dumps({"cniVersion": "1.0.0", "name": "a",
                                                    "type": "bridge"}))
    conf = cni.load_conflist(str(tmp_path))
    assert conf["name"] == "a" and conf["plugins"] == [{"type": "bridge"}]


def test_missing_plugin_is_a_clear_error(tmp_path):
    with pytest.raises(cni.CniError, match="not found"):
        cni.exec_plugin([str(tmp_path)], "ptp", "ADD", {}, {})


def test_a_hanging_plugin_is_killed_at_its_deadline(tmp_path):
    plugin = tmp_path / "slow"
    plugin.write_text("#!/bin/sh\nsleep 30\n")
    plugin.chmod(0o755)
    with pytest.raises(cni.CniError, match="no answer within"):
        cni.exec_plugin([str(tmp_path)], "slow", "ADD", {"PATH": "/bin:/usr/bin"}, {},
                        timeout=0.5)
