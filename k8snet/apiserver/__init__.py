"""A Kubernetes-shaped API server: REST over the Store, kubectl-compatible.

Layout: ``status`` (errors as Status objects), ``certs`` (CA, serving cert,
token, kubeconfig), ``alloc`` (ClusterIP/NodePort decisions), ``tables``
(server-side Tables), ``discovery`` (discovery + OpenAPI documents),
``registry`` (verbs over the store), ``watch`` (watch streams), ``server``
(HTTP layer), ``main`` (the `k8snet apiserver` command).
"""
