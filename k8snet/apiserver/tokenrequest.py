"""``POST .../serviceaccounts/NAME/token``: a TokenRequest in, the same with a signed token
out (``kubectl create token NAME [--duration D] [--audience A] [--bound-object-kind Pod
--bound-object-name P]``).

Defaults as Kubernetes 1.32: one hour, the apiserver's audiences; at least ten minutes.
The token carries the ServiceAccount's uid (a recreated ServiceAccount of the same name
does not accept it) and, when bound, the bound object's uid.
"""

from __future__ import annotations

from k8snet.apiserver import objects as o
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.registry import Registry
from k8snet.apiserver.satokens import (
    BOUND_KINDS,
    DEFAULT_EXPIRATION,
    TokenIssuer,
    expiration_error,
)
from k8snet.apiserver.status import bad_request, invalid
from k8snet.machinery import resources as kinds

KIND = "TokenRequest"
API_VERSION = "authentication.k8s.io/v1"


def _invalid(name: str, field: str, message: str):
    return invalid(KIND, name, [{"field": field, "reason": "FieldValueInvalid",
                                 "message": message}], "authentication.k8s.io")


def create_token(reg: Registry, issuer: TokenIssuer, namespace: str, name: str, body: object,
                 ctx: Ctx) -> dict:
    """The answered TokenRequest (201); 404 when the ServiceAccount does not exist."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a TokenRequest object")
    if body.get("kind") not in (None, "", KIND):
        raise bad_request(f"the kind in the data ({body.get('kind')}) does not match the "
                          f"expected kind ({KIND})")
    spec = dict(body.get("spec")) if isinstance(body.get("spec"), dict) else {}
    sa = reg.get(kinds.KINDS["ServiceAccount"], namespace, name)
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_EXPIRATION
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise _invalid(name, "spec.expirationSeconds", f"Invalid value: {seconds!r}: must be "
                       "an integer")
    why = expiration_error(seconds)
    if why:
        raise _invalid(name, "spec.expirationSeconds", f"Invalid value: {seconds}: {why}")
    auds = spec.get("audiences")
    audiences = tuple(str(a) for a in auds) if isinstance(auds, list) and auds \
        else issuer.api_audiences
    bound = None
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict) and ref:
        kind, bname = str(ref.get("kind") or ""), str(ref.get("name") or "")
        info = kinds.KINDS.get(kind)
        if kind not in BOUND_KINDS or info is None:
            raise _invalid(name, "spec.boundObjectRef.kind", f'Unsupported value: "{kind}": '
                           f"supported values: {', '.join(repr(k) for k in BOUND_KINDS)}")
        obj = reg.get(info, namespace if info.namespaced else None, bname)
        uid = str(obj["metadata"].get("uid") or "")
        if ref.get("uid") not in (None, "", uid):
            raise _invalid(name, "spec.boundObjectRef.uid", f"Invalid value: "
                           f"{ref.get('uid')!r}: the {kind} {bname} has uid {uid}")
        bound = (kind, bname, uid)
        spec["boundObjectRef"] = {"kind": kind, "apiVersion": info.api_version,
                                  "name": bname, "uid": uid}
    token, exp = issuer.issue(namespace, name, str(sa["metadata"]["uid"]), audiences,
                              seconds, bound)
    spec.update(audiences=list(audiences), expirationSeconds=seconds)
    spec.setdefault("boundObjectRef", None)
    return {"kind": KIND, "apiVersion": API_VERSION,
            "metadata": {"name": name, "namespace": namespace,
                         "creationTimestamp": o.rfc3339(issuer.clock())},
            "spec": spec,
            "status": {"token": token, "expirationTimestamp": o.rfc3339(exp)}}
