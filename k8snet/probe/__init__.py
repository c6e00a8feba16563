"""`k8snet probe`: scapy probes that prove each Kubernetes networking requirement.

Decisions (`checks`, `packets`, `model`, `report`) are pure; effects are the
agent that runs inside namespaces (`agent`, spoken to through `agents`), the
probe Pods and Service (`deploy`) and the runner that gathers evidence
(`run`). See docs/PROBES.md for the output.
"""
