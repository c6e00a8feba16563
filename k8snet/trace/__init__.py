"""`k8snet trace SRC DST`: one marked packet, captured at every interface it crosses.

`path` is pure (intended switch paths from the fabric facts, hops and what
changed between them, comparison); `main` resolves SRC/DST, starts probe
agents (`k8snet.probe.agents`) where the packet may pass, sends and renders.
"""
