"""Pure Kubernetes API semantics: kinds, selectors, defaults, validation, patches.

No I/O here; the apiserver (k8snet/apiserver/) imports these modules.
"""
