"""ServiceAccount tokens: signed JWTs, as the TokenRequest API (``serviceaccounts/token``,
``kubectl create token``) issues them and the apiserver verifies them.

Signing: RS256 with an RSA key kept in the data dir (``sa.key``, like kubeadm's), through
PyJWT over the ``cryptography`` package the apiserver already uses for its certificates:
a maintained JWS implementation instead of hand-built base64 and signature code. The key
id (``kid``) is the unpadded base64url SHA-256 of the public key's DER form.

Claims are those of Kubernetes 1.32: ``iss``, ``sub`` (system:serviceaccount:NS:NAME),
``aud``, ``exp``, ``iat``, ``nbf``, ``jti`` and ``kubernetes.io`` {namespace,
serviceaccount {name, uid}, and pod/secret/node {name, uid} when bound to one}. A token
stays valid only while its ServiceAccount (same uid) and its bound object exist; the
caller checks that (``TokenClaims``), this module checks signature, issuer, audience and
time.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from k8snet.apiserver.identity import sa_username

ISSUER = "https://kubernetes.default.svc.cluster.local"
ALGORITHM = "RS256"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
LEEWAY = 60
BOUND_KINDS = ("Pod", "Secret", "Node")


class TokenInvalid(Exception):
    """The token is not one of ours, or no longer valid (the message says why)."""


def ensure_signing_key(data_dir: str) -> str:
    """Create ``sa.key`` (RSA 2048, PKCS#8 PEM, mode 0600) once; its path."""
    path = os.path.join(data_dir, "sa.key")
    if not os.path.exists(path):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.replace(tmp, path)
    return path


def load_signing_key(path: str) -> rsa.RSAPrivateKey:
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: the ServiceAccount signing key must be an RSA key")
    return key


def key_id(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says: whose it is and what it is bound to."""

    namespace: str
    name: str
    uid: str
    jti: str
    audiences: tuple[str, ...]
    expires: int
    bound: tuple[tuple[str, str, str], ...] = ()   # (kind, name, uid)

    @property
    def username(self) -> str:
        return sa_username(self.namespace, self.name)


class TokenIssuer:
    """Signs and verifies ServiceAccount JWTs with one key; the clock is injected."""

    def __init__(self, key: rsa.RSAPrivateKey, issuer: str = ISSUER,
                 api_audiences: tuple[str, ...] = (ISSUER,),
                 clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.public = key.public_key()
        self.kid = key_id(self.public)
        self.issuer = issuer
        self.api_audiences = api_audiences
        self.clock = clock

    def issue(self, namespace: str, name: str, uid: str, audiences: tuple[str, ...],
              expiration_seconds: int,
              bound: Optional[tuple[str, str, str]] = None) -> tuple[str, int]:
        """(token, expiry epoch seconds) for the ServiceAccount namespace/name of `uid`."""
        now = int(self.clock())
        exp = now + int(expiration_seconds)
        private: dict = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if bound is not None:
            private[bound[0].lower()] = {"name": bound[1], "uid": bound[2]}
        claims = {"aud": list(audiences), "exp": exp, "iat": now, "iss": self.issuer,
                  "jti": str(uuid.uuid4()), "kubernetes.io": private, "nbf": now,
                  "sub": sa_username(namespace, name)}
        token = jwt.encode(claims, self.key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, exp

    def verify(self, token: str, audiences: Optional[tuple[str, ...]] = None) -> TokenClaims:
        """Check signature, issuer, audience (default: the apiserver's) and validity time."""
        try:
            claims = jwt.decode(token, self.public, algorithms=[ALGORITHM],
                                options={"verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False, "verify_aud": False,
                                         "verify_iss": False})
        except jwt.PyJWTError as e:
            raise TokenInvalid(f"invalid bearer token: {e}") from None
        if claims.get("iss") != self.issuer:
            raise TokenInvalid("token issuer is not recognised")
        aud = claims.get("aud")
        token_auds = tuple(aud) if isinstance(aud, list) else (aud,) if isinstance(aud, str) \
            else ()
        wanted = audiences or self.api_audiences
        if not set(token_auds) & set(wanted):
            raise TokenInvalid("token audiences " + _list(token_auds) +
                               " is invalid for the target audiences " + _list(wanted))
        now = self.clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or now > exp + LEEWAY:
            raise TokenInvalid("service account token has expired")
        if isinstance(nbf, (int, float)) and now + LEEWAY < nbf:
            raise TokenInvalid("service account token is not valid yet")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict) or not isinstance(private.get("serviceaccount"), dict):
            raise TokenInvalid("token is not a ServiceAccount token")
        sa = private["serviceaccount"]
        ns, name, uid = private.get("namespace"), sa.get("name"), sa.get("uid")
        if not all(isinstance(x, str) and x for x in (ns, name, uid)):
            raise TokenInvalid("token is not a ServiceAccount token")
        if claims.get("sub") != sa_username(ns, name):
            raise TokenInvalid("token subject does not match its ServiceAccount")
        bound = tuple((kind, str(ref.get("name") or ""), str(ref.get("uid") or ""))
                      for kind in BOUND_KINDS
                      for ref in [private.get(kind.lower())] if isinstance(ref, dict))
        return TokenClaims(ns, name, uid, str(claims.get("jti") or ""), token_auds, int(exp),
                           bound)


def _list(values: tuple[str, ...]) -> str:
    return "[" + " ".join(values) + "]"


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def expiration_error(seconds: int) -> Optional[str]:
    """Why spec.expirationSeconds is invalid, or None."""
    if seconds < MIN_EXPIRATION:
        return "may not specify a duration less than 10 minutes"
    if seconds > MAX_EXPIRATION:
        return "may not specify a duration larger than 2^32 seconds"
    return None
