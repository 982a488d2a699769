# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""Controller-side verification of IMDS attested documents (``gather_subset: attested``).

The module fetches ``/metadata/attested/document`` on the target with a nonce that the
controller chose (``prepare``); the action plugin then hands the raw document here
(``complete``), and only the controller decides whether it is genuine. The checks run in a
fixed order and the first one that fails names the ``reason``:

``malformed``                 not a PKCS#7 SignedData with attached content and one signer whose certificate it holds
``signature``                 the signature does not verify over the content (or its signed attributes do not match it)
``domain``                    no DNS subject alternative name of the signer is in the cloud's metadata domain
``untrusted_signer``          no valid chain from the signer to a trusted root (expired certificates included)
``malformed_content``         the signed content is not the JSON object IMDS signs
``nonce_mismatch``            the signed nonce is not the one the controller sent (a stale cached document)
``not_yet_valid``/``expired`` now is outside ``timeStamp.createdOn``..``expiresOn`` (plus the clock skew)
``vm_id_mismatch``            the signed ``vmId`` is not the ``vmId`` of the instance metadata gathered in the same run
``subscription_id_mismatch``  same for ``subscriptionId`` (when the document has one)
``not_azure``                 the host is not an Azure VM (nothing to verify)

PKCS#7/ASN.1 parsing is asn1crypto's, X.509 path validation and signature checks are
cryptography's (``cryptography.x509.verification``); nothing here parses ASN.1 by hand.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import json
import os
import re
import secrets
import ssl
import time
import warnings

from urllib.parse import unquote, urlsplit

from ansible_collections.imds.azure.plugins.module_utils._transport import (
    ConnectTimeout,
    ReadTimeout,
    TransportError,
    UrlTransport,
)
from ansible_collections.imds.azure.plugins.module_utils._facts import FactsError, parse_gather_subset
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure

try:
    from asn1crypto import algos as _algos
    from asn1crypto import cms as _cms
    from asn1crypto import core as _core
    from cryptography import x509 as _x509
    from cryptography.exceptions import InvalidSignature as _InvalidSignature
    from cryptography.hazmat.primitives import hashes as _hashes
    from cryptography.hazmat.primitives.asymmetric import ec as _ec
    from cryptography.hazmat.primitives.asymmetric import padding as _padding
    from cryptography.hazmat.primitives.asymmetric import rsa as _rsa
    from cryptography.x509 import verification as _verification
    from cryptography.x509.oid import AuthorityInformationAccessOID as _AIA_OID
    _verification.ExtensionPolicy  # pylint: disable=pointless-statement  # cryptography >= 45
    IMPORT_ERROR = None
except (ImportError, AttributeError) as _exc:  # pragma: no cover - exercised only without the requirements
    IMPORT_ERROR = _exc

REQUIREMENTS_HINT = ("the attested subset is verified on the controller and needs the Python packages cryptography>=45 "
                     "and asn1crypto there (pip install 'cryptography>=45' asn1crypto; see the collection's requirements)")

# compute.azEnvironment (lower case) -> the domain of the certificate that signs attested documents.
DOMAINS = {
    "azurepubliccloud": "metadata.azure.com",
    "azureusgovernmentcloud": "metadata.azure.us",
    "azurechinacloud": "metadata.azure.cn",
    "azuregermancloud": "metadata.microsoftazure.de",
}

# Every check in the order it runs; a verified document passed all that apply.
CHECKS = ("structure", "signature", "domain", "chain", "content", "nonce", "time", "vm_id", "subscription_id")
REASONS = {
    "malformed": "structure",
    "signature": "signature",
    "domain": "domain",
    "untrusted_signer": "chain",
    "malformed_content": "content",
    "nonce_mismatch": "nonce",
    "not_yet_valid": "time",
    "expired": "time",
    "vm_id_mismatch": "vm_id",
    "subscription_id_mismatch": "subscription_id",
    "not_azure": None,
}

# The options of imds.azure.metadata_facts that only the controller reads.
OPTION_NAMES = ("attested_ca_path", "attested_domain", "attested_clock_skew", "attested_required", "attested_nonce_retries",
                "attested_fetch_intermediates", "attested_aia_allowlist")
