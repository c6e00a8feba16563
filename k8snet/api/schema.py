"""Compact per-kind schemas of allowed field names, for fieldValidation=Strict.

Public names:

    unknown_fields(kind, obj) -> list[str]   dotted paths of fields the kind does not
        have, e.g. ["spec.containers[0].imagee"]; the apiserver reports each as
        `unknown field "<path>"`. Unknown kinds give [].
    SCHEMAS: dict kind -> schema

Schema notation: a dict maps field names to sub-schemas; a one-element list is an
array of that schema; ANY accepts any value (not descended); FREE is a map with
arbitrary keys (labels, annotations, nodeSelector, resource lists...).
"""

from __future__ import annotations

from typing import Any

ANY = "any"
FREE = "free"

OBJECT_REFERENCE = {k: ANY for k in ("kind", "namespace", "name", "uid", "apiVersion",
                                     "resourceVersion", "fieldPath")}
OWNER_REFERENCE = {k: ANY for k in ("apiVersion", "kind", "name", "uid", "controller",
                                    "blockOwnerDeletion")}
MANAGED_FIELDS = {k: ANY for k in ("manager", "operation", "apiVersion", "time",
                                   "fieldsType", "fieldsV1", "subresource")}
OBJECT_META = {
    "name": ANY, "generateName": ANY, "namespace": ANY, "selfLink": ANY, "uid": ANY,
    "resourceVersion": ANY, "generation": ANY, "creationTimestamp": ANY,
    "deletionTimestamp": ANY, "deletionGracePeriodSeconds": ANY, "labels": FREE,
    "annotations": FREE, "ownerReferences": [OWNER_REFERENCE], "finalizers": ANY,
    "managedFields": [MANAGED_FIELDS],
}
LABEL_SELECTOR = {"matchLabels": FREE,
                  "matchExpressions": [{"key": ANY, "operator": ANY, "values": ANY}]}
NODE_SELECTOR_TERM = {"matchExpressions": [{"key": ANY, "operator": ANY, "values": ANY}],
                      "matchFields": [{"key": ANY, "operator": ANY, "values": ANY}]}
POD_AFFINITY_TERM = {"labelSelector": LABEL_SELECTOR, "namespaces": ANY, "topologyKey": ANY,
                     "namespaceSelector": LABEL_SELECTOR, "matchLabelKeys": ANY,
                     "mismatchLabelKeys": ANY}
_POD_AFFINITY = {
    "requiredDuringSchedulingIgnoredDuringExecution": [POD_AFFINITY_TERM],
    "preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": ANY, "podAffinityTerm": POD_AFFINITY_TERM}],
}
AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [NODE_SELECTOR_TERM]},
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": ANY, "preference": NODE_SELECTOR_TERM}],
    },
    "podAffinity": _POD_AFFINITY,
    "podAntiAffinity": _POD_AFFINITY,
}
_HTTP_GET = {"path": ANY, "port": ANY, "host": ANY, "scheme": ANY,
             "httpHeaders": [{"name": ANY, "value": ANY}]}
_TCP = {"port": ANY, "host": ANY}
_EXEC = {"command": ANY}
PROBE = {"exec": _EXEC, "httpGet": _HTTP_GET, "tcpSocket": _TCP,
         "grpc": {"port": ANY, "service": ANY}, "initialDelaySeconds": ANY,
         "timeoutSeconds": ANY, "periodSeconds": ANY, "successThreshold": ANY,
         "failureThreshold": ANY, "terminationGracePeriodSeconds": ANY}
LIFECYCLE_HANDLER = {"exec": _EXEC, "httpGet": _HTTP_GET, "tcpSocket": _TCP,
                     "sleep": {"seconds": ANY}}
_KEY_REF = {"name": ANY, "key": ANY, "optional": ANY}
ENV_VAR = {"name": ANY, "value": ANY, "valueFrom": {
    "fieldRef": {"apiVersion": ANY, "fieldPath": ANY},
    "resourceFieldRef": {"containerName": ANY, "resource": ANY, "divisor": ANY},
    "configMapKeyRef": _KEY_REF, "secretKeyRef": _KEY_REF,
}}
SE_LINUX = {k: ANY for k in ("user", "role", "type", "level")}
WINDOWS_OPTIONS = {k: ANY for k in ("gmsaCredentialSpecName", "gmsaCredentialSpec",
                                    "runAsUserName", "hostProcess")}
