"""Who a request comes from: the user record authentication produces and authorization
reads, and the naming rules Kubernetes fixes for it (pure).

Names follow Kubernetes 1.32: the admin is ``kubernetes-admin`` in ``system:masters``;
a ServiceAccount ``app`` in namespace ``demo`` is the user
``system:serviceaccount:demo:app`` in the groups ``system:serviceaccounts`` and
``system:serviceaccounts:demo``; every authenticated user is also in
``system:authenticated``; a request without credentials is ``system:anonymous`` in
``system:unauthenticated``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SERVICEACCOUNTS = "system:serviceaccounts"
SA_PREFIX = "system:serviceaccount:"
ADMIN_USER = "kubernetes-admin"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) user: name, uid, groups and extra attributes."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def extra_dict(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.extra}

    def to_api(self) -> dict:
        """The UserInfo object of authentication.k8s.io/v1 (empty fields omitted)."""
        out: dict = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = self.extra_dict()
        return out


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(UNAUTHENTICATED,))


def with_group(groups: tuple[str, ...], group: str) -> tuple[str, ...]:
    """groups plus `group` at the end unless already there."""
    return groups if group in groups else groups + (group,)


def sa_username(namespace: str, name: str) -> str:
    """system:serviceaccount:NS:NAME."""
    return f"{SA_PREFIX}{namespace}:{name}"


def split_sa_username(username: str) -> Optional[tuple[str, str]]:
    """(namespace, name) when username names a ServiceAccount, else None."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX):].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def sa_groups(namespace: str) -> tuple[str, ...]:
    """The groups every ServiceAccount of `namespace` is in (before system:authenticated)."""
    return SERVICEACCOUNTS, f"{SERVICEACCOUNTS}:{namespace}"


def user_from_api(obj: dict) -> UserInfo:
    """A UserInfo from the fields of a SubjectAccessReview spec (user, groups, uid, extra)."""
    extra = obj.get("extra") if isinstance(obj.get("extra"), dict) else {}
    return UserInfo(str(obj.get("user") or ""), str(obj.get("uid") or ""),
                    tuple(str(g) for g in obj.get("groups") or () if isinstance(g, str)),
                    tuple((str(k), tuple(str(x) for x in v or ()))
                          for k, v in sorted(extra.items())))