NONCE_OPTION = "attested_nonce"  # internal: set by the action, refused from a task

TIMESTAMP_FORMAT = "%m/%d/%y %H:%M:%S %z"
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\s.+?\s-----END CERTIFICATE-----", re.DOTALL)
_HASHES = ("sha256", "sha384", "sha512")
# Where the controller may download issuer certificates from: Microsoft's published AIA locations
# ("Certificate downloads and revocation lists" in https://learn.microsoft.com/azure/security/fundamentals/azure-ca-details:
# cacerts.digicert.com, cacerts.digicert.cn, cacerts.geotrust.com, caissuers.microsoft.com and www.microsoft.com, over
# HTTP on port 80). www.microsoft.com is a whole web site, so only its certificate folder (/pkiops/certs/) is allowed.
DEFAULT_AIA_ALLOWLIST = (
    "http://www.microsoft.com/pkiops/certs/",
    "http://caissuers.microsoft.com/",
    "http://cacerts.digicert.com/",
    "http://cacerts.digicert.cn/",
    "http://cacerts.geotrust.com/",
)
MAX_AIA_FETCHES = 4
MAX_AIA_URLS = 8  # CA Issuers URLs looked at per document, fetched or not (a certificate may list any number)
MAX_AIA_BYTES = 64 * 1024
AIA_TIMEOUT = 10  # seconds for all the fetches of one document together, name resolution excepted
_DEFAULT_PORTS = {"http": 80, "https": 443}
RETRY_DELAY = 1.0
MAX_NONCE_RETRIES = 10


class AttestConfigError(ActionFailure, ValueError):
    """A bad attested_* option or a missing requirement: the task fails whatever attested_required says."""

    kind = "config"


class _Failed(Exception):
    """One check failed: ``reason`` is a key of REASONS."""

    def __init__(self, reason, message):
        super(_Failed, self).__init__(message)
        self.reason = reason
        self.message = message


def new_nonce():
    """A fresh nonce: 32 random hexadecimal characters (128 bits), the most IMDS accepts."""
    return secrets.token_hex(16)


def metadata_domain(az_environment):
    """The signing domain for a ``compute.azEnvironment`` value; None for an unknown cloud."""
    key = str(az_environment or "").strip().lower()
    if not key:
        return DOMAINS["azurepubliccloud"]
    return DOMAINS.get(key)


def domain_matches(name, domain):
    """Whether DNS name ``name`` is ``domain`` or any subdomain of it (``*.domain`` included)."""
    name = str(name).strip().lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


# --------------------------------------------------------------------------------- options


class AttestOptions(object):
    """The controller-side attested_* options, checked beyond their types (the task's argument spec checks those)."""

    def __init__(self, ca_path=None, domain=None, clock_skew=60.0, required=True, nonce_retries=2, fetch_intermediates=True,
                 aia_allowlist=DEFAULT_AIA_ALLOWLIST):
        if ca_path and not os.path.isfile(ca_path):
            raise AttestConfigError("attested_ca_path %s is not a readable file on the controller" % ca_path)
        self.ca_path = ca_path or None
        self.domain = _domain(domain) if domain else None
        if not 0 <= clock_skew <= 3600:
            raise AttestConfigError("attested_clock_skew must be between 0 and 3600 seconds, got %s" % clock_skew)
        if not 0 <= nonce_retries <= MAX_NONCE_RETRIES:
            raise AttestConfigError("attested_nonce_retries must be between 0 and %d, got %d" % (MAX_NONCE_RETRIES, nonce_retries))
        self.clock_skew, self.nonce_retries = float(clock_skew), int(nonce_retries)
        self.required, self.fetch_intermediates = required, fetch_intermediates
        self.aia_allowlist = tuple(_allowlist_entry(entry) for entry in aia_allowlist)

    @classmethod
    def from_params(cls, params):
        """The options in the task's validated parameters (``attested_<name>``; None keeps the default)."""
        return cls(**dict((name[len("attested_"):], params[name]) for name in OPTION_NAMES if params.get(name) is not None))


