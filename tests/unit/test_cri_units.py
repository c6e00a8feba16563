"""Pure parts of the runtime: names, log format, cgroup values, container state."""


from k8snet.cri import cgroups, logs, names, status
from k8snet.machinery.podresources import linux_resources


def test_netns_name_is_prefix_namespace_pod():
    assert names.sandbox_netns_name("k8snet-c1-w1", "default", "web") == "k8snet-c1-w1-default-web"
    assert names.sandbox_netns_name("k8snet-c1-w1", "default", "web", attempt=2) == \
        "k8snet-c1-w1-default-web-2"


def test_long_netns_names_are_shortened_with_a_hash_and_stay_distinct():
    long_a = "a" * 60 + "x"
    long_b = "a" * 60 + "y"
    na = names.sandbox_netns_name("k8snet-c1-w1", "default", long_a)
    nb = names.sandbox_netns_name("k8snet-c1-w1", "default", long_b)
    assert len(na) <= names.MAX_NETNS and len(nb) <= names.MAX_NETNS
    assert na != nb
    assert na.startswith("k8snet-c1-w1-default-")


def test_netns_name_avoids_taken_names():
    first = names.sandbox_netns_name("k8snet-c-w", "ns", "p")
    second = names.sandbox_netns_name("k8snet-c-w", "ns", "p", taken={first})
    assert second != first and second.startswith("k8snet-c-w-ns-p-")


def test_ids_are_64_hex():
    ident = names.new_id()
    assert len(ident) == 64 and int(ident, 16) >= 0 and ident != names.new_id()


def test_log_records_carry_rfc3339nano_stamps():
    assert logs.format_records(1_600_000_000_120_000_000, "stdout", b"hi") == \
        b"2020-09-13T12:26:40.12Z stdout F hi\n"


def test_log_records_and_partial_lines():
    rec = logs.format_records(1_600_000_000_000_000_000, "stdout", b"hello")
    assert rec == b"2020-09-13T12:26:40Z stdout F hello\n"
    long = b"x" * (logs.MAX_RECORD + 10)
    lines = logs.format_records(0, "stderr", long).splitlines()
    assert [ln.split(b" ")[2] for ln in lines] == [b"P", b"F"]
    assert logs.split_lines(b"a\nb\nc") == ([b"a", b"b"], b"c")


def test_log_file_reads_back_as_the_printed_text(tmp_path):
    path = tmp_path / "0.log"
    long = b"y" * (logs.MAX_RECORD + 3)
    path.write_bytes(logs.format_records(1, "stdout", b"one") +
                     logs.format_records(2, "stderr", long) + b"garbage line\n")
    assert logs.read_log_text(str(path)) == "one\n" + long.decode() + "\n"
    assert logs.read_log_text(str(path), tail=1) == long.decode() + "\n"
    rec = logs.parse_record("2020-09-13T12:26:40Z stdout F hi there")
    assert rec == logs.LogRecord("2020-09-13T12:26:40Z", "stdout", False, "hi there")
    assert logs.parse_record("nonsense") is None


def test_cgroup_files_v1_and_v2():
    res = linux_resources({"requests": {"cpu": "1"}, "limits": {"cpu": "2",
                                                                        "memory": "64Mi"}})
    v1 = cgroups.cgroup_files(1, res)
    assert v1[("cpu", "cpu.cfs_quota_us")] == "200000"
    assert v1[("cpu", "cpu.shares")] == "1024"
    assert v1[("memory", "memory.limit_in_bytes")] == str(64 << 20)
    v2 = cgroups.cgroup_files(2, res)
    assert v2[("", "cpu.max")] == "200000 100000"
    assert v2[("", "memory.max")] == str(64 << 20)
    assert v2[("", "cpu.weight")] == "39"
    unlimited = cgroups.cgroup_files(1, linux_resources(None))
    assert unlimited[("cpu", "cpu.cfs_quota_us")] == "-1"
    assert ("memory", "memory.limit_in_bytes") not in unlimited


def test_own_cgroups_parses_proc_self_cgroup():
    text = "4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/user.slice\n"
    assert cgroups.own_cgroups(text) == {"memory": "/process_api/abc", "cpu": "/",
                                         "cpuacct": "/", "": "/user.slice"}


