"""k8snet: a network emulation testbed for Kubernetes networking."""

from setuptools import find_packages, setup

setup(
    name="k8snet",
    version="0.1.0",
    description="Kubernetes-networking testbed: Mininet nodes, OVS fabric, "
    "an os-ken SDN controller, real CNI plugins and scapy probes",
    python_requires=">=3.9",
    packages=find_packages(include=["k8snet", "k8snet.*", "controllers", "topologies"]),
    package_data={"k8snet": ["cri/*.proto", "testbed/*.yaml", "images/known/*.yaml"]},
    install_requires=[
        # The maintained fork of Ryu (Ryu 4.34 no longer imports on 3.11).
        "os-ken>=2.0",
        # Packet crafting and capture for the probes and the path tracer.
        "scapy>=2.5",
        # YAML manifests and server-side apply bodies.
        "pyyaml>=6",
        # Self-signed CA and serving certificate for the apiserver's HTTPS.
        "cryptography>=41",
        # etcd v3 through its JSON gateway: pure Python, no gRPC stubs to
        # generate for etcd, and maintained by OpenStack.
        "etcd3gw>=2.3",
        # etcd3gw and os-ken import eventlet, which imports OpenSSL: Debian's
        # python3-openssl 23 (seen through --system-site-packages) fails with
        # the venv's newer cryptography, so the venv needs its own pyOpenSSL.
        "pyopenssl>=25",
        # The CRI service is gRPC, as the real runtime.v1 API is.
        "grpcio>=1.60",
        "grpcio-tools>=1.60",
        "protobuf>=4.25",
        # The apiserver's table of built-in resources (plural, verbs, subresources,
        # scope of every kind of Kubernetes 1.32), read from the resource modules this
        # package generates from the 1.32 OpenAPI document; pinned to 1.32 because the
        # apiserver answers as 1.32. The official client's models carry no verbs or
        # subresources, so they could not give discovery.
        "lightkube-models==1.32.0.8",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "hypothesis>=6",
            "ruff>=0.4",
            # The official Python client is one of the judges of the apiserver.
            "kubernetes>=29",
        ],
    },
    entry_points={"console_scripts": ["k8snet = k8snet.cli:main"]},
)