def _domain(text):
    """An attested_domain value, lower case without a leading ``*.`` (AttestConfigError when it is not a DNS domain)."""
    domain = str(text).strip().lower().lstrip("*").lstrip(".")
    if not _DOMAIN_RE.match(domain):
        raise AttestConfigError("attested_domain %r is not a DNS domain such as metadata.azure.com" % text)
    return domain


def _allowlist_entry(entry):
    """``(scheme, host, port, path prefix)`` of one attested_aia_allowlist entry (AttestConfigError when it is not one)."""
    text = str(entry)
    parts = _split_url(text)
    if parts is None or not parts[3].endswith("/") or urlsplit(text).query:
        raise AttestConfigError("attested_aia_allowlist entry %r is not an http:// or https:// URL prefix without user, query or "
                                "fragment, ending in / (such as %s)" % (text, DEFAULT_AIA_ALLOWLIST[0]))
    return parts


def _split_url(url):
    """``(scheme, host, port, decoded path)`` of an absolute http(s) URL that is safe to request; None for anything else.

    Refused: other schemes, user information, a fragment, whitespace, control or non-ASCII characters (they could
    change the request line) and ``.``/``..`` path segments (a prefix check must mean what it says).
    """
    if not isinstance(url, str) or not url.isascii() or any(ord(char) <= 0x20 or ord(char) == 0x7f for char in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc or parts.fragment or "#" in url:
        return None
    path = unquote(parts.path) or "/"
    if any(segment in (".", "..") for segment in path.split("/")) or "\\" in path:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], path


def aia_allowed(url, allowlist):
    """Whether the controller may fetch ``url``: same scheme, host and port as an allowlist entry, under its path."""
    parts = _split_url(url)
    return parts is not None and any(parts[:3] == entry[:3] and parts[3].startswith(entry[3]) for entry in allowlist)


# --------------------------------------------------------------------------------- trust anchors


def _pem_certificates(data):
    """Every certificate in PEM text; blocks that do not parse are skipped (counted)."""
    certs, skipped = [], 0
    with warnings.catch_warnings():
        # System stores hold a few old roots that newer cryptography releases warn about.
        warnings.simplefilter("ignore")
        for block in _PEM_RE.findall(data):
            try:
                certs.append(_x509.load_pem_x509_certificate(block))
            except ValueError:
                skipped += 1
    return certs, skipped


def _read(path):
    with open(path, "rb") as handle:
        return handle.read()


def load_trust_anchors(ca_path=None):
    """``(certificates, description)`` of the trusted roots.

    With ``ca_path``: exactly the certificates of that PEM file (AttestConfigError when it has none).
    Without: the system trust store (OpenSSL's default CA file, else its CA directory), else
    certifi's bundle when certifi is installed. Returns ``([], why)`` when nothing is found.
    """
    _require()
    if ca_path:
        try:
            certs, _skipped = _pem_certificates(_read(ca_path))
        except (IOError, OSError) as exc:
            raise AttestConfigError("attested_ca_path %s cannot be read: %s" % (ca_path, exc))
        if not certs:
            raise AttestConfigError("attested_ca_path %s holds no PEM certificate" % ca_path)
        return certs, "attested_ca_path %s (%d certificates)" % (ca_path, len(certs))
    paths = ssl.get_default_verify_paths()
    for cafile in (paths.cafile, paths.openssl_cafile):
        if cafile and os.path.isfile(cafile):
            try:
                certs, _skipped = _pem_certificates(_read(cafile))
            except (IOError, OSError):
                certs = []
            if certs:
                return certs, "the system trust store %s (%d certificates)" % (cafile, len(certs))
    for capath in (paths.capath, paths.openssl_capath):
        if capath and os.path.isdir(capath):
            certs = []
            for name in sorted(os.listdir(capath)):
                full = os.path.join(capath, name)
                if os.path.isfile(full) and (name.endswith((".pem", ".crt")) or re.match(r"^[0-9a-f]{8}\.[0-9]+$", name)):
                    try:
                        certs.extend(_pem_certificates(_read(full))[0])
                    except (IOError, OSError):
                        continue
            if certs:
                return certs, "the system trust store %s (%d certificates)" % (capath, len(certs))
    try:
        import certifi  # pylint: disable=import-outside-toplevel
    except ImportError:
        return [], "no system trust store was found and certifi is not installed; set attested_ca_path"
    certs, _skipped = _pem_certificates(_read(certifi.where()))
    return certs, "certifi %s (%d certificates)" % (certifi.where(), len(certs))


