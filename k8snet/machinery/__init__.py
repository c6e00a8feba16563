"""The machinery layer: what client-go and apimachinery are to Kubernetes.

Every component (apiserver, scheduler, controller-manager, kubelet, kube-proxy,
overlay agent, the fabric app's watchers) builds on these modules instead of
keeping its own copy of a primitive:

    resources    the resource registry (kinds, plurals, scopes, subresources)
    client       the REST client (ApiClient) and its errors
    informer     list-then-watch caches, wait_until(informer, predicate)
    reconciler   the reconcile loop: de-duplicating, rate-limited work queue, resync
    leaderelection  Lease-based leader election
    events       the event recorder
    quantities   resource.Quantity parsing
    podresources what requests and limits mean: QoS class, cgroup settings
    conditions   status conditions (is_ready, ...)
    timefmt      metav1.Time / MicroTime / RFC3339Nano formatting and parsing
    cri          the CRI (runtime.v1) client
"""