SECCOMP = {"type": ANY, "localhostProfile": ANY}
CONTAINER_SECURITY = {
    "capabilities": {"add": ANY, "drop": ANY}, "privileged": ANY, "seLinuxOptions": SE_LINUX,
    "windowsOptions": WINDOWS_OPTIONS, "runAsUser": ANY, "runAsGroup": ANY,
    "runAsNonRoot": ANY, "readOnlyRootFilesystem": ANY, "allowPrivilegeEscalation": ANY,
    "procMount": ANY, "seccompProfile": SECCOMP, "appArmorProfile": SECCOMP,
}
RESOURCES = {"limits": FREE, "requests": FREE, "claims": [{"name": ANY, "request": ANY}]}
CONTAINER = {
    "name": ANY, "image": ANY, "command": ANY, "args": ANY, "workingDir": ANY,
    "ports": [{"name": ANY, "containerPort": ANY, "hostPort": ANY, "hostIP": ANY,
               "protocol": ANY}],
    "envFrom": [{"prefix": ANY, "configMapRef": {"name": ANY, "optional": ANY},
                 "secretRef": {"name": ANY, "optional": ANY}}],
    "env": [ENV_VAR],
    "resources": RESOURCES,
    "resizePolicy": [{"resourceName": ANY, "restartPolicy": ANY}],
    "restartPolicy": ANY,
    "volumeMounts": [{k: ANY for k in ("name", "readOnly", "recursiveReadOnly", "mountPath",
                                       "subPath", "mountPropagation", "subPathExpr")}],
    "volumeDevices": [{"name": ANY, "devicePath": ANY}],
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
    "lifecycle": {"postStart": LIFECYCLE_HANDLER, "preStop": LIFECYCLE_HANDLER,
                  "stopSignal": ANY},
    "terminationMessagePath": ANY, "terminationMessagePolicy": ANY, "imagePullPolicy": ANY,
    "securityContext": CONTAINER_SECURITY, "stdin": ANY, "stdinOnce": ANY, "tty": ANY,
}
EPHEMERAL_CONTAINER = {**CONTAINER, "targetContainerName": ANY}
_KEY_PATHS = [{"key": ANY, "path": ANY, "mode": ANY}]
VOLUME = {
    "name": ANY,
    "hostPath": {"path": ANY, "type": ANY},
    "emptyDir": {"medium": ANY, "sizeLimit": ANY},
    "configMap": {"name": ANY, "items": _KEY_PATHS, "defaultMode": ANY, "optional": ANY},
    "secret": {"secretName": ANY, "items": _KEY_PATHS, "defaultMode": ANY, "optional": ANY},
    "persistentVolumeClaim": {"claimName": ANY, "readOnly": ANY},
    "nfs": {"server": ANY, "path": ANY, "readOnly": ANY},
    "image": {"reference": ANY, "pullPolicy": ANY},
    "projected": {"sources": ANY, "defaultMode": ANY},
    "downwardAPI": {"items": ANY, "defaultMode": ANY},
    **{k: ANY for k in ("ephemeral", "csi", "iscsi", "gcePersistentDisk",
                        "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder",
                        "fc", "flexVolume", "flocker", "gitRepo", "glusterfs",
                        "photonPersistentDisk", "portworxVolume", "quobyte", "rbd",
                        "scaleIO", "storageos", "vsphereVolume")},
}
TOLERATION = {k: ANY for k in ("key", "operator", "value", "effect", "tolerationSeconds")}
POD_SECURITY = {
    "seLinuxOptions": SE_LINUX, "windowsOptions": WINDOWS_OPTIONS, "runAsUser": ANY,
    "runAsGroup": ANY, "runAsNonRoot": ANY, "supplementalGroups": ANY,
    "supplementalGroupsPolicy": ANY, "fsGroup": ANY, "sysctls": [{"name": ANY, "value": ANY}],
    "fsGroupChangePolicy": ANY, "seccompProfile": SECCOMP, "appArmorProfile": SECCOMP,
    "seLinuxChangePolicy": ANY,
}
POD_SPEC = {
    "volumes": [VOLUME], "initContainers": [CONTAINER], "containers": [CONTAINER],
    "ephemeralContainers": [EPHEMERAL_CONTAINER], "restartPolicy": ANY,
    "terminationGracePeriodSeconds": ANY, "activeDeadlineSeconds": ANY, "dnsPolicy": ANY,
    "nodeSelector": FREE, "serviceAccountName": ANY, "serviceAccount": ANY,
    "automountServiceAccountToken": ANY, "nodeName": ANY, "hostNetwork": ANY, "hostPID": ANY,
    "hostIPC": ANY, "shareProcessNamespace": ANY, "securityContext": POD_SECURITY,
    "imagePullSecrets": [{"name": ANY}], "hostname": ANY, "subdomain": ANY,
    "affinity": AFFINITY, "schedulerName": ANY, "tolerations": [TOLERATION],
    "hostAliases": [{"ip": ANY, "hostnames": ANY}], "priorityClassName": ANY, "priority": ANY,
    "dnsConfig": {"nameservers": ANY, "searches": ANY,
                  "options": [{"name": ANY, "value": ANY}]},
    "readinessGates": [{"conditionType": ANY}], "runtimeClassName": ANY,
    "enableServiceLinks": ANY, "preemptionPolicy": ANY, "overhead": FREE,
    "topologySpreadConstraints": [{
        "maxSkew": ANY, "topologyKey": ANY, "whenUnsatisfiable": ANY,
        "labelSelector": LABEL_SELECTOR, "minDomains": ANY, "nodeAffinityPolicy": ANY,
        "nodeTaintsPolicy": ANY, "matchLabelKeys": ANY}],
    "setHostnameAsFQDN": ANY, "os": {"name": ANY}, "hostUsers": ANY,
    "schedulingGates": [{"name": ANY}],
    "resourceClaims": [{"name": ANY, "resourceClaimName": ANY,
                        "resourceClaimTemplateName": ANY}],
    "resources": RESOURCES,
}
_STATE = {
    "waiting": {"reason": ANY, "message": ANY},
    "running": {"startedAt": ANY},
    "terminated": {k: ANY for k in ("exitCode", "signal", "reason", "message", "startedAt",
                                    "finishedAt", "containerID")},
}
CONTAINER_STATUS = {
    "name": ANY, "state": _STATE, "lastState": _STATE, "ready": ANY, "restartCount": ANY,
    "image": ANY, "imageID": ANY, "containerID": ANY, "started": ANY,
    "allocatedResources": FREE, "resources": RESOURCES, "volumeMounts": ANY, "user": ANY,
    "allocatedResourcesStatus": ANY, "stopSignal": ANY,
}
_CONDITION = {k: ANY for k in ("type", "status", "lastProbeTime", "lastTransitionTime",
                               "lastUpdateTime", "lastHeartbeatTime", "reason", "message",
                               "observedGeneration")}
