"""The apiserver's TLS material, bearer token and kubeconfig.

Two directories, which are the same one for a lone apiserver:

- the *cluster PKI dir*, shared by every apiserver of a cluster (and by
  anything else that must be trusted by the cluster's clients, such as a
  kubelet's serving certificate): ``ca.crt``/``ca.key`` (the self-signed
  cluster CA), ``token`` (the admin bearer token, mode 0600) and ``sa.key``
  (the ServiceAccount signing key, see satokens). ``ensure_cluster_pki``
  makes them once, under a file lock, so apiservers starting side by side
  agree on one CA and one set of credentials;
- each apiserver's *data dir*: ``apiserver.crt``/``apiserver.key``, its own
  serving certificate signed by the cluster CA (regenerated when the wanted
  SANs change). ``issue_cert`` signs any such leaf.
"""

from __future__ import annotations

import base64
import datetime
import fcntl
import ipaddress
import os
import secrets
from dataclasses import dataclass
from typing import Iterable, Optional

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
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


def _new_ca(ca_cert: str, ca_key: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8snet-ca")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                       False, False), critical=True)
          .sign(key, hashes.SHA256()))
    _write(ca_key, _key_pem(key), 0o600)
    _write(ca_cert, ca.public_bytes(serialization.Encoding.PEM))


@dataclass(frozen=True)
class ClusterPki:
    """Paths of the material every apiserver of one cluster shares."""

    dir: str
    ca_cert: str
    ca_key: str
    token_file: str
    sa_key: str


def cluster_pki(pki_dir: str) -> ClusterPki:
    """Where the shared material lives in ``pki_dir`` (pure)."""
    return ClusterPki(pki_dir, os.path.join(pki_dir, "ca.crt"), os.path.join(pki_dir, "ca.key"),
                      os.path.join(pki_dir, "token"), os.path.join(pki_dir, "sa.key"))


def ensure_cluster_pki(pki_dir: str) -> ClusterPki:
    """Create the cluster CA, admin token and ServiceAccount signing key in ``pki_dir``
    if missing; reuse them otherwise. Safe to call from several processes at once: the
    first makes them under an exclusive lock, the others read what it made."""
    from k8snet.apiserver import satokens

    os.makedirs(pki_dir, exist_ok=True)
    pki = cluster_pki(pki_dir)
    fd = os.open(os.path.join(pki_dir, ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not (os.path.exists(pki.ca_cert) and os.path.exists(pki.ca_key)):
            _new_ca(pki.ca_cert, pki.ca_key)
        if not os.path.exists(pki.token_file):
            _write(pki.token_file, secrets.token_hex(24).encode() + b"\n", 0o600)
        satokens.ensure_signing_key(pki_dir)
    finally:
        os.close(fd)  # releases the lock
    return pki


def issue_cert(pki: ClusterPki, cert_path: str, key_path: str, common_name: str,
               sans: list[str], usage=ExtendedKeyUsageOID.SERVER_AUTH) -> None:
    """Sign a leaf certificate for ``sans`` with the cluster CA, unless the one at
    ``cert_path`` already covers them and was signed by this CA (kept across restarts)."""
    with open(pki.ca_cert, "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    if os.path.exists(cert_path) and os.path.exists(key_path):
        with open(cert_path, "rb") as f:
            have = x509.load_pem_x509_certificate(f.read())
        if have.issuer == ca.subject and set(sans) <= set(_load_sans(cert_path)):
            try:
                have.verify_directly_issued_by(ca)
                return
            except (ValueError, TypeError, InvalidSignature):
                pass
    with open(pki.ca_key, "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(_san_entries(sans)), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def ensure_tls(data_dir: str, sans: list[str], pki_dir: Optional[str] = None) -> TlsFiles:
    """The cluster PKI in ``pki_dir`` (default: ``data_dir``) and this apiserver's serving
    certificate in ``data_dir``, made when missing."""
    os.makedirs(data_dir, exist_ok=True)
    pki = ensure_cluster_pki(pki_dir or data_dir)
    files = TlsFiles(pki.ca_cert, os.path.join(data_dir, "apiserver.crt"),
                     os.path.join(data_dir, "apiserver.key"), pki.token_file)
    issue_cert(pki, files.cert, files.key, "kube-apiserver", sans)
    return files


def read_token(path: str) -> str:
    """The bearer token stored in the data dir."""
    with open(path) as f:
        return f.read().strip()


def render_kubeconfig(server: str, ca_pem: bytes, token: str, name: str = "k8snet",
                      servers: Iterable[str] = ()) -> dict:
    """A standard kubeconfig (pure). With several ``servers`` (HA masters), the cluster
    also lists them all in the k8snet.io/servers extension, which k8snet's clients fail
    over along (k8snet.machinery.client) and kubectl ignores."""
    cluster: dict = {"server": server,
                     "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    others = [s for s in servers if s != server]
    if others:
        cluster["extensions"] = [{"name": "k8snet.io/servers",
                                  "extension": {"servers": [server, *others]}}]
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin",
                                                 "namespace": "default"}}],
        "current-context": name,
    }


def write_kubeconfig(path: str, server: str, files: TlsFiles, servers: Iterable[str] = ()) -> None:
    """Write the kubeconfig for `server` (and failover `servers`) with the CA and token
    (mode 0600)."""
    with open(files.ca_cert, "rb") as f:
        ca_pem = f.read()
    doc = render_kubeconfig(server, ca_pem, read_token(files.token_file), servers=servers)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    _write(path, yaml.safe_dump(doc, sort_keys=False).encode(), 0o600)
