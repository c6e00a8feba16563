"""The create-only review kinds: nothing is stored, the answer is the object with its status
filled in (201), as Kubernetes serves them.

- authentication.k8s.io/v1: SelfSubjectReview (``kubectl auth whoami``), TokenReview.
- authorization.k8s.io/v1: SelfSubjectAccessReview (``kubectl auth can-i``),
  SelfSubjectRulesReview (``kubectl auth can-i --list``), SubjectAccessReview,
  LocalSubjectAccessReview.

Entry point: ``create(info, body, ctx)``; ``ctx.user`` is who asks, ``ctx.auth`` the
server's ``auth.Auth`` (authenticator and authorizer). A LocalSubjectAccessReview's
namespace is the request's (``namespace=``; else the body's metadata.namespace).
"""

from __future__ import annotations

from typing import Optional

from k8snet.api import schema
from k8snet.apiserver import authn, rbac
from k8snet.apiserver.context import Ctx
from k8snet.apiserver.identity import UserInfo, user_from_api
from k8snet.apiserver.status import ApiStatusError, bad_request, invalid
from k8snet.machinery.resources import KindInfo

KINDS = ("SelfSubjectReview", "TokenReview", "SelfSubjectAccessReview",
         "SelfSubjectRulesReview", "SubjectAccessReview", "LocalSubjectAccessReview")


def create(info: KindInfo, body: object, ctx: Ctx, namespace: Optional[str] = None) -> dict:
    """The answered review for a POST of `info.kind`."""
    if info.kind not in KINDS:
        raise ApiStatusError(405, f"{info.plural} cannot be created here", "MethodNotAllowed")
    if not isinstance(body, dict):
        raise bad_request(f"the body of the request must be a {info.kind} object")
    if body.get("kind") not in (None, "", info.kind):
        raise bad_request(f"the kind in the data ({body.get('kind')}) does not match the "
                          f"expected kind ({info.kind})")
    found = schema.check(info.kind, body, info.api_version)
    if found.error:  # decoded as upstream does: a field of the wrong type is a 400
        raise bad_request(schema.cannot_handle(info.kind, info.version, found.error))
    if ctx.user is None or ctx.auth is None:
        raise ApiStatusError(500, f"{info.kind}: the request carries no authenticated user",
                             "InternalError")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    out = {"kind": info.kind, "apiVersion": info.api_version,
           "metadata": dict(meta, creationTimestamp=None)}
    if info.kind == "SelfSubjectReview":
        return dict(out, status={"userInfo": ctx.user.to_api()})
    if info.kind == "TokenReview":
        return dict(out, spec=spec, status=_token_review(ctx, spec))
    if info.kind == "SelfSubjectRulesReview":
        ns = str(spec.get("namespace") or "")
        return dict(out, spec=spec, status=_rules_review(ctx, ctx.user, ns))
    if info.kind == "SelfSubjectAccessReview":
        attrs = _attributes(info.kind, ctx.user, spec)
        return dict(out, spec=spec, status=_decide(ctx, attrs))
    user = user_from_api(spec)
    if not user.name and not user.groups:
        raise invalid(info.kind, str(meta.get("name") or ""), [{
            "field": "spec.user", "reason": "FieldValueInvalid",
            "message": 'Invalid value: "": at least one of user or group must be specified'}],
            info.group)
    if info.kind == "LocalSubjectAccessReview":
        ns = namespace or str(meta.get("namespace") or "")
        if not ns:
            raise bad_request("namespace is required on this type: LocalSubjectAccessReview")
        ra = spec.get("resourceAttributes")
        if isinstance(ra, dict) and str(ra.get("namespace") or "") != ns:
            raise bad_request(f"spec.resourceAttributes.namespace must match namespace: {ns}")
        out["metadata"]["namespace"] = ns
    attrs = _attributes(info.kind, user, spec)
    return dict(out, spec=spec, status=_decide(ctx, attrs))


def _attributes(kind: str, user: UserInfo, spec: dict) -> rbac.Attributes:
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(ra, dict) == isinstance(nra, dict):
        raise invalid(kind, "", [{
            "field": "spec.resourceAttributes", "reason": "FieldValueInvalid",
            "message": "Invalid value: \"null\": exactly one of nonResourceAttributes or "
                       "resourceAttributes must be specified"}], "authorization.k8s.io")
    if isinstance(nra, dict):
        return rbac.Attributes(user, str(nra.get("verb") or ""), False,
                               path=str(nra.get("path") or ""))
    return rbac.Attributes(user, str(ra.get("verb") or ""), True,
                           str(ra.get("namespace") or ""), str(ra.get("group") or ""),
                           str(ra.get("version") or ""), str(ra.get("resource") or ""),
                           str(ra.get("subresource") or ""), str(ra.get("name") or ""))


def _decide(ctx: Ctx, attrs: rbac.Attributes) -> dict:
    decision = ctx.auth.authorizer.authorize(attrs)
    status: dict = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _rules_review(ctx: Ctx, user: UserInfo, namespace: str) -> dict:
    rules, errors = ctx.auth.authorizer.rules_for(user, namespace)
    resource_rules = [{k: v for k, v in r.to_api().items() if k != "nonResourceURLs"}
                      for r in rules if r.resources]
    non_resource = [{"verbs": list(r.verbs), "nonResourceURLs": list(r.non_resource_urls)}
                    for r in rules if r.non_resource_urls]
    status: dict = {"resourceRules": resource_rules, "nonResourceRules": non_resource,
                    "incomplete": bool(errors)}
    if errors:
        status["evaluationError"] = ", ".join(errors)
    return status


def _token_review(ctx: Ctx, spec: dict) -> dict:
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise bad_request("token is required for TokenReview in authentication")
    auds = spec.get("audiences")
    wanted = tuple(str(a) for a in auds) if isinstance(auds, list) and auds else None
    if ctx.auth.authenticator is None:
        return {"user": {}, "error": "token authentication is off (--insecure-http)"}
    try:
        user = ctx.auth.authenticator.authenticate_token(token, wanted)
    except authn.Unauthenticated as e:
        return {"user": {}, "error": str(e)}
    issuer = ctx.auth.authenticator.issuer
    audiences = list(wanted or (issuer.api_audiences if issuer is not None else ()))
    return {"authenticated": True, "user": user.to_api(), "audiences": audiences}
