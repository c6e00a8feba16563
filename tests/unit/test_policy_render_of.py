"""The fabric's policy flows (macvlan mode): a packet walked through the conjunctive
flows by a small OpenFlow evaluator gets the oracle's verdict, case by case."""

import ipaddress

import pytest

from k8snet.policy.cases import load_cases
from k8snet.policy.compile import compile_node
from k8snet.policy.oracle import Endpoint, verdict
from k8snet.policy.render_of import (
    IP_PROTO,
    PORT_FIELD,
    TABLE_CT,
    Conjunction,
    Ct,
    Resubmit,
    block_cidrs,
    plan_flows,
    port_masks,
)
from k8snet.policy.truthtable import pod_keys

ROUTE = 1
CASES = load_cases()


def _field_ok(want, have) -> bool:
    if isinstance(want, tuple):
        value, mask = want
        if isinstance(value, str):
            net = ipaddress.ip_network(f"{value}/{mask}")
            return have is not None and ipaddress.ip_address(have) in net
        return have is not None and (have & mask) == (value & mask)
    return want == have


def _matches(f, pkt) -> bool:
    for name, want in f.match:
        if name == "ct_state":
            return False   # the packet opens a connection: +trk+new only
        if name == "conj_id":
            return False
        if not _field_ok(want, pkt.get(name)):
            return False
    return True


def run_table(flows, table, pkt):
    """The flow a new packet takes in one table (conjunctions resolved as OVS does)."""
    mine = [f for f in flows if f.table == table]
    for prio in sorted({f.priority for f in mine}, reverse=True):
        level = [f for f in mine if f.priority == prio]
        hits = [f for f in level if _matches(f, pkt)]
        plain = [f for f in hits if not any(isinstance(a, Conjunction) for a in f.actions)]
        if plain:
            return plain[0]
        clauses = {}
        for f in hits:
            for a in f.actions:
                clauses.setdefault((a.conj_id, a.n_clauses), set()).add(a.clause)
        for (conj_id, n), seen in clauses.items():
            if len(seen) == n:
                return next(f for f in level if dict(f.match).get("conj_id") == conj_id)
    raise AssertionError(f"no flow in table {table} for {pkt}")


def walk(flows, pkt) -> bool:
    """Whether a new packet reaches routing."""
    table = TABLE_CT
    for _ in range(5):
        f = run_table(flows, table, pkt)
        ct = next((a for a in f.actions if isinstance(a, (Ct, Resubmit))), None)
        nxt = ct.table if ct else f.goto
        if nxt is None:
            return False
        if nxt == ROUTE:
            return True
        table = nxt
    raise AssertionError("loop")


def packet(src, dst, protocol, port):
    return {"eth_type": 0x0800, "ipv4_src": src, "ipv4_dst": dst,
            "ip_proto": IP_PROTO[protocol], PORT_FIELD[protocol]: port}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fabric_flows_enforce_what_the_oracle_says(case):
    pods = case.pods()
    policies = case.parsed(pods)
    namespaces = case.namespaces()
    flows = plan_flows(compile_node(None, policies, pods, namespaces), ROUTE)
    keys = [f.key for f in flows]
    assert len(keys) == len(set(keys))   # one flow per table, priority and match
    by_key = {p.key: p for p in pods}
    for protocol, port in {(p.protocol, p.port) for p in case.probes} | {("UDP", 81)}:
        for s in pod_keys():
            for d in pod_keys():
                if s == d:
                    continue
                src, dst = by_key[s], by_key[d]
                want = verdict(policies, namespaces, Endpoint.of(src), Endpoint.of(dst),
                               protocol, port).allowed
                got = walk(flows, packet(src.ip, dst.ip, protocol, port))
                assert got == want, f"{case.name} {s}->{d} {protocol}/{port}"


def test_port_masks_cover_exactly_the_range():
    for first, last in ((80, 80), (81, 90), (0, 65535), (1000, 2000), (32768, 65535)):
        covered = {p for v, m in port_masks(first, last) for p in range(65536)
                   if p & m == v} if last - first < 3000 else None
        if covered is not None:
            assert covered == set(range(first, last + 1))
    assert port_masks(0, 65535) == [(0, 0)]


def test_block_minus_exceptions():
    assert block_cidrs("10.0.0.0/30", ["10.0.0.1/32"]) == ["10.0.0.0/32", "10.0.0.2/31"]
    assert block_cidrs("10.0.0.0/24", ["192.168.0.0/16"]) == ["10.0.0.0/24"]
    assert block_cidrs("10.0.0.0/24", ["10.0.0.0/16"]) == []


def test_unknown_pods_of_a_block_are_dropped_known_ones_pass():
    """A Pod the plan does not know yet (just started) is dropped both ways while a
    policy exists; a known, unisolated Pod passes."""
    flows = plan_flows([], ROUTE, known_ips=["10.244.1.5"], pod_blocks=["10.244.1.0/24"])
    assert walk(flows, packet("10.244.1.5", "10.244.1.5", "TCP", 80))
    assert not walk(flows, packet("10.244.1.6", "10.244.1.5", "TCP", 80))
    assert not walk(flows, packet("10.244.1.5", "10.244.1.6", "TCP", 80))
    assert walk(flows, packet("192.168.0.1", "192.168.0.2", "TCP", 80))   # outside the blocks


def test_a_later_table_is_reached_by_goto_an_earlier_one_by_resubmit():
    """OpenFlow's goto_table only goes forward; the fabric's classifier is table 0."""
    established = [f for f in plan_flows([], 0) if dict(f.match).get("ct_state")
                   and f.actions]
    assert established and all(f.goto is None and Resubmit(0) in f.actions
                               for f in established if f.table == 11 and f.priority == 200)
    later = [f for f in plan_flows([], 20) if f.table == 11 and f.priority == 200]
    assert later and all(f.goto == 20 for f in later)
