"""Probe state machines: due times, thresholds, startup gating, targets."""

import pytest

from k8snet.kubelet import probes


def container(**probe_fields):
    return {"name": "app", "ports": [{"name": "http", "containerPort": 8080}], **probe_fields}


def test_defaults_and_handler():
    spec = probes.spec_from_container(container(livenessProbe={"tcpSocket": {"port": 80}}),
                                      "liveness")
    assert (spec.handler, spec.period, spec.timeout, spec.failure_threshold,
            spec.success_threshold, spec.initial_delay) == ("tcpSocket", 10, 1, 3, 1, 0)
    assert probes.spec_from_container(container(), "readiness") is None


def test_probe_without_handler_is_an_error():
    with pytest.raises(ValueError, match="no handler"):
        probes.spec_from_container(container(readinessProbe={"periodSeconds": 1}), "readiness")


def test_initial_results_follow_kubernetes():
    assert probes.initial_state("liveness").result is True
    assert probes.initial_state("readiness").result is False
    assert probes.initial_state("startup").result is None


def test_due_respects_initial_delay_and_period():
    spec = probes.ProbeSpec("readiness", "exec", {}, initial_delay=5, period=2)
    st = probes.initial_state("readiness")
    assert not probes.is_due(spec, st, started_at=100, now=104.9)
    assert probes.is_due(spec, st, started_at=100, now=105)
    st = probes.record(spec, st, True, now=105)
    assert not probes.is_due(spec, st, 100, 106.5)
    assert probes.is_due(spec, st, 100, 107)


def test_failure_threshold_flips_liveness_only_after_n_failures():
    spec = probes.ProbeSpec("liveness", "exec", {}, failure_threshold=3)
    st = probes.initial_state("liveness")
    for i in range(2):
        st = probes.record(spec, st, False, now=i, message="exit 1")
        assert st.result is True
    st = probes.record(spec, st, False, now=3, message="exit 1")
    assert st.result is False and st.failures == 3
    st = probes.record(spec, st, True, now=4)
    assert st.result is True and st.failures == 0


def test_success_threshold_for_readiness():
    spec = probes.ProbeSpec("readiness", "exec", {}, success_threshold=2)
    st = probes.record(spec, probes.initial_state("readiness"), True, now=0)
    assert st.result is False
    st = probes.record(spec, st, True, now=1)
    assert st.result is True


def test_startup_gates_liveness_and_readiness():
    c = container(startupProbe={"exec": {"command": ["true"]}, "failureThreshold": 2},
                  livenessProbe={"exec": {"command": ["true"]}},
                  readinessProbe={"httpGet": {"port": "http"}})
    specs = probes.specs_for(c)
    states = probes.initial_states(specs)
    assert probes.due_probes(specs, states, 0, 0) == ["startup"]
    v = probes.verdict(specs, states)
    assert (v.started, v.ready, v.kill) == (False, False, None)
    states["startup"] = probes.record(specs["startup"], states["startup"], True, now=0)
    assert probes.due_probes(specs, states, 0, 0) == ["liveness", "readiness"]
    v = probes.verdict(specs, states)
    assert (v.started, v.ready) == (True, False)
    states["readiness"] = probes.record(specs["readiness"], states["readiness"], True, now=0)
    assert probes.verdict(specs, states).ready is True


def test_startup_failure_kills():
    c = container(startupProbe={"exec": {"command": ["false"]}, "failureThreshold": 1})
    specs = probes.specs_for(c)
    states = probes.initial_states(specs)
    states["startup"] = probes.record(specs["startup"], states["startup"], False, 0, "exit 1")
    v = probes.verdict(specs, states)
    assert v.kill == "startup" and "Startup probe failed: exit 1" == v.message


def test_liveness_failure_kills_and_unready():
    c = container(livenessProbe={"tcpSocket": {"port": 1}, "failureThreshold": 1})
    specs = probes.specs_for(c)
    states = probes.initial_states(specs)
    states["liveness"] = probes.record(specs["liveness"], states["liveness"], False, 0, "refused")
    v = probes.verdict(specs, states)
    assert (v.kill, v.ready) == ("liveness", False)


def test_no_probes_means_started_and_ready():
    v = probes.verdict({}, {})
    assert (v.started, v.ready, v.kill) == (True, True, None)


def test_http_target_named_port_and_defaults():
    t = probes.http_target({"port": "http", "path": "healthz",
                            "httpHeaders": [{"name": "X-A", "value": "1"}]},
                           container(), "10.244.1.5")
    assert t == {"scheme": "HTTP", "host": "10.244.1.5", "port": 8080, "path": "/healthz",
                 "headers": {"X-A": "1"}}
    with pytest.raises(ValueError, match="no port named"):
        probes.resolve_port("metrics", container())
    assert probes.http_ok(302) and not probes.http_ok(404) and not probes.http_ok(199)
