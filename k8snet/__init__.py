"""k8snet: a network emulation testbed for Kubernetes networking."""

__version__ = "0.1.0"
