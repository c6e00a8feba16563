"""Facts parsing and validation for the fabric controller."""

import json

import pytest

from k8snet.errors import UsageError
from k8snet.fabric.facts import facts_from_dict, load_facts, load_routes
from k8snet.fabric.sample import leaf_spine_facts


def test_sample_parses_with_all_fields():
    facts = facts_from_dict(leaf_spine_facts(2, 3, 2))
    assert len(facts.switches) == 5 and len(facts.links) == 6 and len(facts.hosts) == 6
    assert facts.switch("kntst-s1").role == "spine"
    assert facts.host("h3").switch == "kntst-l2"
    assert str(facts.hosts[0].network) == "10.0.0.0/16"


def test_brief_example_document():
    doc = {"switches": [{"name": "knk8s-l1", "dpid": 17, "role": "leaf"},
                        {"name": "knk8s-s1", "dpid": "0x12", "role": "spine"}],
           "links": [{"a": "knk8s-l1", "a_port": 3, "b": "knk8s-s1", "b_port": 1}],
           "hosts": [{"name": "w1", "ip": "10.0.0.2", "prefixlen": 16,
                      "mac": "02:4B:00:00:00:02", "switch": "knk8s-l1", "port": 1,
                      "role": "worker"}],
           "gateways": [{"ip": "10.0.255.254", "prefixlen": 16, "mac": "02:4b:ff:00:00:01"}],
           "routes": [{"prefix": "10.244.1.0/24", "via": "w1"}]}
    facts = facts_from_dict(doc)
    assert facts.switch("knk8s-s1").dpid == 0x12
    assert facts.hosts[0].mac == "02:4b:00:00:00:02"  # normalised to lower case
    assert facts.routes[0].prefix == "10.244.1.0/24"


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["links"].append(dict(d["links"][0])), "reuses port"),
    (lambda d: d["links"][0].update(b="nope"), "unknown switch"),
    (lambda d: d["hosts"][0].update(mac="zz"), "mac"),
    (lambda d: d["hosts"][0].update(ip="10.0.0.999"), "IPv4"),
    (lambda d: d["hosts"][1].update(ip="10.0.0.1"), "repeats"),
    (lambda d: d["switches"][1].update(dpid=d["switches"][0]["dpid"]), "repeats"),
    (lambda d: d["switches"][0].update(role="core"), "role"),
    (lambda d: d.update(switches=[]), "non-empty"),
    (lambda d: d["routes"].append({"prefix": "10.244.1.1/24", "via": "h1"}), "host bits"),
    (lambda d: d["routes"].append({"prefix": "10.244.1.0/24", "via": "w9"}), "not a host"),
    (lambda d: d["gateways"].append({"ip": "10.0.0.1", "prefixlen": 16,
                                     "mac": "02:4b:ff:00:00:09"}), "shares"),
    (lambda d: d["links"][0].update(a_port="3"), "must be int"),
])
def test_bad_facts_say_what_is_wrong(mutate, words):
    doc = leaf_spine_facts()
    mutate(doc)
    with pytest.raises(UsageError, match=words):
        facts_from_dict(doc)


def test_load_facts_errors_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load_facts(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        load_facts(str(bad))


def test_routes_file_object_or_list(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(leaf_spine_facts()))
    facts = load_facts(str(path))
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"routes": [{"prefix": "10.244.1.0/24", "via": "h1"}]}))
    assert [r.via for r in load_routes(str(routes), facts)] == ["h1"]
    routes.write_text(json.dumps([{"prefix": "10.244.2.0/24", "via": "h2"}]))
    assert [r.prefix for r in load_routes(str(routes), facts)] == ["10.244.2.0/24"]
