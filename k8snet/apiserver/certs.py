"""The apiserver's TLS material, bearer token and kubeconfig.

Files in the data dir (created once, reused on restart):
``ca.crt``/``ca.key`` (self-signed CA), ``apiserver.crt``/``apiserver.key``
(serving cert signed by the CA; regenerated when the wanted SANs change),
``token`` (random bearer token, mode 0600).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from typing import Iterable

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the generated material."""

    ca_cert: str
    cert: str
    key: str
    token_file: str


def wanted_sans(bind_address: str, extra: Iterable[str]) -> list[str]:
    """SANs for the serving cert: bind IP (unless wildcard), loopback, localhost, extras."""
    sans = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default",
            "kubernetes.default.svc", "10.96.0.1"]
    if bind_address and bind_address not in ("0.0.0.0", "::"):
        sans.append(bind_address)
    sans.extend(extra)
    out: list[str] = []
    for s in sans:
        if s and s not in out:
            out.append(s)
    return out


def _san_entries(sans: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for s in sans:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            entries.append(x509.DNSName(s))
    return entries


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_sans(cert_path: str) -> list[str]:
    with open(cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in ext.get_values_for_type(x509.IPAddress)] + \
        list(ext.get_values_for_type(x509.DNSName))


def ensure_tls(data_dir: str, sans: list[str]) -> TlsFiles:
    """Create (or reuse) the CA, serving cert and token under data_dir."""
    os.makedirs(data_dir, exist_ok=True)
    files = TlsFiles(os.path.join(data_dir, "ca.crt"), os.path.join(data_dir, "apiserver.crt"),
                     os.path.join(data_dir, "apiserver.key"), os.path.join(data_dir, "token"))
    ca_key_path = os.path.join(data_dir, "ca.key")
    now = datetime.datetime.now(datetime.timezone.utc)
    if not (os.path.exists(files.ca_cert) and os.path.exists(ca_key_path)):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8snet-ca")])
        ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5))
              .not_valid_after(now + datetime.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                           False, False), critical=True)
              .sign(ca_key, hashes.SHA256()))
        _write(ca_key_path, _key_pem(ca_key), 0o600)
        _write(files.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
        if os.path.exists(files.cert):
            os.unlink(files.cert)
    with open(files.ca_cert, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    with open(ca_key_path, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    if not (os.path.exists(files.cert) and os.path.exists(files.key)
            and set(sans) <= set(_load_sans(files.cert))):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            "kube-apiserver")]))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.SubjectAlternativeName(_san_entries(sans)), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write(files.key, _key_pem(key), 0o600)
        _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
    if not os.path.exists(files.token_file):
        _write(files.token_file, secrets.token_hex(24).encode() + b"\n", 0o600)
    return files


def read_token(path: str) -> str:
    """The bearer token stored in the data dir."""
    with open(path) as f:
        return f.read().strip()


def render_kubeconfig(server: str, ca_pem: bytes, token: str, name: str = "k8snet") -> dict:
    """A standard kubeconfig (pure)."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin",
                                                 "namespace": "default"}}],
        "current-context": name,
    }


def write_kubeconfig(path: str, server: str, files: TlsFiles) -> None:
    """Write the kubeconfig for `server` with the CA and token (mode 0600)."""
    with open(files.ca_cert, "rb") as f:
        ca_pem = f.read()
    doc = render_kubeconfig(server, ca_pem, read_token(files.token_file))
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    _write(path, yaml.safe_dump(doc, sort_keys=False).encode(), 0o600)
