"""One switch, every node on it: the smallest fabric.

    python3 topologies/single.py [--workers N] [--masters M] [--name C]

runs as root and does what ``k8snet up --topology single`` does, then opens
the Mininet CLI.
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


class SingleSwitchTopo(ClusterTopo):
    """Masters, workers and one external host on a single switch."""

    def build(self, workers: int = 3, masters: int = 1, externals: int = 1, **_opts):
        switch = self.addFabricSwitch("single", 1)
        for _ in range(masters):
            self.addLink(self.addK8sNode("master"), switch)
        for _ in range(workers):
            self.addLink(self.addK8sNode("worker"), switch)
        for _ in range(externals):
            self.addLink(self.addK8sNode("external"), switch)


TOPOS = {"single": SingleSwitchTopo}


if __name__ == "__main__":
    from k8snet.testbed.script import main

    sys.exit(main("single"))
