"""Tests for k8snet.api.selectors: label and field selector syntax and matching."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8snet.api.selectors import (
    field_value,
    label_selector_from_dict,
    label_selector_to_string,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "frontend", "env": "prod", "n": "5"}


@pytest.mark.parametrize("text,expected", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db, cache)", True),
    ("app notin (web)", False),
    ("missing notin (web)", True),
    ("tier", True),
    ("missing", False),
    ("!missing", True),
    ("!tier", False),
    ("app=web,tier=frontend,env in (prod,staging),!canary", True),
    ("app=web,tier=backend", False),
    ("n>4", True),
    ("n<4", False),
    ("app>4", False),
    ("example.com/role", False),
])
def test_label_selector_matching(text, expected):
    assert parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("bad", [
    "app in ()", "app in (a", "app=web)", "a b c", "=x", ",", "app=web,", "-bad=1",
    "app=" + "v" * 64, "Bad_Prefix.com/x=1", "n>x",
])
def test_label_selector_errors(bad):
    with pytest.raises(ValueError):
        parse_label_selector(bad)


def test_label_selector_prefixed_key_and_empty_value():
    sel = parse_label_selector("kubernetes.io/cluster-service=true,empty=")
    assert sel.matches({"kubernetes.io/cluster-service": "true", "empty": ""})
    assert not sel.matches({"kubernetes.io/cluster-service": "true"})


def test_label_selector_from_dict():
    sel = label_selector_from_dict({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
            {"key": "env", "operator": "NotIn", "values": ["dev"]},
            {"key": "env", "operator": "Exists"},
            {"key": "canary", "operator": "DoesNotExist"},
        ],
    })
    assert sel.matches(LABELS)
    assert not sel.matches({**LABELS, "canary": "1"})
    assert not sel.matches({**LABELS, "env": "dev"})
    assert label_selector_from_dict({}).matches({})
    assert not label_selector_from_dict(None).matches(LABELS)
    with pytest.raises(ValueError):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "In"}]})
    with pytest.raises(ValueError):
        label_selector_from_dict({"matchExpressions": [{"key": "a", "operator": "Near"}]})


def test_label_selector_string_is_canonical():
    assert label_selector_to_string({"matchLabels": {"tier": "x", "app": "nginx"}}) == \
        "app=nginx,tier=x"
    text = str(parse_label_selector("b notin (y,x), !c, a"))
    assert text == "a,b notin (x,y),!c"
    assert str(parse_label_selector(text)) == text


label_text = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,8}[a-z0-9])?", fullmatch=True)


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(label_text, label_text, max_size=4),
       st.dictionaries(label_text, label_text, max_size=6))
def test_match_labels_roundtrip_property(selector, labels):
    sel = label_selector_from_dict({"matchLabels": selector})
    expected = all(labels.get(k) == v for k, v in selector.items())
    assert sel.matches(labels) is expected
    assert parse_label_selector(str(sel)).matches(labels) is expected


POD = {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "default"},
       "spec": {"nodeName": "w1", "schedulerName": "default-scheduler", "hostNetwork": False},
       "status": {"phase": "Running"}}


def test_field_selector_matching():
    assert parse_field_selector("metadata.name=web-1").matches(POD)
    assert parse_field_selector("metadata.name==web-1,spec.nodeName=w1").matches(POD)
    assert not parse_field_selector("spec.nodeName!=w1").matches(POD)
    assert parse_field_selector("status.phase!=Succeeded,status.phase!=Failed").matches(POD)
    unscheduled = {"metadata": {"name": "p"}, "spec": {}}
    assert parse_field_selector("spec.nodeName=").matches(unscheduled)
    assert not parse_field_selector("spec.nodeName=").matches(POD)
    assert parse_field_selector("spec.hostNetwork=false").matches(POD)
    assert parse_field_selector("").matches(POD)
    assert parse_field_selector("metadata.name=web-1", kind="Pod").exact("metadata.name") == \
        "web-1"


def test_field_selector_events_and_escapes():
    event = {"kind": "Event", "involvedObject": {"kind": "Pod", "name": "a,b", "uid": "u1",
                                                  "namespace": "ns"},
             "type": "Warning", "reason": "FailedScheduling",
             "source": {"component": "default-scheduler"}}
    sel = parse_field_selector(r"involvedObject.name=a\,b,involvedObject.uid=u1,"
                               r"involvedObject.namespace=ns,type=Warning", kind="Event")
    assert sel.matches(event)
    assert field_value(event, "source") == "default-scheduler"
    assert parse_field_selector("source=default-scheduler", kind="Event").matches(event)
    assert str(parse_field_selector(r"involvedObject.name=a\,b")) == r"involvedObject.name=a\,b"


def test_field_selector_errors():
    with pytest.raises(ValueError, match="field label not supported: foo"):
        parse_field_selector("foo=bar", kind="Pod")
    with pytest.raises(ValueError, match="field label not supported: spec.nodeName"):
        parse_field_selector("spec.nodeName=x", kind="Service")
    for bad in ("metadata.name", "=x", "metadata.name=a=b"):
        with pytest.raises(ValueError):
            parse_field_selector(bad)