def _require():
    if IMPORT_ERROR is not None:
        raise AttestConfigError("%s (import failed: %s)" % (REQUIREMENTS_HINT, IMPORT_ERROR))


# --------------------------------------------------------------------------------- PKCS#7


def _hash_for(name):
    if name not in _HASHES:
        raise _Failed("signature", "the document uses the digest algorithm %s; only %s are accepted" % (name, ", ".join(_HASHES)))
    return {"sha256": _hashes.SHA256, "sha384": _hashes.SHA384, "sha512": _hashes.SHA512}[name]()


def _digest_name(signer):
    algorithm = signer["digest_algorithm"]["algorithm"]
    name = algorithm.native
    if name in _HASHES:
        return name
    # Real IMDS documents name sha256WithRSAEncryption as the *digest* algorithm: take its hash.
    try:
        return _algos.SignedDigestAlgorithm({"algorithm": algorithm.dotted}).hash_algo
    except (ValueError, KeyError):
        return name


def _parse(document):
    """``(content bytes, signer_info, signer certificate, other certificates)`` or _Failed("malformed")."""
    if not isinstance(document, dict):
        raise _Failed("malformed", "the attested document is not a JSON object")
    encoding = document.get("encoding")
    if not isinstance(encoding, str) or encoding.lower() != "pkcs7":
        raise _Failed("malformed", "the attested document's encoding is %s, not pkcs7" % _shown(encoding, 40))
    signature = document.get("signature")
    try:
        der = base64.b64decode("".join(str(signature).split()).encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise _Failed("malformed", "the attested document's signature is not base64")
    try:
        info = _cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise _Failed("malformed", "the PKCS#7 content is %s, not signed data" % info["content_type"].native)
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].native != "data":
            raise _Failed("malformed", "the signed content type is %s, not data" % encap["content_type"].native)
        content = encap["content"]
        if isinstance(content, _core.Void) or content.native is None:
            raise _Failed("malformed", "the PKCS#7 document has no attached content")
        content = content.native
        signers = list(signed["signer_infos"])
        if len(signers) != 1:
            raise _Failed("malformed", "the PKCS#7 document has %d signers, not exactly one" % len(signers))
        signer = signers[0]
        certificates = [c.chosen for c in signed["certificates"] if c.name == "certificate"] if not isinstance(
            signed["certificates"], _core.Void) else []
        sid = signer["sid"]
        leaf = None
        for cert in certificates:
            if sid.name == "issuer_and_serial_number":
                if cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native:
                    leaf = cert
                    break
            elif cert.key_identifier is not None and cert.key_identifier == sid.chosen.native:
                leaf = cert
                break
        if leaf is None:
            raise _Failed("malformed", "the signer's certificate is not in the PKCS#7 document")
        leaf_x509 = _x509.load_der_x509_certificate(leaf.dump())
        others = [_x509.load_der_x509_certificate(c.dump()) for c in certificates if c is not leaf]
        return bytes(content), signer, leaf_x509, others
    except _Failed:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise _Failed("malformed", "the attested document is not a valid PKCS#7 SignedData (%s)" % _cut(str(exc)))


