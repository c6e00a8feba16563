"""Decode the protobuf bodies kubectl's typed clients send (`kubectl create namespace`,
`create deployment`, `create service ...`) into JSON-shaped dicts.

Only the messages below are known; a body using any other field is refused (415) with a
clear message rather than decoded with silent losses. Field numbers are those of the
Kubernetes API's generated.proto files. Envelope: b"k8s\\x00" + runtime.Unknown
{typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any, Optional

from k8snet.apiserver import protobuf_kinds

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body that is not (supported) Kubernetes protobuf."""


# field spec: (json name, type, message name or None); types:
# str, int, bool, msg, map (string->string), qmap (string->Quantity), strs (repeated str),
# msgs (repeated msg), ptrint (int kept even when 0), time, intstr, bytes, skip (a field
# the server fills in, such as a review's status: whatever the client sent is dropped)
S = {
    "Unknown": {1: ("typeMeta", "msg", "TypeMeta"), 2: ("raw", "bytes", None),
                3: ("contentEncoding", "str", None), 4: ("contentType", "str", None)},
    "TypeMeta": {1: ("apiVersion", "str", None), 2: ("kind", "str", None)},
    "ObjectMeta": {1: ("name", "str", None), 2: ("generateName", "str", None),
                   3: ("namespace", "str", None), 5: ("uid", "str", None),
                   6: ("resourceVersion", "str", None), 7: ("generation", "int", None),
                   8: ("creationTimestamp", "time", None), 11: ("labels", "map", None),
                   12: ("annotations", "map", None), 14: ("finalizers", "strs", None)},
    "Namespace": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "NamespaceSpec"),
                  3: ("status", "msg", "Empty")},
    "NamespaceSpec": {1: ("finalizers", "strs", None)},
    "Empty": {},
    "Deployment": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "DeploymentSpec"),
                   3: ("status", "msg", "Empty")},
    "DeploymentSpec": {1: ("replicas", "ptrint", None), 2: ("selector", "msg", "LabelSelector"),
                       3: ("template", "msg", "PodTemplateSpec"),
                       4: ("strategy", "msg", "DeploymentStrategy"),
                       5: ("minReadySeconds", "int", None),
                       6: ("revisionHistoryLimit", "ptrint", None),
                       7: ("paused", "bool", None),
                       9: ("progressDeadlineSeconds", "ptrint", None)},
    "DeploymentStrategy": {1: ("type", "str", None),
                           2: ("rollingUpdate", "msg", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "intstr", None),
                                2: ("maxSurge", "intstr", None)},
    "LabelSelector": {1: ("matchLabels", "map", None),
                      2: ("matchExpressions", "msgs", "LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "str", None), 2: ("operator", "str", None),
                                 3: ("values", "strs", None)},
    "PodTemplateSpec": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "PodSpec")},
    "PodSpec": {2: ("containers", "msgs", "Container"), 3: ("restartPolicy", "str", None),
                4: ("terminationGracePeriodSeconds", "ptrint", None),
                6: ("dnsPolicy", "str", None), 7: ("nodeSelector", "map", None),
                8: ("serviceAccountName", "str", None), 10: ("nodeName", "str", None),
                11: ("hostNetwork", "bool", None)},
    "Container": {1: ("name", "str", None), 2: ("image", "str", None),
                  3: ("command", "strs", None), 4: ("args", "strs", None),
                  5: ("workingDir", "str", None), 6: ("ports", "msgs", "ContainerPort"),
                  7: ("env", "msgs", "EnvVar"), 8: ("resources", "msg", "Resources"),
                  13: ("terminationMessagePath", "str", None),
                  14: ("imagePullPolicy", "str", None), 16: ("stdin", "bool", None),
                  17: ("stdinOnce", "bool", None), 18: ("tty", "bool", None),
                  20: ("terminationMessagePolicy", "str", None)},
    "ContainerPort": {1: ("name", "str", None), 2: ("hostPort", "int", None),
                      3: ("containerPort", "int", None), 4: ("protocol", "str", None),
                      5: ("hostIP", "str", None)},
    "EnvVar": {1: ("name", "str", None), 2: ("value", "str", None)},
    "Resources": {1: ("limits", "qmap", None), 2: ("requests", "qmap", None)},
    "Service": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "ServiceSpec"),
                3: ("status", "msg", "Empty")},
    "ServiceSpec": {1: ("ports", "msgs", "ServicePort"), 2: ("selector", "map", None),
                    3: ("clusterIP", "str", None), 4: ("type", "str", None),
                    5: ("externalIPs", "strs", None), 7: ("sessionAffinity", "str", None),
                    10: ("externalName", "str", None),
                    11: ("externalTrafficPolicy", "str", None),
                    18: ("clusterIPs", "strs", None)},
    "ServicePort": {1: ("name", "str", None), 2: ("protocol", "str", None),
                    3: ("port", "int", None), 4: ("targetPort", "intstr", None),
                    5: ("nodePort", "int", None)},
    "DeleteOptions": {1: ("gracePeriodSeconds", "ptrint", None),
                      2: ("preconditions", "msg", "Preconditions"),
                      3: ("orphanDependents", "bool", None),
                      4: ("propagationPolicy", "str", None), 5: ("dryRun", "strs", None)},
    "Preconditions": {1: ("uid", "str", None), 2: ("resourceVersion", "str", None)},
    # kubectl create serviceaccount / token / role / clusterrole / rolebinding /
    # clusterrolebinding, kubectl auth whoami / can-i (authentication, authorization, rbac)
    "ServiceAccount": {1: ("metadata", "msg", "ObjectMeta"),
                       4: ("automountServiceAccountToken", "bool", None)},
    "TokenRequest": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "TokenRequestSpec"),
                     3: ("status", "skip", None)},
    "TokenRequestSpec": {1: ("audiences", "strs", None), 4: ("expirationSeconds", "ptrint", None),
                         3: ("boundObjectRef", "msg", "BoundObjectReference")},
    "BoundObjectReference": {1: ("kind", "str", None), 2: ("apiVersion", "str", None),
                             3: ("name", "str", None), 4: ("uid", "str", None)},
    "PolicyRule": {1: ("verbs", "strs", None), 2: ("apiGroups", "strs", None),
                   3: ("resources", "strs", None), 4: ("resourceNames", "strs", None),
                   5: ("nonResourceURLs", "strs", None)},
    "Role": {1: ("metadata", "msg", "ObjectMeta"), 2: ("rules", "msgs", "PolicyRule")},
    "ClusterRole": {1: ("metadata", "msg", "ObjectMeta"), 2: ("rules", "msgs", "PolicyRule"),
                    3: ("aggregationRule", "msg", "AggregationRule")},
    "AggregationRule": {1: ("clusterRoleSelectors", "msgs", "LabelSelector")},
    "RoleBinding": {1: ("metadata", "msg", "ObjectMeta"), 2: ("subjects", "msgs", "Subject"),
                    3: ("roleRef", "msg", "RoleRef")},
    "Subject": {1: ("kind", "str", None), 2: ("apiGroup", "str", None), 3: ("name", "str", None),
                4: ("namespace", "str", None)},
    "RoleRef": {1: ("apiGroup", "str", None), 2: ("kind", "str", None), 3: ("name", "str", None)},
    "SelfSubjectReview": {1: ("metadata", "msg", "ObjectMeta"), 2: ("status", "skip", None)},
    "TokenReview": {1: ("metadata", "msg", "ObjectMeta"), 2: ("spec", "msg", "TokenReviewSpec"),
                    3: ("status", "skip", None)},
    "TokenReviewSpec": {1: ("token", "str", None), 2: ("audiences", "strs", None)},
    "SelfSubjectAccessReview": {1: ("metadata", "msg", "ObjectMeta"),
                                2: ("spec", "msg", "SelfSubjectAccessReviewSpec"),
                                3: ("status", "skip", None)},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "msg", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "msg",
                                        "NonResourceAttributes")},
    "SubjectAccessReview": {1: ("metadata", "msg", "ObjectMeta"),
                            2: ("spec", "msg", "SubjectAccessReviewSpec"),
                            3: ("status", "skip", None)},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "msg", "ResourceAttributes"),
                                2: ("nonResourceAttributes", "msg", "NonResourceAttributes"),
                                3: ("user", "str", None), 4: ("groups", "strs", None),
                                6: ("uid", "str", None)},
    "ResourceAttributes": {1: ("namespace", "str", None), 2: ("verb", "str", None),
                           3: ("group", "str", None), 4: ("version", "str", None),
                           5: ("resource", "str", None), 6: ("subresource", "str", None),
                           7: ("name", "str", None)},
    "NonResourceAttributes": {1: ("path", "str", None), 2: ("verb", "str", None)},
    "SelfSubjectRulesReview": {1: ("metadata", "msg", "ObjectMeta"),
                               2: ("spec", "msg", "SelfSubjectRulesReviewSpec"),
                               3: ("status", "skip", None)},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "str", None)},
}
_AUTHN, _AUTHZ, _RBAC = ("authentication.k8s.io/v1", "authorization.k8s.io/v1",
                         "rbac.authorization.k8s.io/v1")
