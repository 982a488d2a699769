# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's test CA and the PKCS#7 signing of attested documents.

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import atexit
import base64
import datetime
import json
import os
import shutil
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID, AuthorityInformationAccessOID

ROOT_CERT = "ca.pem"
ROOT_KEY = "ca.key"
INTERMEDIATE_CERT = "intermediate.pem"
INTERMEDIATE_KEY = "intermediate.key"
# Where the emulator serves the intermediate (DER), the "CA Issuers" URL of its signing certificates.
INTERMEDIATE_PATH = "/_emulator/ca/intermediate.crt"

DOMAINS = {
    "azurepubliccloud": "metadata.azure.com",
    "azureusgovernmentcloud": "metadata.azure.us",
    "azurechinacloud": "metadata.azure.cn",
    "azuregermancloud": "metadata.microsoftazure.de",
}

_LOCK = threading.Lock()
_CAS = {}


def metadata_domain(az_environment):
    """The attested-document signing domain for a ``compute.azEnvironment`` value (any case)."""
    return DOMAINS.get(str(az_environment or "").lower(), DOMAINS["azurepubliccloud"])


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common_name, org="IMDS Emulator (test only)"):
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ca_cert(subject, key, issuer_name, issuer_key, path_length, days=3650):
    now = _utcnow()
    builder = (x509.CertificateBuilder()
               .subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer_key is not key:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


class CertificateAuthority:
    """A root CA and an intermediate CA, generated or loaded from ``directory``."""

    def __init__(self, directory, label="IMDS Emulator Test", write=True):
        self.directory = directory
        self.ca_cert_path = os.path.join(directory, ROOT_CERT)
        self.intermediate_cert_path = os.path.join(directory, INTERMEDIATE_CERT)
        self._leaves = {}
        self._lock = threading.Lock()
        paths = [os.path.join(directory, name) for name in (ROOT_CERT, ROOT_KEY, INTERMEDIATE_CERT, INTERMEDIATE_KEY)]
        if all(os.path.exists(path) for path in paths):
            self._load(paths)
            return
        self.root_key = _key()
        root_name = _name("%s Root CA" % label)
        self.root_cert = _ca_cert(root_name, self.root_key, root_name, self.root_key, path_length=1)
        self.intermediate_key = _key()
        self.intermediate_cert = _ca_cert(_name("%s Issuing CA 01" % label), self.intermediate_key, root_name, self.root_key, path_length=0)
        if write:
            os.makedirs(directory, exist_ok=True)
            for path, data in zip(paths, (self.root_cert.public_bytes(serialization.Encoding.PEM), _pem_key(self.root_key),
                                          self.intermediate_cert.public_bytes(serialization.Encoding.PEM), _pem_key(self.intermediate_key))):
                with open(path, "wb") as handle:
                    handle.write(data)
                if path.endswith(".key"):
                    os.chmod(path, 0o600)

    def _load(self, paths):
        blobs = []
        for path in paths:
            with open(path, "rb") as handle:
                blobs.append(handle.read())
        self.root_cert = x509.load_pem_x509_certificate(blobs[0])
        self.root_key = serialization.load_pem_private_key(blobs[1], password=None)
        self.intermediate_cert = x509.load_pem_x509_certificate(blobs[2])
        self.intermediate_key = serialization.load_pem_private_key(blobs[3], password=None)

    def leaf(self, sans, expired=False, ca_issuers=()):
        """A (certificate, key) pair for the signing leaf, cached per parameters.

        ``ca_issuers``: the URLs of its AIA "CA Issuers" entries (where a verifier downloads the issuer).
        """
        ca_issuers = tuple(ca_issuers or ())
        cache_key = (tuple(sans), bool(expired), ca_issuers)
        with self._lock:
            if cache_key in self._leaves:
                return self._leaves[cache_key]
            key = _key()
            now = _utcnow()
            if expired:
                start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
            else:
                start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365)
            common_name = sans[-1] if sans else "metadata.azure.com"
            subject = x509.Name([
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                x509.NameAttribute(NameOID.LOCALITY_NAME, "Redmond"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IMDS Emulator (test only)"),
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            ])
            builder = (x509.CertificateBuilder()
                       .subject_name(subject).issuer_name(self.intermediate_cert.subject).public_key(key.public_key())
                       .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                       .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                       .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                                    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                    encipher_only=False, decipher_only=False), critical=True)
                       .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                       .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()), critical=False))
            if sans:
                builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False)
            if ca_issuers:
                builder = builder.add_extension(x509.AuthorityInformationAccess([
                    x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))
                    for url in ca_issuers]), critical=False)
            pair = (builder.sign(self.intermediate_key, hashes.SHA256()), key)
            self._leaves[cache_key] = pair
            return pair


