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
    ("registry.k8s.io/nginx-slim:0.21", "nginx"),
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
    assert argv == ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]
    assert catalogue.image_mounts(nginx, ["nginx", "-g", "daemon off;"], CTX) == [
        {"container_path": "/usr/share/nginx/html", "host_path": "/www/nginx", "readonly": True}]
    assert catalogue.image_mounts(bb, ["sh"], CTX) == []
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


def host_ctx(tmp_path, tools=("curl", "perl", "bash", "tcpdump", "dig")):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for t in tools:
        (bindir / t).write_text("#!/bin/sh\n")
        (bindir / t).chmod(0o755)
    return catalogue.HostContext(python="/py", busybox="/bin/busybox", applet_dir="/bb",
                                 applets=frozenset({"sh", "sleep", "wget", "nslookup", "ls"}),
                                 www_dir="/www", bin_dirs=(str(bindir),))


@pytest.mark.parametrize("ref,name", [
    ("nginx:1.14.2", "nginx"), ("registry.k8s.io/e2e-test-images/nginx:1.14-4", "nginx"),
    ("httpd:2.4", "httpd"), ("alpine:3.20", "alpine"), ("debian:bookworm", "debian"),
    ("ubuntu:24.04", "debian"), ("curlimages/curl:8.5.0", "curl"),
    ("nicolaka/netshoot", "netshoot"),
    ("registry.k8s.io/e2e-test-images/jessie-dnsutils:1.3", "netshoot"),
    ("registry.k8s.io/e2e-test-images/dnsutils:1.3", "netshoot"), ("perl:5.34.0", "perl"),
    ("python:3.12-slim", "python"), ("hashicorp/http-echo:1.0", "http-echo"),
    ("registry.k8s.io/busybox", "busybox"), ("registry.k8s.io/e2e-test-images/busybox:1.29-4",
                                        "busybox"),
])
def test_docs_images_are_known(ref, name):
    found = catalogue.lookup(ref)
    assert (found.name if found else None) == name


def test_docs_commands_map_onto_node_tools(tmp_path):
    ctx = host_ctx(tmp_path)
    b = str(tmp_path / "bin")

    def run(ref, command=(), args=()):
        image = catalogue.lookup(ref)
        return catalogue.host_argv(image, catalogue.container_argv(image, command, args), ctx)

    assert run("httpd") == ["/bin/busybox", "httpd", "-f", "-p", "80", "-h",
                            "/usr/local/apache2/htdocs"]
    assert run("curlimages/curl", args=["-s", "http://x"]) == [f"{b}/curl", "-s", "http://x"]
    assert run("perl:5.34.0", ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]) == \
        [f"{b}/perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
    assert run("python:3.12", ["python", "-c", "print(1)"]) == ["/py", "-c", "print(1)"]
    assert run("hashicorp/http-echo", args=["-text=apple"]) == \
        ["/py", "-m", "k8snet.images.httpecho", "-text=apple"]
    assert run("ubuntu") == [f"{b}/bash"]
    assert run("debian", ["sleep", "10"]) == ["/bb/sleep", "10"]          # busybox first
    assert run("alpine", ["tcpdump", "-i", "eth0"]) == [f"{b}/tcpdump", "-i", "eth0"]
    assert run("nicolaka/netshoot", ["dig", "kubernetes"]) == [f"{b}/dig", "kubernetes"]
    assert run("nicolaka/netshoot", ["nslookup", "x"]) == ["/bb/nslookup", "x"]
    with pytest.raises(ValueError, match='"perl": executable file not found'):
        run("busybox", ["perl"])
    with pytest.raises(ValueError, match="executable file not found"):
        run("nicolaka/netshoot", ["iperf3"])   # listed, but not on this node


def test_a_user_image_file_adds_an_image(tmp_path):
    d = tmp_path / "images.d"
    d.mkdir()
    (d / "mine.yaml").write_text(
        "name: mine\nrepositories: [quay.io/me/app]\nentrypoint: [/app]\n"
        "programs:\n  /app: {host: curl}\n")
    images = catalogue.load([str(d)])
    mine = catalogue.lookup("quay.io/me/app:v2", images)
    assert mine.name == "mine" and catalogue.lookup("quay.io/me/app:v2") is None
    assert catalogue.host_argv(mine, ["/app", "-s"], host_ctx(tmp_path)) == \
        [str(tmp_path / "bin" / "curl"), "-s"]
    (d / "bad.yaml").write_text("name: bad\nrepositories: [x]\nprograms:\n  a: {fly: 1}\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        catalogue.load([str(d)])
    assert "quay.io/me/app" in catalogue.pull_error("nope", images)


def test_http_echo_flags():
    from k8snet.images import httpecho
    assert httpecho.parse(["-text=apple"]) == ("apple", "", 5678, 200)
    assert httpecho.parse(["-listen=:8080", "-text", "hi", "-status-code=201"]) == \
        ("hi", "", 8080, 201)
    with pytest.raises(ValueError, match="Missing -text option!"):
        httpecho.parse([])
