"""k8snet.cri.oci: the OCI bundle, conmon's command line and what conmon's files say."""

import json
import os

import pytest

from k8snet.cri import oci

ALL = (1 << 41) - 1
NO_SYS_RESOURCE = ALL & ~(1 << 24)


def spec(**over):
    base = {"argv": ["/r/busybox-bin/sleep", "3600"], "exe": "/bin/busybox",
            "env": {"PATH": "/r/busybox-bin:/usr/bin:/bin", "HOSTNAME": "web"}, "cwd": "",
            "netns_path": "/run/netns/k8snet-k8s-w1-default-web-0", "pidns_path": "",
            "hostname": "web", "log_path": "/l/c/0.log", "cgroup_procs": [], "isolate": True,
            "mounts": [], "uid": None, "gid": None, "groups": [], "stdin": False,
            "stdin_once": False, "tty": False, "host_pid": False}
    base.update(over)
    return base


def test_a_pods_container_gets_its_network_and_own_pid_mount_uts_namespaces():
    config, got, notes = oci.bundle_config(spec(), "/r/rootfs", ALL, ALL)
    assert config["linux"]["namespaces"] == [
        {"type": "network", "path": "/run/netns/k8snet-k8s-w1-default-web-0"},
        {"type": "pid"}, {"type": "mount"}, {"type": "uts"}]
    assert got == ["net", "pid", "mnt", "uts"] and notes == []
    assert config["hostname"] == "web" and config["root"] == {"path": "/r/rootfs",
                                                               "readonly": False}
    assert config["mounts"][0]["destination"] == "/proc"   # its own /proc
    proc = config["process"]
    assert proc["args"] == ["/r/busybox-bin/sleep", "3600"] and proc["cwd"] == "/"
    assert "HOSTNAME=web" in proc["env"] and proc["terminal"] is False
    assert proc["user"] == {"uid": 0, "gid": 0} and proc["noNewPrivileges"] is False
    json.dumps(config)   # plain data


def test_host_network_host_pid_and_shared_or_target_pid_namespaces():
    config, got, _ = oci.bundle_config(spec(netns_path="", host_pid=True), "/r", ALL, ALL)
    assert [n["type"] for n in config["linux"]["namespaces"]] == ["mount", "uts"]
    assert got == ["mnt", "uts"]
    assert all(m["destination"] != "/proc" for m in config["mounts"])  # the node's /proc
    config, got, _ = oci.bundle_config(spec(pidns_path="/proc/42/ns/pid"), "/r", ALL, ALL)
    assert {"type": "pid", "path": "/proc/42/ns/pid"} in config["linux"]["namespaces"]
    assert "pid" in got and config["mounts"][0]["destination"] == "/proc"


def test_namespaces_the_kernel_refuses_are_noted_and_isolation_can_be_off():
    config, got, notes = oci.bundle_config(spec(), "/r", ALL, ALL, supported=("mnt",))
    assert got == ["net", "mnt"] and "hostname" not in config
    assert notes == ["pid namespace not available", "uts namespace not available"]
    config, got, notes = oci.bundle_config(spec(isolate=False), "/r", ALL, ALL)
    assert got == ["net"] and notes == ["isolation turned off"] and config["mounts"] == []
    with pytest.raises(ValueError, match="cannot mount volumes"):
        oci.bundle_config(spec(isolate=False, mounts=[{"host_path": "/a",
                                                       "container_path": "/b"}]), "/r", 0, 0)


def test_volumes_are_bind_mounts_read_only_when_asked():
    mounts = [{"host_path": "/v/cfg", "container_path": "/etc/app", "readonly": True},
              {"host_path": "/v/hosts", "container_path": "/etc/hosts"}]
    config, _, _ = oci.bundle_config(spec(mounts=mounts), "/r", ALL, ALL)
    assert config["mounts"][1:] == [
        {"destination": "/etc/app", "type": "bind", "source": "/v/cfg",
         "options": ["rbind", "rprivate", "ro"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/v/hosts",
         "options": ["rbind", "rprivate"]}]


def test_root_keeps_the_runtimes_capabilities_a_user_only_the_bounding_set():
    config, _, _ = oci.bundle_config(spec(), "/r", NO_SYS_RESOURCE, ALL)
    caps = config["process"]["capabilities"]
    assert "CAP_SYS_RESOURCE" not in caps["effective"] and "CAP_NET_ADMIN" in caps["effective"]
    assert caps["permitted"] == caps["effective"] and len(caps["bounding"]) == 41
    user = spec(uid=1000, gid=3000, groups=[2000])
    config, _, _ = oci.bundle_config(user, "/r", NO_SYS_RESOURCE, NO_SYS_RESOURCE)
    caps = config["process"]["capabilities"]
    assert caps["effective"] == caps["permitted"] == [] and "CAP_KILL" in caps["bounding"]
    assert config["process"]["user"] == {"uid": 1000, "gid": 3000, "additionalGids": [2000]}
    # runAsUser without runAsGroup: group 0, as runtimes do without a passwd entry
    assert oci.user(spec(uid=7)) == {"uid": 7, "gid": 0}


def test_a_users_busybox_applet_is_named_to_busybox_itself():
    assert oci.process_args(spec()) == ["/r/busybox-bin/sleep", "3600"]
    assert oci.process_args(spec(uid=1000)) == ["/bin/busybox", "sleep", "3600"]
    agn = spec(argv=["/usr/bin/python3", "-m", "x"], exe="/usr/bin/python3", uid=1000)
    assert oci.process_args(agn) == ["/usr/bin/python3", "-m", "x"]


def test_capability_masks_from_proc_status():
    masks = oci.proc_status_masks("Name:\tx\nCapEff:\t000001fffeffffff\n"
                                  "CapBnd:\t0000000000000003\n")
    assert masks == {"CapEff": NO_SYS_RESOURCE, "CapBnd": 3}
    assert oci.capability_names(3) == ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]
    assert oci.CAPABILITIES[24] == "CAP_SYS_RESOURCE" and len(oci.CAPABILITIES) == 41