TOP = {("v1", "Namespace"): "Namespace", ("apps/v1", "Deployment"): "Deployment",
       ("v1", "Service"): "Service", ("v1", "DeleteOptions"): "DeleteOptions",
       ("meta.k8s.io/v1", "DeleteOptions"): "DeleteOptions",
       ("v1", "ServiceAccount"): "ServiceAccount",
       (_AUTHN, "TokenRequest"): "TokenRequest", (_AUTHN, "TokenReview"): "TokenReview",
       (_AUTHN, "SelfSubjectReview"): "SelfSubjectReview",
       (_AUTHZ, "SelfSubjectAccessReview"): "SelfSubjectAccessReview",
       (_AUTHZ, "SelfSubjectRulesReview"): "SelfSubjectRulesReview",
       (_AUTHZ, "SubjectAccessReview"): "SubjectAccessReview",
       (_AUTHZ, "LocalSubjectAccessReview"): "SubjectAccessReview",
       (_RBAC, "Role"): "Role", (_RBAC, "ClusterRole"): "ClusterRole",
       (_RBAC, "RoleBinding"): "RoleBinding", (_RBAC, "ClusterRoleBinding"): "RoleBinding",
       **protobuf_kinds.TOP}
S.update(protobuf_kinds.MESSAGES)
for _name, _extra in protobuf_kinds.EXTRA_FIELDS.items():
    S[_name] = {**S[_name], **_extra}


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ProtobufError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """Wire-level fields: (number, wire type, int value or bytes)."""
    out = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise ProtobufError("truncated length-delimited field")
            v, i = buf[i:i + n], i + n
        elif wt == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wt == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        if num == 0:
            raise ProtobufError("field number 0")
        out.append((num, wt, v))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _text(v: Any) -> str:
    if not isinstance(v, bytes):
        raise ProtobufError("expected a length-delimited string")
    try:
        return v.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError("string is not UTF-8") from None


