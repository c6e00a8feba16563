"""The machinery layer: what client-go and apimachinery are to Kubernetes.

Every component (apiserver, scheduler, controller-manager, kubelet, kube-proxy,
overlay agent, the fabric app's watchers) builds on these modules instead of
keeping its own copy of a primitive:

    resources    the resource registry (kinds, plurals, scopes, subresources)
    client       the REST client (ApiClient) and its errors
    informer     list-then-watch caches
    leaderelection  Lease-based leader election
    events       the event recorder
    quantities   resource.Quantity parsing
"""
