"""store_trigger: bytes every stored object a field selector picks contains."""

from k8snet.api.selectors import parse_field_selector
from k8snet.apiserver import objects as o
from k8snet.apiserver.watch import store_trigger
from k8snet.machinery import resources as kinds

POD, NODE = kinds.KINDS["Pod"], kinds.KINDS["Node"]


def pod(node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "labels": {"nodeName": "x"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


def test_a_pod_selector_on_its_node_is_found_in_the_stored_pod():
    trig = store_trigger(POD, parse_field_selector("spec.nodeName=k8snet-w1"))
    assert trig == b'"nodeName":"k8snet-w1"'
    assert trig in o.encode(pod("k8snet-w1"), POD)
    assert trig not in o.encode(pod("k8snet-w10"), POD)
    odd = 'wörker"1'
    assert store_trigger(POD, parse_field_selector(f"spec.nodeName={odd}")) in \
        o.encode(pod(odd), POD)


def test_a_node_by_name():
    trig = store_trigger(NODE, parse_field_selector("metadata.name=w1"))
    assert trig in o.encode({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "w1"}},
                            NODE)


def test_no_trigger_where_bytes_cannot_decide():
    for text in ("spec.nodeName!=w1", "spec.nodeName=", "status.phase=Running", ""):
        assert store_trigger(POD, parse_field_selector(text)) is None, text
    assert store_trigger(kinds.KINDS["Service"], parse_field_selector("metadata.name=a")) is None
    assert store_trigger(POD, None) is None