def test_container_phase():
    started = {"pid": 5, "started_at": 10}
    assert status.container_phase(None, None, False).state == status.CREATED
    # StartContainer called, the shim not reported yet: running while it may still come,
    # a StartError once it is overdue
    assert status.container_phase(None, None, False, start_requested=True,
                                  starting=True).state == status.RUNNING
    assert status.container_phase(None, None, False, start_requested=True).reason == \
        "StartError"
    assert status.container_phase(started, None, True).state == status.RUNNING
    done = status.container_phase(started, {"exit_code": 0, "finished_at": 20}, False)
    assert (done.state, done.exit_code, done.reason, done.finished_at) == \
        (status.EXITED, 0, "Completed", 20)
    err = status.container_phase(started, {"exit_code": 3, "finished_at": 20}, False)
    assert err.reason == "Error" and err.exit_code == 3
    oom = status.container_phase(started, {"exit_code": 137, "signal": 9}, False, oom_killed=True)
    assert oom.reason == "OOMKilled"
    killed = status.container_phase(started, {"exit_code": 137, "signal": 9}, False)
    assert killed.reason == "Error"
    bad = status.container_phase({"error": "exec: nope"}, None, False)
    assert bad.state == status.EXITED and bad.reason == "StartError" and "nope" in bad.message
    gone = status.container_phase(started, None, False)
    assert gone.state == status.EXITED and gone.reason == "Unknown"


def test_label_selector():
    assert status.labels_match({"a": "1", "b": "2"}, {"a": "1"})
    assert not status.labels_match({"a": "1"}, {"a": "2"})
    assert status.labels_match({}, {})


def test_a_pod_volume_replaces_the_image_page_mount():
    from k8snet.cri.runtime import mount_order, with_image_mounts
    image = [{"container_path": "/usr/share/nginx/html", "host_path": "/www/nginx",
              "readonly": True}]
    volume = [{"container_path": "/usr/share/nginx/html/", "host_path": "/v/content",
               "readonly": True}]
    assert with_image_mounts(image, volume) == volume
    other = [{"container_path": "/etc/hosts", "host_path": "/p/hosts", "readonly": False}]
    assert with_image_mounts(image, other) == image + other
    mounts = [{"container_path": "/a/b/c", "host_path": "x"},
              {"container_path": "/a", "host_path": "y"}]
    assert [m["container_path"] for m in mount_order(mounts)] == ["/a", "/a/b/c"]


def test_a_clusters_cpu_groups_weigh_its_nodes_cpus():
    from k8snet.cri.cgroups import cluster_weights, cpu_shares, v2_weight

    assert cpu_shares("2") == 2048 and cpu_shares("1500m") == 1536 and cpu_shares("0") == 2
    got = cluster_weights("k8s", {"w1": "2", "w2": "500m"}, {})
    assert got == {"k8snet": 2560, "k8snet/k8s": 2560, "k8snet/k8s/w1": 2048,
                   "k8snet/k8s/w2": 512}
    # 50 workers of 2 CPUs: 50 x 2048 (the nodes' allocatable, as kubepods weighs), not
    # the 1024 of a single thread; k8snet adds the other clusters running now
    fifty = cluster_weights("big", {f"w{i}": "2" for i in range(50)}, {"k8s": 2560})
    assert fifty["k8snet/big"] == 102400 and fifty["k8snet"] == 102400 + 2560
    assert cluster_weights("huge", {f"w{i}": "64" for i in range(10)}, {})["k8snet"] == 262144
    assert v2_weight(2) == 1 and v2_weight(1024) == 39 and v2_weight(262144) == 10000


def test_v1_shares_undoes_v2_weight_to_within_its_rounding_and_a_top_sums_its_children():
    from k8snet.cri.cgroups import top_shares, v1_shares, v2_weight

    for shares in (2, 3, 512, 1024, 2048, 102400, 262144):
        back = v1_shares(v2_weight(shares))
        assert back <= shares and v2_weight(back) == v2_weight(shares)
    assert v1_shares(1) == 2 and v1_shares(10000) == 262144
    assert top_shares({"a": 2048, "b": 512}) == 2560
    assert top_shares({}) == 2 and top_shares({"a": 200000, "b": 200000}) == 262144


def test_hierarchy_dir_is_the_process_own_cgroup_of_each_controller():
    from k8snet.cri.cgroups import hierarchy_dir, own_cgroups

    mine = own_cgroups("12:cpu,cpuacct:/user.slice\n0::/system.slice/x.service\n")
    assert hierarchy_dir("/sys/fs/cgroup", "cpu", mine) == "/sys/fs/cgroup/cpu/user.slice"
    assert hierarchy_dir("/sys/fs/cgroup", "", mine) == "/sys/fs/cgroup/system.slice/x.service"
    assert hierarchy_dir("/sys/fs/cgroup", "memory", mine) == "/sys/fs/cgroup/memory/"
