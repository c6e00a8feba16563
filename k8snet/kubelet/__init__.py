"""The kubelet: registers its Node and runs the Pods bound to it through CRI.

Pure decisions live in `sync` (what to do with a Pod), `probes` (probe state
machines), `status` (the Pod status to report), `node` (Node and Lease
objects) and `logs`; `loop`, `podworker`, `runtimeview`, `logserver` and
`main` are the thin layer that talks to the apiserver, the runtime (through the one CRI
client, k8snet.machinery.cri) and the network.
"""