def _temporary_dir(prefix):
    """A private temporary directory removed when the process exits.

    atexit does not run in a process that ends with os._exit (ansible-core's forked workers do,
    and they run test connection plugins that start emulators), so the directories live in one
    parent per user, named after their process, and each new one first removes those of
    processes that are gone.
    """
    parent = os.path.join(tempfile.gettempdir(), "imds-emulator-%d" % os.getuid())
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        owned = os.stat(parent).st_uid == os.getuid()
    except OSError:
        owned = False
    if owned:
        _remove_orphans(parent)
    directory = tempfile.mkdtemp(prefix="%s%d-" % (prefix, os.getpid()), dir=parent if owned else None)
    atexit.register(shutil.rmtree, directory, True)
    return directory


def _remove_orphans(parent):
    """Remove the directories of ``parent`` whose process no longer exists."""
    for name in os.listdir(parent):
        try:
            pid = int(name.rsplit("-", 2)[-2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(parent, name), True)
        except (ValueError, IndexError, OSError):
            continue


def get_ca(ca_dir=None):
    """The process-wide CA for ``ca_dir`` (default: a private temporary directory)."""
    with _LOCK:
        cache_key = os.path.abspath(ca_dir) if ca_dir else None
        if cache_key not in _CAS:
            directory = cache_key or _temporary_dir("imds-emulator-ca-")
            _CAS[cache_key] = CertificateAuthority(directory)
        return _CAS[cache_key]


def get_untrusted_ca():
    """A second CA that is never written where users trust it (for the untrusted_ca knob)."""
    with _LOCK:
        if "untrusted" not in _CAS:
            _CAS["untrusted"] = CertificateAuthority(_temporary_dir("imds-emulator-untrusted-"), label="Untrusted Emulator", write=True)
        return _CAS["untrusted"]


def format_timestamp(moment):
    """``MM/dd/yy HH:mm:ss -0000`` (UTC)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%m/%d/%y %H:%M:%S -0000")


def default_nonce(moment=None):
    """``yyyyMMdd-HHmmss`` of the current UTC time."""
    return (moment or _utcnow()).astimezone(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")


def document_content(compute, version, nonce, lifetime, expired=False, now=None):
    """The JSON content of an attested document for ``compute`` at ``version`` (dict, key order as IMDS)."""
    now = now or _utcnow()
    if expired:
        created = now - datetime.timedelta(seconds=lifetime + 3600)
    else:
        created = now
    expires = created + datetime.timedelta(seconds=lifetime)
    plan = compute.get("plan") or {}
    content = {
        "nonce": nonce,
        "plan": {"name": plan.get("name", ""), "product": plan.get("product", ""), "publisher": plan.get("publisher", "")},
        "timeStamp": {"createdOn": format_timestamp(created), "expiresOn": format_timestamp(expires)},
        "vmId": compute.get("vmId", ""),
    }
    if version >= "2020-09-01":
        content["licenseType"] = compute.get("licenseType", "")
    if version >= "2019-04-30":
        content["subscriptionId"] = compute.get("subscriptionId", "")
    if version >= "2019-11-01":
        content["sku"] = compute.get("sku", "")
    return content


def sign(data, cert, key, extra_certs=(), signed_attributes=False):
    """DER PKCS#7 SignedData over ``data`` (content attached), SHA-256, by default without signed attributes."""
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
    for extra in extra_certs:
        builder = builder.add_certificate(extra)
    options = [pkcs7.PKCS7Options.Binary]
    if not signed_attributes:
        options.append(pkcs7.PKCS7Options.NoAttributes)
    return builder.sign(serialization.Encoding.DER, options)


TAMPER_CHOICES = ("content", "signature")


def tamper_der(der, data, where):
    """Flip one bit of a signed DER PKCS#7 after signing, keeping its ASN.1 structure intact.

    ``content``: a character of the ``vmId`` value in the attached JSON ``data`` (it stays valid JSON);
    ``signature``: the last byte, which is the end of the signer's signature value (no unsigned attributes).
    """
    der = bytearray(der)
    if where == "content":
        start = der.find(data)
        marker = data.find(b'"vmId":"')
        if start < 0 or marker < 0:
            raise ValueError("tamper=content: the content or its vmId is not in the DER")
        der[start + marker + len(b'"vmId":"')] ^= 0x01
    elif where == "signature":
        der[-1] ^= 0x01
    else:
        raise ValueError("tamper must be one of %s, got %r" % (", ".join(TAMPER_CHOICES), where))
    return bytes(der)


def attested_response(content, cert, key, extra_certs=(), signed_attributes=False, tamper=None):
    """The response body of /metadata/attested/document (``tamper``: see :func:`tamper_der`)."""
    data = json.dumps(content, separators=(",", ":")).encode("utf-8")
    der = sign(data, cert, key, extra_certs, signed_attributes)
    if tamper:
        der = tamper_der(der, data, tamper)
    return {"encoding": "pkcs7", "signature": base64.b64encode(der).decode("ascii")}
