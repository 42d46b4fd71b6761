"""Mutual TLS for the association linkage endpoint: a development certificate authority, the
endpoint's server certificate and one client certificate per association (`ipss certs`), the
gRPC credentials made of them, and the fingerprint that names a client certificate in the
registry. In production the CA is the province's own and these files come from cluster secrets."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from suite import config

# The names the linkage endpoint answers to: on one machine, and behind its Kubernetes service.
SERVER_NAMES = ("localhost", "linkage", "linkage.ipss.svc", "linkage.ipss.svc.cluster.local")
SERVER_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class KeyPair:
    certificate: Path
    key: Path

    def read(self) -> tuple[bytes, bytes]:
        return self.key.read_bytes(), self.certificate.read_bytes()


def certs_dir() -> Path:
    path = config.var_dir() / "certs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def authority_pair(directory: Path | None = None) -> KeyPair:
    directory = directory or certs_dir()
    return KeyPair(directory / "ca.pem", directory / "ca.key")


def server_pair(directory: Path | None = None) -> KeyPair:
    directory = directory or certs_dir()
    return KeyPair(directory / "linkage-server.pem", directory / "linkage-server.key")


def association_pair(association_id: str, directory: Path | None = None) -> KeyPair:
    directory = (directory or certs_dir()) / "associations"
    return KeyPair(directory / f"{association_id}.pem", directory / f"{association_id}.key")


def fingerprint(certificate_pem: bytes) -> str:
    """Lower-case hex SHA-256 of the certificate's DER encoding: what the registry keys it by."""
    der = x509.load_pem_x509_certificate(certificate_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def not_after(certificate_pem: bytes) -> datetime.date:
    return x509.load_pem_x509_certificate(certificate_pem).not_valid_after_utc.date()


def _write(pair: KeyPair, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> KeyPair:
    pair.certificate.parent.mkdir(parents=True, exist_ok=True)
    pair.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pair.key.chmod(0o600)
    pair.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return pair


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ipss"),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key, valid_from: datetime.datetime,
             valid_to: datetime.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(valid_from).not_valid_after(valid_to))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def make_authority(pair: KeyPair, days: int = 3650) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("ipss development CA", "certificate authority")
    certificate = (_builder(name, name, key.public_key(), _now() - datetime.timedelta(hours=1),
                            _now() + datetime.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(key, hashes.SHA256()))
    return _write(pair, key, certificate)


def _issue(authority: KeyPair, pair: KeyPair, common_name: str, unit: str, usage, names: x509.SubjectAlternativeName
           | None, valid_from: datetime.datetime, valid_to: datetime.datetime) -> KeyPair:
    ca_key = serialization.load_pem_private_key(authority.key.read_bytes(), password=None)
    ca_certificate = x509.load_pem_x509_certificate(authority.certificate.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(_name(common_name, unit), ca_certificate.subject, key.public_key(), valid_from, valid_to)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if names is not None:
        builder = builder.add_extension(names, critical=False)
    return _write(pair, key, builder.sign(ca_key, hashes.SHA256()))


def issue_server(authority: KeyPair, pair: KeyPair, days: int = 825) -> KeyPair:
    names = x509.SubjectAlternativeName([*(x509.DNSName(n) for n in SERVER_NAMES),
                                         *(x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_ADDRESSES)])
    return _issue(authority, pair, "linkage", "association linkage endpoint", ExtendedKeyUsageOID.SERVER_AUTH,
                  names, _now() - datetime.timedelta(hours=1), _now() + datetime.timedelta(days=days))


def issue_client(authority: KeyPair, pair: KeyPair, association_id: str, days: int = 365,
                 valid_from: datetime.datetime | None = None) -> KeyPair:
    """A client certificate naming the association (CN). What identifies the caller is the
    registry's record of this certificate's fingerprint, not the name in it."""
    valid_from = valid_from or _now() - datetime.timedelta(hours=1)
    return _issue(authority, pair, association_id, "industry association", ExtendedKeyUsageOID.CLIENT_AUTH, None,
                  valid_from, valid_from + datetime.timedelta(days=days))


def ensure_server(directory: Path | None = None) -> tuple[KeyPair, KeyPair]:
    """The CA and the server certificate, made once on this machine and kept."""
    authority = authority_pair(directory)
    if not authority.certificate.exists():
        make_authority(authority)
    server = server_pair(directory)
    if not server.certificate.exists():
        issue_server(authority, server)
    return authority, server


def mounted_server(directory: Path) -> tuple[KeyPair, KeyPair]:
    """The CA and server certificate an operator mounted: nothing is made (a production CA's key
    never sits beside the server), and a missing file stops the endpoint at start-up."""
    authority, server = authority_pair(directory), server_pair(directory)
    missing = [p for p in (authority.certificate, server.certificate, server.key) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"the linkage endpoint's TLS files are missing: {', '.join(map(str, missing))}")
    return authority, server


def server_credentials(authority: KeyPair, server: KeyPair) -> grpc.ServerCredentials:
    """TLS that requires a client certificate signed by the authority (checked in the handshake:
    an unknown issuer or an expired certificate never reaches a handler)."""
    return grpc.ssl_server_credentials([server.read()], root_certificates=authority.certificate.read_bytes(),
                                       require_client_auth=True)


def client_credentials(authority_certificate: Path, client: KeyPair) -> grpc.ChannelCredentials:
    key, certificate = client.read()
    return grpc.ssl_channel_credentials(root_certificates=authority_certificate.read_bytes(), private_key=key,
                                        certificate_chain=certificate)
