"""What the HTTP layer asks about each request, in order: who sent it (authentication), who
it acts as (impersonation), may it do this (authorization), and, for writes of RBAC
objects, does it grant more than its author holds (escalation).

Anonymous requests (no bearer token) pass authentication only on the public paths
/version, /healthz, /livez and /readyz, then RBAC (system:public-info-viewer) decides;
anywhere else they get 401. This is kube-apiserver with the 1.32 structured anonymous
configuration limited to those paths, the hardened setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from k8snet.apiserver import authn, authz
from k8snet.apiserver.identity import ANONYMOUS_USER, AUTHENTICATED, MASTERS, UserInfo
from k8snet.apiserver.metrics import ApiMetrics
from k8snet.apiserver.rbac import Attributes
from k8snet.apiserver.rbaccache import RbacCache
from k8snet.apiserver.status import ApiStatusError
from k8snet.machinery.resources import KindInfo

ANONYMOUS_PATHS = ("/version", "/version/", "/healthz", "/livez", "/readyz")
UNSECURED_USER = UserInfo("system:unsecured", groups=(MASTERS, AUTHENTICATED))
WRITE_VISIBLE_TIMEOUT = 2.0


def unauthorized() -> ApiStatusError:
    return ApiStatusError(401, "Unauthorized", "Unauthorized")


@dataclass
class Auth:
    """Authentication, impersonation, authorization and escalation checks for a server.

    `authenticator` None means no authentication at all (``--insecure-http``): every
    request is ``system:unsecured`` in system:masters, as the old insecure port was.
    """

    authenticator: Optional[authn.Authenticator]
    authorizer: authz.Authorizer
    cache: Optional[RbacCache] = None
    metrics: Optional[ApiMetrics] = None

    def user_for(self, authorization: Optional[str], path: str) -> UserInfo:
        """The requester; 401 for a bad token, or no token off the public paths."""
        if self.authenticator is None:
            return UNSECURED_USER
        try:
            user = self.authenticator.authenticate(authorization)
        except authn.Unauthenticated:
            self._count_authn("failure")
            raise unauthorized() from None
        if user is None:
            if path in ANONYMOUS_PATHS:
                return ANONYMOUS_USER
            raise unauthorized()
        self._count_authn("success")
        return user

    def act_as(self, user: UserInfo, headers: list[tuple[str, str]]) -> UserInfo:
        """The user after the Impersonate-* headers (each one authorized); 403 if not."""
        try:
            requests = authn.impersonation_requests(headers)
        except ValueError as e:
            raise ApiStatusError(500, f"Internal error occurred: {e}", "InternalError") \
                from None
        if not requests:
            return user
        for r in requests:
            group, resource, sub = r.resource()
            attrs = Attributes(user, "impersonate", True, r.namespace, group, "", resource,
                               sub, r.name)
            decision = self.authorizer.authorize(attrs)
            if not decision.allowed:
                raise authz.denied(attrs, decision.reason)
        return authn.impersonated_user(requests)

    def authorize(self, attrs: Attributes) -> None:
        """403 (Kubernetes' wording) unless allowed."""
        decision = self.authorizer.authorize(attrs)
        if self.metrics is not None:
            self.metrics.authz.labels("allowed" if decision.allowed else "denied",
                                      "RBAC").inc()
        if not decision.allowed:
            raise authz.denied(attrs, decision.reason)

    def admission(self, user: UserInfo) -> Callable[[KindInfo, dict, Optional[dict]], None]:
        """The write check for the registry (Ctx.admit): escalation on RBAC kinds."""
        def admit(info: KindInfo, obj: dict, old: Optional[dict]) -> None:
            if info.kind in authz.RBAC_KINDS:
                self.authorizer.check_write(user, info.kind, obj, old)
        return admit

    def written(self, key: str, revision: Optional[int]) -> None:
        """After an RBAC write: wait (bounded) until the authorizer's cache has it, so the
        next request is judged by it (revision None: the object is gone)."""
        if self.cache is not None:
            self.cache.wait_observed(key, revision, WRITE_VISIBLE_TIMEOUT)

    def _count_authn(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.authn.labels(result).inc()