RUNTIME = oci.runtime_command("/usr/bin/unshare", ("/bin/busybox", "sh"), "/usr/bin/crun",
                              "/r/rootfs", "/r/crun")


def test_conmon_argv_keeps_stdin_open_unless_stdin_once_and_asks_for_a_terminal():
    argv = oci.conmon_argv("/usr/bin/conmon", RUNTIME, "abc", "app", "/r/containers/abc",
                           "/l/app/0.log", spec())
    assert argv[:2] == ["/usr/bin/conmon", "--api-version"]
    assert "--stdin" not in argv and "--terminal" not in argv
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--cid"] == "abc" and pairs["--runtime"] == "/usr/bin/unshare"
    assert pairs["--log-path"] == "k8s-file:/l/app/0.log"
    assert pairs["--bundle"] == pairs["--persist-dir"] == "/r/containers/abc"
    # every argument of the runtime command, in order, as one --runtime-arg each
    runtime_args = [b for a, b in zip(argv, argv[1:]) if a == "--runtime-arg"]
    assert runtime_args == RUNTIME[1]
    keep = oci.conmon_argv("c", RUNTIME, "i", "n", "/d", "/l", spec(stdin=True))
    assert "--stdin" in keep and "--leave-stdin-open" in keep
    once = oci.conmon_argv("c", RUNTIME, "i", "n", "/d", "/l",
                           spec(stdin=True, stdin_once=True, tty=True))
    assert "--leave-stdin-open" not in once and "--terminal" in once


def test_runtime_command_binds_the_root_then_hides_the_cgroups_from_crun():
    runtime, args = RUNTIME
    assert runtime == "/usr/bin/unshare"
    assert args[:4] == ["--mount", "--propagation", "private", "--"]
    shell, script = args[4:7], args[7]
    assert shell == ["/bin/busybox", "sh", "-c"]
    # $0, then $1 = the root to bind, then crun's own options; conmon appends `create ...`
    assert args[8:] == ["sh", "/r/rootfs", "--root=/r/crun", "--cgroup-manager=disabled"]
    assert 'mount --rbind / "$1"' in script and 'shift; exec /usr/bin/crun "$@"' in script
    # the container's root keeps the node's cgroups: bound before they are hidden
    assert script.index("mount --rbind") < script.index("mount -t tmpfs") < script.index("exec /")
    plain = oci.runtime_command("unshare", ("/bin/sh",), "crun", "/f", "/s")[1]
    assert plain[4:6] == ["/bin/sh", "-c"] and plain[-3:-1] == ["/f", "--root=/s"]


def test_sync_message_pid_or_error():
    assert oci.sync_message(b'{"data": 4242}\n') == (4242, "")
    pid, err = oci.sync_message(b'{"data": -1, "message": "executable file `x` not found"}\n')
    assert pid == -1 and "not found" in err
    assert oci.sync_message(b"")[0] == -1


def test_exit_record_from_conmons_exit_file():
    assert oci.exit_record("0", 5) == {"exit_code": 0, "signal": 0, "finished_at": 5}
    assert oci.exit_record("3", 5)["signal"] == 0
    assert oci.exit_record("137", 5) == {"exit_code": 137, "signal": 9, "finished_at": 5}
    assert oci.exit_record("143\n", 5)["signal"] == 15
    assert oci.exit_record("255", 5)["signal"] == 0      # above 128+64: an exit code
    assert oci.exit_record("-1", 5)["exit_code"] == 255
    assert oci.exit_record("", 5) is None


def test_attach_packets_and_resizes():
    assert oci.attach_packet(b"\x02hello") == (oci.STDOUT, b"hello")
    assert oci.attach_packet(b"\x03oops") == (oci.STDERR, b"oops")
    with pytest.raises(ValueError):
        oci.attach_packet(b"")
    assert oci.resize_message(80, 24) == b"24 80\n"
    big = b"x" * (oci.ATTACH_INPUT_MAX * 2 + 1)
    assert [len(p) for p in oci.input_packets(big)] == [oci.ATTACH_INPUT_MAX] * 2 + [1]
    assert oci.input_packets(b"") == []


def test_crun_runs_where_it_cannot_bind_mount_its_own_binary():
    env = oci.crun_env("/usr/bin:/bin")
    assert env["PATH"] == "/usr/bin:/bin"
    # crun's temporary bind mount goes in this directory; it must not exist
    assert env["_LIBCONTAINER_STATEDIR"].startswith("/")
    assert not os.path.exists(env["_LIBCONTAINER_STATEDIR"])
