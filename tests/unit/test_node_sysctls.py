"""The node settings the kubelet makes before its Node can be Ready."""

from k8snet.kubelet import sysctls


def test_forwarding_on_and_reverse_path_filter_loose():
    wanted = sysctls.node_sysctls()
    assert wanted["net/ipv4/ip_forward"] == "1"
    assert wanted["net/ipv4/conf/all/rp_filter"] == "2"


def test_apply_writes_only_what_differs(tmp_path):
    (tmp_path / "net/ipv4/conf/all").mkdir(parents=True)
    (tmp_path / "net/ipv4/ip_forward").write_text("0\n")
    (tmp_path / "net/ipv4/conf/all/rp_filter").write_text("2\n")
    changed = sysctls.apply({"net/ipv4/ip_forward": "1", "net/ipv4/conf/all/rp_filter": "2"},
                            root=str(tmp_path))
    assert changed == ["net.ipv4.ip_forward=1"]
    assert (tmp_path / "net/ipv4/ip_forward").read_text() == "1\n"
