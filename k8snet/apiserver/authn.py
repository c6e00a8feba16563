"""Authentication: a request's bearer token -> the user, and impersonation headers -> the
user it acts as.

Token sources, in order: the admin token of the data dir (``kubernetes-admin`` in
``system:masters``), a static token file (``--token-auth-file``, Kubernetes' CSV
``token,user,uid,"group1,group2"``) and ServiceAccount JWTs (``satokens``), valid while
their ServiceAccount (same uid) and bound object exist. Every authenticated user is also in
``system:authenticated``. No credentials: None (the caller decides whether anonymous may
pass); a token nobody accepts: ``Unauthenticated``.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Optional

from k8snet.apiserver import identity as ident
from k8snet.apiserver.identity import UserInfo
from k8snet.apiserver.satokens import (
    LEEWAY,
    TokenClaims,
    TokenInvalid,
    TokenIssuer,
    looks_like_jwt,
)

Lookup = Callable[[str, str, str], Optional[dict]]
"""lookup(kind, namespace, name) -> the stored object or None (kinds: ServiceAccount, Pod,
Secret, Node; namespace "" for cluster-scoped)."""


class Unauthenticated(Exception):
    """A credential was presented and is not valid (the message says why)."""


def parse_token_file(text: str, source: str = "token file") -> tuple[dict[str, UserInfo],
                                                                       list[str]]:
    """(token -> user, warnings) from the CSV of ``--token-auth-file``. ValueError when a
    record has fewer than three columns."""
    users: dict[str, UserInfo] = {}
    warnings: list[str] = []
    for number, record in enumerate(csv.reader(io.StringIO(text), skipinitialspace=True), 1):
        if not record:
            continue
        if len(record) < 3:
            raise ValueError(f"token file '{source}' must have at least 3 columns (token, "
                             f"user name, user uid), found {len(record)}")
        token = record[0]
        if not token:
            warnings.append(f"empty token has been found in token file '{source}', record "
                            f"number '{number}'")
            continue
        if token in users:
            warnings.append(f"duplicate token has been found in token file '{source}', "
                            f"record number '{number}'")
        groups = tuple(record[3].split(",")) if len(record) >= 4 else ()
        users[token] = UserInfo(record[1], record[2], groups)
    return users, warnings


def authenticated(user: UserInfo) -> UserInfo:
    """The user with system:authenticated added (unless already in it or unauthenticated)."""
    if ident.AUTHENTICATED in user.groups or ident.UNAUTHENTICATED in user.groups:
        return user
    return UserInfo(user.name, user.uid, user.groups + (ident.AUTHENTICATED,), user.extra)


def admin_user() -> UserInfo:
    return UserInfo(ident.ADMIN_USER, groups=(ident.MASTERS,))


def bearer_token(authorization: str) -> Optional[str]:
    """The token of an `Authorization: Bearer X` header value, or None."""
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


VERIFIED_CACHE_SIZE = 4096


@dataclass
class Authenticator:
    """Static tokens (the admin's included) and ServiceAccount tokens.

    A ServiceAccount token whose signature was verified once is remembered (at most
    VERIFIED_CACHE_SIZE, each until it expires): a repeat skips the RSA check and the JWT
    parsing (about half of its cost). Whether its ServiceAccount and bound object still
    exist is checked on every request.
    """

    static: dict[str, UserInfo]
    issuer: Optional[TokenIssuer] = None
    lookup: Optional[Lookup] = None
    _verified: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def authenticate(self, authorization: Optional[str]) -> Optional[UserInfo]:
        """The user a request's Authorization header names; None without a bearer token."""
        token = bearer_token(authorization or "")
        if token is None:
            return None
        return self.authenticate_token(token)

    def authenticate_token(self, token: str,
                           audiences: Optional[tuple[str, ...]] = None) -> UserInfo:
        """The user of a token (Unauthenticated when invalid)."""
        # static tokens know no audience: they count for the apiserver's own audiences only
        api_auds = self.issuer.api_audiences if self.issuer is not None else ()
        if audiences is None or set(audiences) & set(api_auds):
            user = self.static.get(token)
            if user is not None:
                return authenticated(user)
        if self.issuer is not None and looks_like_jwt(token):
            try:
                claims = self._verify(token, audiences)
                self._still_valid(claims)
            except TokenInvalid as e:
                raise Unauthenticated(f"[invalid bearer token, {e}]") from None
            return authenticated(UserInfo(
                claims.username, claims.uid, ident.sa_groups(claims.namespace),
                ((ident.CREDENTIAL_ID, (f"JTI={claims.jti}",)),) if claims.jti else ()))
        raise Unauthenticated("invalid bearer token")

    def _verify(self, token: str, audiences: Optional[tuple[str, ...]]) -> TokenClaims:
        assert self.issuer is not None
        if audiences is not None:
            return self.issuer.verify(token, audiences)
        with self._lock:
            claims = self._verified.get(token)
            if claims is not None:
                self._verified.move_to_end(token)
        if claims is not None and self.issuer.clock() <= claims.expires + LEEWAY:
            return claims
        claims = self.issuer.verify(token)
        with self._lock:
            self._verified[token] = claims
            while len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return claims

    def _still_valid(self, claims: TokenClaims) -> None:
        if self.lookup is None:
            raise TokenInvalid("ServiceAccount tokens cannot be checked here")
        sa = self.lookup("ServiceAccount", claims.namespace, claims.name)
        if sa is None:
            raise TokenInvalid(f'serviceaccounts "{claims.name}" not found')
        meta = sa.get("metadata") or {}
        if meta.get("uid") != claims.uid:
            raise TokenInvalid(f"service account UID ({meta.get('uid')}) does not match "
                               f"claim ({claims.uid})")
        if meta.get("deletionTimestamp"):
            raise TokenInvalid(f"service account {claims.namespace}/{claims.name} has been "
                               f"deleted")
        for kind, name, uid in claims.bound:
            ns = "" if kind == "Node" else claims.namespace
            obj = self.lookup(kind, ns, name)
            plural = kind.lower() + "s"
            if obj is None:
                raise TokenInvalid(f'{plural} "{name}" not found')
            bmeta = obj.get("metadata") or {}
            if bmeta.get("uid") != uid:
                raise TokenInvalid(f"{kind.lower()} UID ({bmeta.get('uid')}) does not match "
                                   f"claim ({uid})")
            if bmeta.get("deletionTimestamp"):
                raise TokenInvalid(f"{kind.lower()} {name} is being deleted")


# -- impersonation ------------------------------------------------------------------------
@dataclass(frozen=True)
class ImpersonationRequest:
    """One thing the requester asks to act as; `check` is what must authorize it."""

    kind: str          # ServiceAccount | User | Group | UID | UserExtra
    name: str
    namespace: str = ""
    extra_key: str = ""

    def resource(self) -> tuple[str, str, str]:
        """(api group, resource, subresource) the `impersonate` verb is checked on."""
        return {"ServiceAccount": ("", "serviceaccounts", ""), "User": ("", "users", ""),
                "Group": ("", "groups", ""), "UID": ("authentication.k8s.io", "uids", ""),
                "UserExtra": ("authentication.k8s.io", "userextras", self.extra_key)
                }[self.kind]


IMPERSONATE_USER = "impersonate-user"
IMPERSONATE_GROUP = "impersonate-group"
IMPERSONATE_UID = "impersonate-uid"
IMPERSONATE_EXTRA = "impersonate-extra-"


def impersonation_requests(headers: list[tuple[str, str]]) -> list[ImpersonationRequest]:
    """What the Impersonate-* headers ask for ([] when none). ValueError when groups, uid or
    extras come without a user."""
    out: list[ImpersonationRequest] = []
    low = [(k.lower(), v) for k, v in headers]
    user = next((v for k, v in low if k == IMPERSONATE_USER and v), "")
    if user:
        sa = ident.split_sa_username(user)
        out.append(ImpersonationRequest("ServiceAccount", sa[1], sa[0]) if sa
                   else ImpersonationRequest("User", user))
    others = [ImpersonationRequest("Group", v) for k, v in low if k == IMPERSONATE_GROUP]
    others += [ImpersonationRequest("UserExtra", v, extra_key=k[len(IMPERSONATE_EXTRA):])
               for k, v in low if k.startswith(IMPERSONATE_EXTRA)]
    uid = next((v for k, v in low if k == IMPERSONATE_UID and v), "")
    if uid:
        others.append(ImpersonationRequest("UID", uid))
    if others and not user:
        raise ValueError("requested " + ", ".join(f"{r.kind} {r.name}" for r in others) +
                         " without impersonating a user")
    return out + others


def impersonated_user(requests: list[ImpersonationRequest]) -> UserInfo:
    """The user the (authorized) requests describe, with Kubernetes' implied groups."""
    name = ""
    uid = ""
    groups: tuple[str, ...] = ()
    extra: dict[str, list[str]] = {}
    groups_given = any(r.kind == "Group" for r in requests)
    for r in requests:
        if r.kind == "ServiceAccount":
            name = ident.sa_username(r.namespace, r.name)
            if not groups_given:
                groups = ident.sa_groups(r.namespace)
        elif r.kind == "User":
            name = r.name
        elif r.kind == "Group":
            groups += (r.name,)
        elif r.kind == "UID":
            uid = r.name
        else:
            extra.setdefault(r.extra_key, []).append(r.name)
    if name == ident.ANONYMOUS:
        groups = ident.with_group(groups, ident.UNAUTHENTICATED)
    elif ident.UNAUTHENTICATED not in groups:
        groups = ident.with_group(groups, ident.AUTHENTICATED)
    return UserInfo(name, uid, groups, tuple((k, tuple(v)) for k, v in sorted(extra.items())))