def _entry(v: Any) -> tuple[str, Any]:
    k, val = "", b""
    for n, _wt, x in fields(v):
        if n == 1:
            k = _text(x)
        elif n == 2:
            val = x
    return k, val


def decode_message(buf: bytes, name: str) -> dict:
    """One message -> dict (zero scalars and empty messages omitted, as JSON would)."""
    spec = S[name]
    out: dict = {}
    for num, wt, v in fields(buf):
        if num not in spec:
            if v in (0, b""):
                continue  # gogo-protobuf emits unset non-pointer fields as zero values
            raise ProtobufError(f"field {num} of {name} is not supported by k8snet's protobuf "
                                "decoder")
        key, typ, sub = spec[num]
        if typ == "skip":
            continue
        if typ in ("int", "ptrint"):
            if wt != 0:
                raise ProtobufError(f"{name}.{key}: expected a varint")
            val = _signed(v)
            if val or typ == "ptrint":
                out[key] = val
        elif typ == "bool":
            if v:
                out[key] = True
        elif typ == "ptrbool":
            out[key] = bool(v)
        elif typ == "bmap":
            k, val = _entry(v)
            out.setdefault(key, {})[k] = base64.b64encode(val or b"").decode()
        elif typ == "inline":
            out.update(decode_message(v, str(sub)))
        elif typ == "str":
            text = _text(v)
            if text:
                out[key] = text
        elif typ == "bytes":
            out[key] = v
        elif typ == "strs":
            out.setdefault(key, []).append(_text(v))
        elif typ == "map":
            k, val = _entry(v)
            out.setdefault(key, {})[k] = _text(val) if val else ""
        elif typ == "qmap":
            k, val = _entry(v)
            q = "".join(_text(x) for n, _w, x in fields(val) if n == 1)
            out.setdefault(key, {})[k] = q
        elif typ == "intstr":
            f = {n: x for n, _w, x in fields(v)}
            out[key] = _text(f[3]) if f.get(1) == 1 else _signed(f.get(2, 0))
        elif typ == "time":
            f = {n: x for n, _w, x in fields(v)}
            if f.get(1):
                out[key] = datetime.datetime.fromtimestamp(
                    _signed(f[1]), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif typ in ("msg", "msgs"):
            if not isinstance(v, bytes):
                raise ProtobufError(f"{name}.{key}: expected a message")
            m = decode_message(v, str(sub))
            if typ == "msgs":
                out.setdefault(key, []).append(m)
            elif m:
                out[key] = m
    return out


def decode(body: bytes) -> dict:
    """A protobuf request body -> the object as JSON would carry it."""
    if not body.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (missing k8s\\0 prefix)")
    env = decode_message(body[len(MAGIC):], "Unknown")
    tm = env.get("typeMeta") or {}
    if env.get("contentEncoding"):
        raise ProtobufError(f"content encoding {env['contentEncoding']!r} not supported")
    top: Optional[str] = TOP.get((tm.get("apiVersion", ""), tm.get("kind", "")))
    if top is None:
        raise ProtobufError(f"protobuf bodies of {tm.get('apiVersion')} {tm.get('kind')} are "
                            "not supported by k8snet; send JSON or YAML (kubectl create -f)")
    obj = decode_message(env.get("raw") or b"", top)
    return {"apiVersion": tm["apiVersion"], "kind": tm["kind"], **obj}