def _check_signature(content, signer, leaf):
    """The PKCS#7 signature over the attached content (or over its signed attributes, which must match it)."""
    try:
        hash_name = _digest_name(signer)
        signed_attrs = signer["signed_attrs"]
        if isinstance(signed_attrs, _core.Void):
            data = content
        else:
            values = {}
            for attribute in signed_attrs:
                values.setdefault(attribute["type"].native, []).extend(attribute["values"])
            content_types = values.get("content_type", [])
            digests = values.get("message_digest", [])
            if len(content_types) != 1 or content_types[0].native != "data":
                raise _Failed("signature", "the signed attributes do not name the content type data exactly once")
            if len(digests) != 1:
                raise _Failed("signature", "the signed attributes do not hold exactly one message digest")
            digest = _hashes.Hash(_hash_for(hash_name))
            digest.update(content)
            if not hmac.compare_digest(digest.finalize(), digests[0].native):
                raise _Failed("signature", "the content does not match the signed message digest: the content was changed after signing")
            # RFC 5652 5.4: the signature covers the DER of the attributes as a SET OF, not as [0] IMPLICIT.
            data = signed_attrs.untag().dump()
        algorithm = signer["signature_algorithm"]
        kind = algorithm.signature_algo
        key = leaf.public_key()
        value = signer["signature"].native
        if kind == "rsassa_pkcs1v15" and isinstance(key, _rsa.RSAPublicKey):
            key.verify(value, data, _padding.PKCS1v15(), _hash_for(hash_name))
        elif kind == "rsassa_pss" and isinstance(key, _rsa.RSAPublicKey):
            params = algorithm["parameters"]
            pss_hash = _hash_for(params["hash_algorithm"]["algorithm"].native)
            mgf_hash = _hash_for(params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            key.verify(value, data, _padding.PSS(_padding.MGF1(mgf_hash), params["salt_length"].native), pss_hash)
        elif kind == "ecdsa" and isinstance(key, _ec.EllipticCurvePublicKey):
            key.verify(value, data, _ec.ECDSA(_hash_for(hash_name)))
        else:
            raise _Failed("signature", "unsupported signature algorithm %s for a %s key" % (kind, type(key).__name__))
    except _InvalidSignature:
        raise _Failed("signature", "the PKCS#7 signature does not verify with the signer certificate's key: the content or the "
                                   "signature was changed after signing")
    except _Failed:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise _Failed("signature", "the PKCS#7 signature cannot be checked (%s)" % exc)


def _dns_names(cert):
    try:
        san = cert.extensions.get_extension_for_class(_x509.SubjectAlternativeName).value
    except _x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(_x509.DNSName)


def _aia_urls(cert):
    try:
        aia = cert.extensions.get_extension_for_class(_x509.AuthorityInformationAccess).value
    except _x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == _AIA_OID.CA_ISSUERS and isinstance(d.access_location, _x509.UniformResourceIdentifier)
            and d.access_location.value.lower().startswith(("http://", "https://"))]


class AiaFetchError(Exception):
    """An issuer download failed; the message is the controller's own words, never text from the answer."""


def fetch_issuer(url, deadline):
    """GET an allowed "CA Issuers" URL from the controller with the collection's one HTTP client (``_transport.UrlTransport``):
    directly (never through a proxy), no redirects, the whole exchange (connect, request, headers and body) done by
    ``deadline`` (``time.monotonic()``) and at most MAX_AIA_BYTES of body. Returns the body; raises AiaFetchError."""
    left = deadline - time.monotonic()
    try:
        if left <= 0:
            raise ReadTimeout("the deadline has passed")
        response = UrlTransport(max_body=MAX_AIA_BYTES).request("GET", url, {"Accept": "*/*"}, None, left)
    except (ConnectTimeout, ReadTimeout):
        raise AiaFetchError("no complete answer within %s s" % AIA_TIMEOUT)
    except TransportError as exc:
        if isinstance(exc.__context__, ssl.SSLError):
            raise AiaFetchError("TLS failed (%s)" % (exc.__context__.reason or exc.__context__.__class__.__name__))
        raise AiaFetchError("connection failed (%s)" % exc)
    if 300 <= response.status < 400:
        raise AiaFetchError("the answer is a redirect (HTTP %d); redirects are not followed" % response.status)
    if response.status != 200:
        raise AiaFetchError("the answer is HTTP %d" % response.status)
    if response.truncated:
        raise AiaFetchError("the answer is larger than %d bytes" % MAX_AIA_BYTES)
    return response.body


