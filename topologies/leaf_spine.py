"""A two-tier Clos fabric: every leaf connects to every spine.

    python3 topologies/leaf_spine.py [--spines S] [--leaves L] [--workers N]

runs as root and does what ``k8snet up --topology leaf-spine`` does, then
opens the Mininet CLI. Workers are spread over the leaves in turn (w1 on
leaf 1, w2 on leaf 2, ...) and labelled with their leaf's zone
(``topology.kubernetes.io/zone=zone-<leaf>``); masters sit on the first leaf
and the external host on the last, so that every interesting path crosses a
spine.
"""

import os
import sys

if __name__ == "__main__" and sys.prefix != "/opt/k8snet/venv":
    # Run as a script with any python3: continue in k8snet's environment
    # (made by `make setup`), which sees Debian's Mininet and has os-ken.
    _venv_python = "/opt/k8snet/venv/bin/python"
    if os.path.exists(_venv_python):
        os.execv(_venv_python, [_venv_python, *sys.argv])


from k8snet.testbed.topo import ClusterTopo  # noqa: E402


class LeafSpineTopo(ClusterTopo):
    """``spines`` x ``leaves`` Clos fabric with nodes on the leaves."""

    def build(self, workers: int = 8, spines: int = 2, leaves: int = 4, masters: int = 1,
              externals: int = 1, **_opts):
        spine_switches = [self.addFabricSwitch("spine", i + 1) for i in range(spines)]
        leaf_switches = [self.addFabricSwitch("leaf", i + 1) for i in range(leaves)]
        for leaf in leaf_switches:
            for spine in spine_switches:
                self.addLink(leaf, spine)
        for _ in range(masters):
            master = self.addK8sNode("master", labels={"topology.kubernetes.io/zone": "zone-1"})
            self.addLink(master, leaf_switches[0])
        for i in range(workers):
            zone = f"zone-{i % leaves + 1}"
            worker = self.addK8sNode("worker", labels={"topology.kubernetes.io/zone": zone})
            self.addLink(worker, leaf_switches[i % leaves])
        for _ in range(externals):
            self.addLink(self.addK8sNode("external"), leaf_switches[-1])


TOPOS = {"leaf-spine": LeafSpineTopo}


if __name__ == "__main__":
    from k8snet.testbed.script import main

    sys.exit(main("leaf-spine"))
