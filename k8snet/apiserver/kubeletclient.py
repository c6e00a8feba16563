"""How the apiserver talks to kubelets, in one place: its client certificate.

The apiserver proves who it is to the kubelet's port with a certificate signed
by the cluster CA (``apiserver-kubelet-client.crt``, as kubeadm names it,
signed by the cluster CA in the PKI dir, shared by every master (see
k8snet.apiserver.certs), and kept in this apiserver's data dir); the kubelet
admits clients of that CA only (k8snet.kubelet.servingtls). As upstream
without ``--kubelet-certificate-authority``, the kubelet's self-signed serving
certificate is not checked. Masters sharing a CA share this trust too.
"""

from __future__ import annotations

import datetime
import os
import ssl
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k8snet.apiserver import certs

CLIENT_CERT = "apiserver-kubelet-client.crt"
CLIENT_KEY = "apiserver-kubelet-client.key"


def ensure_client_cert(data_dir: str, pki_dir: Optional[str] = None) -> tuple[str, str]:
    """(cert, key) paths in ``data_dir``, signed once by the CA in ``pki_dir`` (default:
    ``data_dir``) and remade when the CA changes."""
    cert_path, key_path = (os.path.join(data_dir, n) for n in (CLIENT_CERT, CLIENT_KEY))
    pki = certs.cluster_pki(pki_dir or data_dir)
    with open(pki.ca_cert, "rb") as fh:
        ca = x509.load_pem_x509_certificate(fh.read())
    if os.path.exists(cert_path) and os.path.exists(key_path):
        with open(cert_path, "rb") as fh:
            if x509.load_pem_x509_certificate(fh.read()).issuer == ca.subject:
                return cert_path, key_path
    with open(pki.ca_key, "rb") as fh:
        ca_key = serialization.load_pem_private_key(fh.read(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver-kubelet-client")]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    fd = os.open(key_path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    with open(cert_path + ".tmp", "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(key_path + ".tmp", key_path)
    os.replace(cert_path + ".tmp", cert_path)
    return cert_path, key_path


def client_context(data_dir: str, pki_dir: Optional[str] = None) -> ssl.SSLContext:
    """TLS towards kubelets: present the client certificate, do not verify theirs."""
    cert, key = ensure_client_cert(data_dir, pki_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(cert, key)
    return ctx