def _certs_from_aia(data):
    """Certificates in an AIA answer: DER, PEM, or a certs-only PKCS#7 (.p7c)."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        certs = _pem_certificates(data)[0]
    else:
        try:
            return [_x509.load_der_x509_certificate(data)]
        except ValueError:
            info = _cms.ContentInfo.load(data, strict=True)
            if info["content_type"].native != "signed_data":
                raise ValueError("not a certificate")
            certs = [_x509.load_der_x509_certificate(c.chosen.dump()) for c in info["content"]["certificates"] if c.name == "certificate"]
    if not certs:
        raise ValueError("not a certificate")
    return certs


def _verifier(anchors, now):
    any_eku = dict(extension_type=_x509.ExtendedKeyUsage, criticality=_verification.Criticality.AGNOSTIC, validator_cb=None)
    ca_policy = _verification.ExtensionPolicy.webpki_defaults_ca().may_be_present(**any_eku)
    ee_policy = _verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(**any_eku)
    return (_verification.PolicyBuilder().store(_verification.Store(anchors)).time(now)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy).build_client_verifier())


def _check_chain(leaf, intermediates, anchors, anchors_from, now, fetch, allowlist):
    """The chain from the signer to a trust anchor (RFC 5280 / CA/B Web PKI profile, any EKU).

    When the document's certificates do not complete it, the issuers are downloaded (``fetch``) from the
    "CA Issuers" URLs of the signer, then of what was downloaded, but only from ``allowlist`` locations.
    """
    if not anchors:
        raise _Failed("untrusted_signer", "no trust anchors: %s" % anchors_from)
    verifier = _verifier(anchors, now.replace(tzinfo=None))
    intermediates = list(intermediates)
    try:
        return verifier.verify(leaf, intermediates).chain
    except _verification.VerificationError as exc:
        error = str(exc)
    notes = []
    if fetch is not None:
        queue, seen, fetches = list(_aia_urls(leaf)), set(), 0
        deadline = time.monotonic() + AIA_TIMEOUT
        while queue and fetches < MAX_AIA_FETCHES and len(seen) < MAX_AIA_URLS:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            if not aia_allowed(url, allowlist):
                notes.append("the CA Issuers URL %s was not fetched: it is not in attested_aia_allowlist" % _shown(url))
                continue
            fetches += 1
            try:
                certs = _certs_from_aia(fetch(url, deadline))
            except AiaFetchError as exc:
                notes.append("fetching the issuer from %s failed: %s" % (_shown(url), exc))
                continue
            except Exception:  # pylint: disable=broad-except  # an unreadable answer is reported, never its content
                notes.append("fetching the issuer from %s failed: the answer is not a certificate (DER, PEM or PKCS#7)" % _shown(url))
                continue
            intermediates.extend(certs)
            try:
                return verifier.verify(leaf, intermediates).chain
            except _verification.VerificationError as exc:
                error = str(exc)
            for cert in certs:
                queue.extend(_aia_urls(cert))
    raise _Failed("untrusted_signer", "the signer certificate does not chain to a trusted root in %s: %s%s"
                  % (anchors_from, error, ("; " + "; ".join(notes)) if notes else ""))


def _cut(text, limit=200):
    return text if len(text) <= limit else text[:limit] + "..."


def _shown(value, limit=200):
    """A value from the document (a URL from a certificate, a signed field), as a message may show it: quoted and cut
    short, so that a failed verification never dumps the document into the error."""
    return repr(_cut(value if isinstance(value, str) else repr(value), limit))


def _parse_time(value, name):
    try:
        return datetime.datetime.strptime(str(value).strip(), TIMESTAMP_FORMAT).astimezone(datetime.timezone.utc)
    except ValueError:
        raise _Failed("malformed_content", "timeStamp.%s %s is not MM/dd/yy HH:mm:ss -0000" % (name, _shown(value, 40)))


def _describe(cert):
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial_number": "%x" % cert.serial_number,
        "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256_fingerprint": cert.fingerprint(_hashes.SHA256()).hex(),
        "dns_names": _dns_names(cert),
    }


def verify_document(document, nonce, identity, options=None, anchors=None, anchors_from="", now=None, fetch=None):
    """Verify one attested document on the controller; returns the ``attested`` fact.

    ``document``: ``{"encoding": "pkcs7", "signature": base64}`` as IMDS answered; ``nonce``: the one
    the controller sent; ``identity``: ``vmId``/``subscriptionId``/``azEnvironment`` from the instance
    metadata of the same run; ``anchors``: trusted roots (default: ``load_trust_anchors``);
    ``fetch``: callable(url, deadline) -> bytes for AIA, called only for URLs under ``options.aia_allowlist``
    (default: ``fetch_issuer`` when fetch_intermediates).
    """
    _require()
    options = options or AttestOptions()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    identity = identity if isinstance(identity, dict) else {}
    if anchors is None:
        anchors, anchors_from = load_trust_anchors(options.ca_path)
    if not options.fetch_intermediates:
        fetch = None
    elif fetch is None:
        fetch = fetch_issuer
    result = {"verified": False, "reason": "", "message": "", "checks": [], "nonce": nonce, "content": {}, "signer": {},
              "chain": [], "domain": "", "trust_anchors": anchors_from, "verified_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    checks = result["checks"]
    try:
        content, signer, leaf, others = _parse(document)
        checks.append("structure")
        result["signer"] = _describe(leaf)
        _check_signature(content, signer, leaf)
        checks.append("signature")

        domain = options.domain or metadata_domain(identity.get("azEnvironment"))
        if domain is None:
            raise _Failed("domain", "the instance metadata names the cloud %r, whose metadata domain is not known; set attested_domain"
                          % identity.get("azEnvironment"))
        result["domain"] = domain
        names = _dns_names(leaf)
        if not any(domain_matches(name, domain) for name in names):
            raise _Failed("domain", "the signer certificate's DNS names %s are not in the metadata domain %s" % (names or "(none)", domain))
        checks.append("domain")

        chain = _check_chain(leaf, others, anchors, anchors_from, now, fetch, options.aia_allowlist)
        result["chain"] = [_describe(cert) for cert in chain]
        checks.append("chain")

        try:
            signed = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Failed("malformed_content", "the signed content is not JSON")
        stamp = signed.get("timeStamp") if isinstance(signed, dict) else None
        if (not isinstance(signed, dict) or not isinstance(signed.get("nonce"), str) or not isinstance(stamp, dict)
                or not isinstance(signed.get("vmId"), str)):
            raise _Failed("malformed_content", "the signed content is not an attested-data object (nonce, timeStamp, vmId)")
        result["content"] = signed
        created = _parse_time(stamp.get("createdOn"), "createdOn")
        expires = _parse_time(stamp.get("expiresOn"), "expiresOn")
        checks.append("content")

        if not hmac.compare_digest(signed["nonce"].encode("utf-8"), str(nonce).encode("utf-8")):
            raise _Failed("nonce_mismatch", "nonce mismatch: the document is signed for nonce %s but the controller sent %r; IMDS "
                                            "answered with a cached document" % (_shown(signed["nonce"], 40), nonce))
        checks.append("nonce")

        skew = datetime.timedelta(seconds=options.clock_skew)
        if now < created - skew:
            raise _Failed("not_yet_valid", "the document is valid from %s, later than the controller's clock %s allows (clock skew %ss)"
                          % (created.isoformat(), now.isoformat(), options.clock_skew))
        if now > expires + skew:
            raise _Failed("expired", "the document expired at %s; the controller's clock is %s (clock skew %ss)"
                          % (expires.isoformat(), now.isoformat(), options.clock_skew))
        checks.append("time")

        expected = str(identity.get("vmId") or "")
        if not signed["vmId"] or signed["vmId"].lower() != expected.lower():
            raise _Failed("vm_id_mismatch", "the document is signed for vmId %s but the instance metadata of this host says %s"
                          % (_shown(signed["vmId"], 40), _shown(expected, 40)))
        checks.append("vm_id")

        if signed.get("subscriptionId"):
            expected = str(identity.get("subscriptionId") or "")
            if str(signed["subscriptionId"]).lower() != expected.lower():
                raise _Failed("subscription_id_mismatch", "the document is signed for subscriptionId %s but the instance metadata of "
                                                          "this host says %s" % (_shown(signed["subscriptionId"], 40),
                                                                                 _shown(expected, 40)))
            checks.append("subscription_id")
    except _Failed as failure:
        result["reason"] = failure.reason
        result["message"] = failure.message
        return result
    result["verified"] = True
    result["message"] = "the document is signed by %s for this VM and this run" % result["signer"]["subject"]
    return result


# --------------------------------------------------------------------------------- action glue


class _Run(object):
    def __init__(self, options, nonce):
        self.options = options
        self.nonce = nonce


def prepare(params):
    """Before the module runs: this host's verification run (options, and the nonce the controller chose).

    ``params`` are the task's validated parameters. Returns None when the attested subset is
    not asked for; raises AttestConfigError for bad options or a missing requirement.
    """
    try:
        subsets = parse_gather_subset(params.get("gather_subset"))
    except FactsError:
        return None  # the module reports the bad gather_subset
    if "attested" not in subsets:
        return None
    options = AttestOptions.from_params(params)
    _require()
    return _Run(options, new_nonce())


def complete(result, run, module_args, regather, sleep=time.sleep, verify=verify_document):
    """After a successful gather: verify the document on the controller and put the verdict in the facts.

    ``regather(args)`` runs the module again (used for a fresh nonce after a nonce mismatch).
    The task fails (``imds_error: attestation``; the reason is ``attested.reason`` in the facts)
    when the document does not verify and attested_required is true.
    """
    facts = (result.get("ansible_facts") or {}).get("azure_imds")
    if not isinstance(facts, dict):
        return result
    raw = facts.get("attested")
    identity = raw.get("instance_identity") if isinstance(raw, dict) else None
    if not facts.get("is_azure") or not isinstance(raw, dict):
        verdict = {"verified": False, "reason": "not_azure", "checks": [], "nonce": run.nonce, "content": {}, "signer": {}, "chain": [],
                   "message": "this host is not an Azure VM (detection: %s), so it has no attested document" % facts.get("detection")}
    else:
        anchors, anchors_from = load_trust_anchors(run.options.ca_path)
        attempts, nonce = 1, run.nonce
        while True:
            verdict = verify(raw.get("document"), nonce, identity, run.options, anchors=anchors, anchors_from=anchors_from)
            if verdict["reason"] != "nonce_mismatch" or attempts > run.options.nonce_retries:
                break
            sleep(RETRY_DELAY * attempts)
            nonce = new_nonce()
            args = dict(module_args, gather_subset=["attested"])
            args[NONCE_OPTION] = nonce
            again = regather(args)
            attempts += 1
            again_raw = ((again.get("ansible_facts") or {}).get("azure_imds") or {}).get("attested")
            if again.get("failed") or not isinstance(again_raw, dict):
                verdict["message"] += "; the retry with a fresh nonce failed: %s" % (again.get("msg") or "no attested document")
                break
            raw = again_raw
        verdict["attempts"] = attempts
        verdict["api_version"] = raw.get("api_version", "")
        verdict["document"] = raw.get("document")
        verdict["instance_identity"] = identity
    if not verdict["verified"] and run.options.required:
        # The failed task's result is printed whole: never the base64 document in it (attested_required: false keeps it).
        verdict.pop("document", None)
    facts["attested"] = verdict
    if not verdict["verified"] and run.options.required:
        result["failed"] = True
        result["msg"] = ("the attested document did not verify: %s (reason %s). See the attestation guide for what to do; set "
                         "attested_required: false to get the result in the facts without failing" % (verdict["message"], verdict["reason"]))
        result["imds_error"] = "attestation"
        result["attested_reason"] = verdict["reason"]  # deprecated alias of attested.reason in the facts, removed in 1.0.0
    return result
