"""The controller-manager: pure reconcile decisions per controller, and their loops.

Named `kcm` so it does not clash with the top-level `controllers/` (the SDN apps).
"""
