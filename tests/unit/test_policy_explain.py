"""Where a denied packet died: counters of a real `nft -j` listing (the table the
renderer writes for the corpus case allow-from-same-namespace-by-pod-selector on
w1, loaded by nft 1.0.6 in a throwaway namespace), and of iptables-save -c."""

import json
import os

from k8snet.policy.explain import Drop, explain, iptables_rules, nft_rules

LISTING = os.path.join(os.path.dirname(__file__), "data", "policy_nft_listing.json")


def listing(drop_packets):
    with open(LISTING, encoding="utf-8") as fh:
        doc = json.load(fh)
    for item in doc["nftables"]:
        rule = item.get("rule") or {}
        for expr in rule.get("expr", []):
            if "counter" in expr:
                expr["counter"]["packets"] = drop_packets
    return json.dumps(doc)


def test_the_drop_that_counted_names_pod_policy_and_the_rules_tried():
    before, after = nft_rules(listing(0)), nft_rules(listing(1))
    drops = explain("w1", "table ip k8snet-policy", before, after)
    assert len(drops) == 1
    drop = drops[0]
    assert (drop.rule.chain, drop.rule.position, drop.rule.handle) == ("in-x-a-e4fccf", 2, 14)
    assert (drop.pod, drop.direction, drop.policies) == ("x/a", "Ingress", ("x/allow-b",))
    assert drop.not_admitted_by == ("x/allow-b ingress[0]",)
    text = drop.text()
    assert "node w1, table ip k8snet-policy, chain in-x-a-e4fccf, rule 2 (handle 14)" in text
    assert "isolated for Ingress by x/allow-b" in text and "x/allow-b ingress[0]" in text
    assert Drop.from_json(drop.json()) == drop


def test_nothing_counted_means_no_policy_drop():
    assert explain("w1", "t", nft_rules(listing(5)), nft_rules(listing(5))) == []
    assert nft_rules("") == []


def test_a_policy_without_rules_and_the_pending_drop():
    rules = nft_rules(json.dumps({"nftables": [
        {"rule": {"chain": "filter-forward", "handle": 3,
                  "comment": "unknown Pod address: isolation pending",
                  "expr": [{"counter": {"packets": 1}}, {"drop": None}]}},
        {"rule": {"chain": "eg-y-b-1", "handle": 4, "comment": "y/b: default deny egress by y/d",
                  "expr": [{"counter": {"packets": 1}}, {"drop": None}]}}]}))
    pending, deny = explain("w2", "t", [], rules)
    assert pending.pod == "" and pending.text().startswith("dropped on node w2, t, chain "
                                                           "filter-forward, rule 1")
    assert deny.direction == "Egress" and "allow no Egress at all" in deny.text()


def test_iptables_save_counters():
    save = ("*filter\n:FORWARD ACCEPT [0:0]\n:K8SNET-POL-FWD - [0:0]\n:K8SNET-POL-I-x-a - [0:0]\n"
            "[9:540] -A FORWARD -j K8SNET-POL-FWD\n"
            "[9:540] -A K8SNET-POL-FWD -d 10.244.1.10/32 -j K8SNET-POL-I-x-a\n"
            "[0:0] -A K8SNET-POL-I-x-a -s 10.244.1.11/32 -m comment "
            "--comment \"x/allow-b ingress[0]\" -j ACCEPT\n"
            "[%d:0] -A K8SNET-POL-I-x-a -m comment --comment \"x/a: default deny ingress "
            "by x/allow-b\" -j DROP\nCOMMIT\n")
    before, after = iptables_rules(save % 2), iptables_rules(save % 3)
    assert [r.chain for r in after] == ["K8SNET-POL-FWD", "K8SNET-POL-I-x-a", "K8SNET-POL-I-x-a"]
    (drop,) = explain("w1", "iptables filter", before, after)
    assert (drop.rule.position, drop.counted, drop.pod) == (2, 1, "x/a")
    assert drop.not_admitted_by == ("x/allow-b ingress[0]",)
