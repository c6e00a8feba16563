"""OpenFlow controllers run by the testbed.

- ``controllers.launcher``: ``python -m controllers.launcher --facts FILE --ofp-port PORT
  --log FILE [--routes-file FILE] [--ofp-host 127.0.0.1] [--mode routed|overlay|macvlan]
  [--kubeconfig FILE]``.
- ``controllers.fabric_app``: the os-ken app (a shim over ``k8snet.fabric.Planner``).
- ``controllers.nodewatch``: routed mode's Node watch (podCIDR -> node routes).
- ``controllers.messages``: planned changes -> OpenFlow 1.3 messages for one datapath.
"""
