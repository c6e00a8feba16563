"""The kubelet server's TLS, in one place: its certificate and whom it accepts.

Like a kubelet started without a serving certificate, it makes its own
self-signed one (kept under the kubelet's root dir, reused on restart). Like a
kubelet with ``--client-ca-file``, it admits only clients presenting a
certificate signed by the cluster CA: the CA found in the kubelet's own
kubeconfig, which the apiserver's kubelet-client certificate is signed by
(k8snet.apiserver.kubeletclient). The apiserver does not check the kubelet's
certificate, as upstream does not without ``--kubelet-certificate-authority``.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
from typing import Optional

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOG = logging.getLogger(__name__)


def ensure_serving_cert(cert_dir: str, node_name: str, node_ip: str) -> tuple[str, str]:
    """(cert path, key path) of the self-signed serving certificate for this node."""
    cert, key = (os.path.join(cert_dir, f"kubelet.{ext}") for ext in ("crt", "key"))
    if os.path.exists(cert) and os.path.exists(key):
        return cert, key
    os.makedirs(cert_dir, exist_ok=True)
    pkey = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@kubelet")])
    crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
           .public_key(pkey.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(now - datetime.timedelta(minutes=5))
           .not_valid_after(now + datetime.timedelta(days=3650))
           .add_extension(x509.SubjectAlternativeName(
               [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(node_ip))]),
               critical=False)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                          critical=False)
           .sign(pkey, hashes.SHA256()))
    fd = os.open(key + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    with open(cert + ".tmp", "wb") as fh:
        fh.write(crt.public_bytes(serialization.Encoding.PEM))
    os.replace(key + ".tmp", key)
    os.replace(cert + ".tmp", cert)
    return cert, key


def server_context(cert_dir: str, node_name: str, node_ip: str,
                   client_ca_pem: Optional[str]) -> ssl.SSLContext:
    """TLS for the kubelet's port: client certificates from the cluster CA required."""
    cert, key = ensure_serving_cert(cert_dir, node_name, node_ip)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if client_ca_pem:
        ctx.load_verify_locations(cadata=client_ca_pem)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        LOG.warning("the kubeconfig names no CA: the kubelet's port accepts any client")
    return ctx
