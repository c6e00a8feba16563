"""The image catalogue and the pure parts of k8snet's agnhost."""

import pytest

from k8snet.images import agnhost, catalogue
from k8snet.images.flags import parse_flags

CTX = catalogue.HostContext(python="/py", busybox="/bin/busybox", applet_dir="/bb",
                            applets=frozenset({"sh", "sleep", "wget", "httpd", "true"}),
                            www_dir="/www")


@pytest.mark.parametrize("ref,repo,tag", [
    ("busybox", "docker.io/library/busybox", "latest"),
    ("busybox:1.36", "docker.io/library/busybox", "1.36"),
    ("docker.io/library/busybox:1.28", "docker.io/library/busybox", "1.28"),
    ("registry.k8s.io/e2e-test-images/agnhost:2.53", "registry.k8s.io/e2e-test-images/agnhost",
     "2.53"),
    ("localhost:5000/x/y", "localhost:5000/x/y", "latest"),
])
def test_references_are_normalised(ref, repo, tag):
    parsed = catalogue.parse_reference(ref)
    assert (parsed.repository, parsed.tag) == (repo, tag)


@pytest.mark.parametrize("ref,name", [
    ("registry.k8s.io/e2e-test-images/agnhost:2.39", "agnhost"),
    ("gcr.io/k8s-staging-e2e-test-images/agnhost:2.40", "agnhost"),
    ("k8s.gcr.io/e2e-test-images/agnhost:2.21", "agnhost"),
    ("busybox", "busybox"), ("busybox:1.28", "busybox"), ("docker.io/library/busybox", "busybox"),
    ("registry.k8s.io/pause:3.9", "pause"), ("nginx:1.25", "nginx"),
    ("busybox@sha256:" + "a" * 64, "busybox"),
])
def test_known_references(ref, name):
    assert catalogue.lookup(ref).name == name


def test_unknown_reference_and_its_pull_message():
    assert catalogue.lookup("quay.io/nobody/thing:1") is None
    assert catalogue.lookup("not a ref") is None
    msg = catalogue.pull_error("quay.io/nobody/thing:1")
    assert msg.startswith('failed to pull and unpack image "quay.io/nobody/thing:1"')
    assert "registry.k8s.io/e2e-test-images/agnhost" in msg


def test_image_ids_are_stable_per_image_and_resolve_back():
    a = catalogue.lookup("busybox:1.28")
    b = catalogue.lookup("docker.io/library/busybox")
    assert catalogue.image_id(a) == catalogue.image_id(b)
    assert catalogue.lookup(catalogue.image_id(a)) is a
    assert catalogue.image_id(a) != catalogue.image_id(catalogue.lookup("registry.k8s.io/pause"))


def test_command_and_args_follow_kubernetes_rules():
    agn = catalogue.lookup("registry.k8s.io/e2e-test-images/agnhost:2.53")
    assert catalogue.container_argv(agn, [], ["netexec"]) == ["/agnhost", "netexec"]
    assert catalogue.container_argv(agn, ["/agnhost", "serve-hostname"], []) == \
        ["/agnhost", "serve-hostname"]
    bb = catalogue.lookup("busybox")
    assert catalogue.container_argv(bb, [], []) == ["sh"]
    assert catalogue.container_argv(bb, ["sleep"], ["10"]) == ["sleep", "10"]


def test_host_argv_maps_images_onto_this_machine():
    agn = catalogue.lookup("registry.k8s.io/e2e-test-images/agnhost:2.53")
    assert catalogue.host_argv(agn, ["/agnhost", "netexec", "--http-port=8080"], CTX) == \
        ["/py", "-m", "k8snet.images.agnhost", "netexec", "--http-port=8080"]
    bb = catalogue.lookup("busybox")
    assert catalogue.host_argv(bb, ["sleep", "3600"], CTX) == ["/bb/sleep", "3600"]
    assert catalogue.host_argv(bb, ["/bin/sh", "-c", "x"], CTX) == ["/bb/sh", "-c", "x"]
    pause = catalogue.lookup("registry.k8s.io/pause:3.9")
    assert catalogue.host_argv(pause, ["/pause"], CTX) == ["/py", "-m", "k8snet.images.pause"]
    nginx = catalogue.lookup("nginx")
    argv = catalogue.host_argv(nginx, catalogue.container_argv(nginx, [], []), CTX)
    assert argv[:4] == ["/bin/busybox", "httpd", "-f", "-p"] and argv[-1] == "/www"
    with pytest.raises(ValueError, match="executable file not found"):
        catalogue.host_argv(bb, ["python3"], CTX)
    assert catalogue.default_env(CTX)["PATH"].startswith("/bb:")


def test_go_style_flags():
    values, pos, unknown = parse_flags(
        ["--http-port=9000", "-udp-port", "9001", "--verbose", "x", "--sctp-port", "-1"],
        {"http_port": 8080, "udp_port": 8081, "sctp_port": -1})
    assert values == {"http_port": 9000, "udp_port": 9001, "sctp_port": -1}
    assert unknown == ["verbose"] and pos == []  # an unknown flag takes its value along
    _, pos, _ = parse_flags(["a", "--", "--b"], {})
    assert pos == ["a", "--b"]
    values, _, _ = parse_flags(["--udp", "--http=false"], {"udp": False, "http": True})
    assert values == {"udp": True, "http": False}
    with pytest.raises(ValueError, match="invalid value"):
        parse_flags(["--port=abc"], {"port": 1})


def test_netexec_udp_protocol():
    assert agnhost.udp_reply("hostname\n", "pod-a", "10.0.0.1:5") == "pod-a"
    assert agnhost.udp_reply("echo hello world", "p", "c") == "hello world"
    assert agnhost.udp_reply("clientip", "p", "10.244.1.9:4242") == "10.244.1.9:4242"
    assert agnhost.udp_reply("whatever", "p", "c") is None


def test_dial_collects_responses_and_errors():
    query = {"request": ["hostname"], "host": ["10.0.0.2"], "port": ["8080"],
             "protocol": ["udp"], "tries": ["3"]}
    calls = []

    def fake(request, host, port, protocol):
        calls.append((request, host, port, protocol))
        if len(calls) == 2:
            raise OSError("timed out")
        return "pod-b"

    out = agnhost.dial(query, fake)
    assert out["responses"] == ["pod-b", "pod-b"]
    assert len(out["errors"]) == 1 and "timed out" in out["errors"][0]
    assert calls[0] == ("hostname", "10.0.0.2", 8080, "udp")
    with pytest.raises(ValueError, match="missing parameter host"):
        agnhost.parse_dial({"request": ["x"], "port": ["1"]})
    with pytest.raises(ValueError, match="unsupported protocol"):
        agnhost.parse_dial({"request": ["x"], "host": ["h"], "port": ["1"], "protocol": ["sctp"]})
