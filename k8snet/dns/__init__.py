"""Cluster DNS: k8snet's stand-in for CoreDNS (the catalogue runs it for
``registry.k8s.io/coredns/coredns``).

- `corefile`: the Corefile, parsed into server blocks, then into a `Config`
  (pure);
- `records`: the Kubernetes DNS specification as pure functions: an `Index`
  built from Services and EndpointSlices, and `resolve` answering one
  question from it;
- `server`: UDP and TCP on port 53 (dnspython does the wire format), the
  forward and cache plugins, the loop check;
- `main`: the process: informers, health/ready/metrics endpoints, reload;
- `addon`: the objects the testbed applies at ``up``, as kubeadm does.
"""
