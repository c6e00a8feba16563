"""pods/ephemeralcontainers: what an update may change, and what an ephemeral container
may not carry (k8snet.api.ephemeral)."""

import copy

from k8snet.api import ephemeral

POD = {"metadata": {"name": "box", "namespace": "default"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}],
                "initContainers": [{"name": "init", "image": "busybox"}]}}


def with_ephemeral(pod, *containers):
    out = copy.deepcopy(pod)
    out["spec"]["ephemeralContainers"] = [dict(c) for c in containers]
    return out


DBG = {"name": "dbg", "image": "busybox", "stdin": True, "tty": True,
       "targetContainerName": "c"}


def fields(causes):
    return sorted((c["field"], c["reason"]) for c in causes)


def test_adding_a_debugger_is_valid():
    assert ephemeral.validate_update(with_ephemeral(POD, DBG), POD) == []
    init_target = dict(DBG, targetContainerName="init")
    assert ephemeral.validate_update(with_ephemeral(POD, init_target), POD) == []


def test_ports_probes_resources_lifecycle_are_forbidden():
    bad = dict(DBG, ports=[{"containerPort": 80}], readinessProbe={"exec": {"command": ["true"]}},
               resources={"limits": {"cpu": "1"}}, lifecycle={"preStop": {}})
    causes = ephemeral.validate_update(with_ephemeral(POD, bad), POD)
    assert fields(causes) == [(f"spec.ephemeralContainers[0].{f}", "FieldValueForbidden")
                              for f in ("lifecycle", "ports", "readinessProbe", "resources")]
    assert all("cannot be set for an Ephemeral Container" in c["message"] for c in causes)


def test_name_image_and_target_are_checked():
    causes = ephemeral.validate_update(with_ephemeral(
        POD, {"name": "c", "image": "busybox"}, {"name": "Bad_Name", "image": ""},
        {"name": "x", "image": "busybox", "targetContainerName": "nope"}), POD)
    assert fields(causes) == [("spec.ephemeralContainers[0].name", "FieldValueDuplicate"),
                              ("spec.ephemeralContainers[1].image", "FieldValueRequired"),
                              ("spec.ephemeralContainers[1].name", "FieldValueInvalid"),
                              ("spec.ephemeralContainers[2].targetContainerName",
                               "FieldValueNotFound")]


def test_existing_ephemeral_containers_may_be_neither_changed_nor_removed():
    old = with_ephemeral(POD, DBG)
    changed = with_ephemeral(POD, dict(DBG, image="agnhost"))
    assert "may not be changed" in ephemeral.validate_update(changed, old)[0]["message"]
    removed = with_ephemeral(POD)
    assert "may not be removed" in ephemeral.validate_update(removed, old)[0]["message"]
    # an existing one that was valid when added is not checked again, a new one is
    added = with_ephemeral(POD, DBG, {"name": "dbg2", "image": "busybox"})
    assert ephemeral.validate_update(added, old) == []


def test_the_update_takes_only_ephemeral_containers_from_the_body():
    wanted = with_ephemeral(POD, DBG)
    wanted["spec"]["containers"][0]["image"] = "agnhost"
    wanted["metadata"]["labels"] = {"x": "y"}
    got = ephemeral.subresource_update(POD, wanted)
    assert got["spec"]["ephemeralContainers"] == [DBG]
    assert got["spec"]["containers"] == POD["spec"]["containers"]
    assert "labels" not in got["metadata"]
    assert "ephemeralContainers" not in ephemeral.subresource_update(got, POD)["spec"]
