"""Test helper: the fake kubelet the control-plane component tests use.

It is k8snet.simnodes.SimulatedNodes (also behind `k8snet control-plane
--simulated-nodes N`): it registers Nodes, renews their Leases, marks bound Pods
Running and Ready with a podIP, confirms deletions, and can `fail(node)`.
"""

from k8snet.simnodes import SimulatedNodes as FakeKubelet

__all__ = ["FakeKubelet"]