POD_STATUS = {
    "phase": ANY, "conditions": [_CONDITION], "message": ANY, "reason": ANY,
    "nominatedNodeName": ANY, "hostIP": ANY, "hostIPs": [{"ip": ANY}], "podIP": ANY,
    "podIPs": [{"ip": ANY}], "startTime": ANY, "initContainerStatuses": [CONTAINER_STATUS],
    "containerStatuses": [CONTAINER_STATUS], "ephemeralContainerStatuses": [CONTAINER_STATUS],
    "qosClass": ANY, "resize": ANY, "resourceClaimStatuses": ANY, "observedGeneration": ANY,
}
POD_TEMPLATE = {"metadata": OBJECT_META, "spec": POD_SPEC}


def _top(**fields: Any) -> dict:
    return {"apiVersion": ANY, "kind": ANY, "metadata": OBJECT_META, **fields}


SERVICE_PORT = {k: ANY for k in ("name", "protocol", "appProtocol", "port", "targetPort",
                                 "nodePort")}
SERVICE_SPEC = {
    "ports": [SERVICE_PORT], "selector": FREE,
    **{k: ANY for k in ("clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
                        "loadBalancerIP", "loadBalancerSourceRanges", "externalName",
                        "externalTrafficPolicy", "healthCheckNodePort",
                        "publishNotReadyAddresses", "ipFamilies", "ipFamilyPolicy",
                        "allocateLoadBalancerNodePorts", "loadBalancerClass",
                        "internalTrafficPolicy", "trafficDistribution")},
    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": ANY}},
}
SERVICE_STATUS = {
    "loadBalancer": {"ingress": [{"ip": ANY, "hostname": ANY, "ipMode": ANY,
                                  "ports": [{"port": ANY, "protocol": ANY, "error": ANY}]}]},
    "conditions": [_CONDITION],
}
DEPLOYMENT_SPEC = {
    "replicas": ANY, "selector": LABEL_SELECTOR, "template": POD_TEMPLATE,
    "strategy": {"type": ANY, "rollingUpdate": {"maxUnavailable": ANY, "maxSurge": ANY}},
    "minReadySeconds": ANY, "revisionHistoryLimit": ANY, "paused": ANY,
    "progressDeadlineSeconds": ANY,
}
DEPLOYMENT_STATUS = {
    **{k: ANY for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                        "availableReplicas", "unavailableReplicas", "terminatingReplicas",
                        "collisionCount")},
    "conditions": [_CONDITION],
}
REPLICASET_SPEC = {"replicas": ANY, "minReadySeconds": ANY, "selector": LABEL_SELECTOR,
                   "template": POD_TEMPLATE}
REPLICASET_STATUS = {
    **{k: ANY for k in ("replicas", "fullyLabeledReplicas", "readyReplicas",
                        "availableReplicas", "terminatingReplicas", "observedGeneration")},
    "conditions": [_CONDITION],
}
NODE_SPEC = {"podCIDR": ANY, "podCIDRs": ANY, "providerID": ANY, "unschedulable": ANY,
             "taints": [{"key": ANY, "value": ANY, "effect": ANY, "timeAdded": ANY}],
             "configSource": ANY, "externalID": ANY}
NODE_STATUS = {
    "capacity": FREE, "allocatable": FREE, "phase": ANY, "conditions": [_CONDITION],
    "addresses": [{"type": ANY, "address": ANY}],
    "daemonEndpoints": {"kubeletEndpoint": {"Port": ANY}},
    "nodeInfo": {**{k: ANY for k in ("machineID", "systemUUID", "bootID", "kernelVersion",
                                     "osImage", "containerRuntimeVersion", "kubeletVersion",
                                     "kubeProxyVersion", "operatingSystem", "architecture")},
                 "swap": {"capacity": ANY}},
    "images": [{"names": ANY, "sizeBytes": ANY}],
    "volumesInUse": ANY, "volumesAttached": ANY, "config": ANY, "runtimeHandlers": ANY,
    "features": ANY,
}
ENDPOINT_ADDRESS = {"ip": ANY, "hostname": ANY, "nodeName": ANY,
                    "targetRef": OBJECT_REFERENCE}
ENDPOINT_SUBSET = {"addresses": [ENDPOINT_ADDRESS], "notReadyAddresses": [ENDPOINT_ADDRESS],
                   "ports": [{"name": ANY, "port": ANY, "protocol": ANY, "appProtocol": ANY}]}

SCHEMAS: dict[str, dict] = {
    "Pod": _top(spec=POD_SPEC, status=POD_STATUS),
    "Service": _top(spec=SERVICE_SPEC, status=SERVICE_STATUS),
    "Deployment": _top(spec=DEPLOYMENT_SPEC, status=DEPLOYMENT_STATUS),
    "ReplicaSet": _top(spec=REPLICASET_SPEC, status=REPLICASET_STATUS),
    "Node": _top(spec=NODE_SPEC, status=NODE_STATUS),
    "Namespace": _top(spec={"finalizers": ANY},
                      status={"phase": ANY, "conditions": [_CONDITION]}),
    "Endpoints": _top(subsets=[ENDPOINT_SUBSET]),
    "Event": _top(
        involvedObject=OBJECT_REFERENCE, related=OBJECT_REFERENCE,
        source={"component": ANY, "host": ANY},
        series={"count": ANY, "lastObservedTime": ANY},
        **{k: ANY for k in ("reason", "message", "firstTimestamp", "lastTimestamp", "count",
                            "type", "eventTime", "action", "reportingComponent",
                            "reportingInstance")}),
    "Lease": _top(spec={k: ANY for k in ("holderIdentity", "leaseDurationSeconds",
                                          "acquireTime", "renewTime", "leaseTransitions",
                                          "strategy", "preferredHolder")}),
    "Binding": _top(target=OBJECT_REFERENCE),
    "Scale": _top(spec={"replicas": ANY}, status={"replicas": ANY, "selector": ANY}),
}


def _walk(value: Any, schema: Any, path: str, out: list[str]) -> None:
    if schema in (ANY, FREE) or value is None:
        return
    if isinstance(schema, list):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, schema[0], f"{path}[{i}]", out)
        return
    if not isinstance(value, dict):
        return
    for key, sub in value.items():
        child = f"{path}.{key}" if path else str(key)
        if key not in schema:
            out.append(child)
        else:
            _walk(sub, schema[key], child, out)


def unknown_fields(kind: str, obj: Any) -> list[str]:
    """Paths of fields in obj that kind's schema does not know, in document order."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return []
    out: list[str] = []
    _walk(obj, schema, "", out)
    return out
