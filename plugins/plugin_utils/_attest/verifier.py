# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""The verdict on one IMDS attested document: bytes, trust anchors and a clock in, a verdict out.

No I/O here: the trust anchors, the time and any issuer certificates downloaded for the chain
(``issuers``, an iterable that ``_attest.issuers`` fills from the network) are given by the
caller (``_attest.action``). The checks run in a fixed order and the first one that fails
names the ``reason``:

``malformed``                 not a PKCS#7 SignedData with attached content and one signer whose certificate it holds
``signature``                 the signature does not verify over the content (or its signed attributes do not match it)
``domain``                    no DNS subject alternative name of the signer is in the cloud's metadata domain
``untrusted_signer``          no valid chain from the signer to a trusted root (expired certificates included)
``malformed_content``         the signed content is not the JSON object IMDS signs
``nonce_mismatch``            the signed nonce is not the one the controller sent (a stale cached document)
``not_yet_valid``/``expired`` now is outside ``timeStamp.createdOn``..``expiresOn`` (plus the clock skew)
``vm_id_mismatch``            the signed ``vmId`` is not the ``vmId`` of the instance metadata gathered in the same run
``subscription_id_mismatch``  same for ``subscriptionId`` (when the document has one)

PKCS#7/ASN.1 parsing is asn1crypto's, X.509 path validation and signature checks are
cryptography's (``cryptography.x509.verification``); nothing here parses ASN.1 by hand.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hmac
import itertools
import json
import re
import warnings

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

# compute.azEnvironment (lower case) -> the domain of the certificate that signs attested documents.
DOMAINS = {
    "azurepubliccloud": "metadata.azure.com",
    "azureusgovernmentcloud": "metadata.azure.us",
    "azurechinacloud": "metadata.azure.cn",
    "azuregermancloud": "metadata.microsoftazure.de",
}

TIMESTAMP_FORMAT = "%m/%d/%y %H:%M:%S %z"
_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----\s.+?\s-----END CERTIFICATE-----", re.DOTALL)
_HASHES = ("sha256", "sha384", "sha512")


class _Failed(Exception):
    """One check failed: ``reason`` names it (the table above)."""

    def __init__(self, reason, message):
        super(_Failed, self).__init__(message)
        self.reason = reason
        self.message = message


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


def pem_certificates(data):
    """Every certificate in PEM text (bytes); blocks that do not parse are skipped."""
    certs = []
    with warnings.catch_warnings():
        # System stores hold a few old roots that newer cryptography releases warn about.
        warnings.simplefilter("ignore")
        for block in _PEM_RE.findall(data):
            try:
                certs.append(_x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certs


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
        raise _Failed("malformed", "the attested document's encoding is %s, not pkcs7" % shown(encoding, 40))
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


def dns_names(cert):
    try:
        san = cert.extensions.get_extension_for_class(_x509.SubjectAlternativeName).value
    except _x509.ExtensionNotFound:
        return []
    return san.get_values_for_type(_x509.DNSName)


def aia_urls(cert):
    """The http(s) "CA Issuers" URLs of a certificate's Authority Information Access."""
    try:
        aia = cert.extensions.get_extension_for_class(_x509.AuthorityInformationAccess).value
    except _x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == _AIA_OID.CA_ISSUERS and isinstance(d.access_location, _x509.UniformResourceIdentifier)
            and d.access_location.value.lower().startswith(("http://", "https://"))]


def certificates_from_aia(data):
    """Certificates in an AIA answer: DER, PEM, or a certs-only PKCS#7 (.p7c)."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        certs = pem_certificates(data)
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


def _check_chain(leaf, intermediates, anchors, anchors_from, now, issuers):
    """The chain from the signer to a trust anchor (RFC 5280 / CA/B Web PKI profile, any EKU).

    When the document's certificates do not complete it, each batch of certificates ``issuers(leaf, notes)``
    yields is added and the chain tried again (the iterable downloads them; ``notes`` gets what it could not).
    """
    if not anchors:
        raise _Failed("untrusted_signer", "no trust anchors: %s" % anchors_from)
    verifier = _verifier(anchors, now.replace(tzinfo=None))
    intermediates, notes = list(intermediates), []
    for certs in itertools.chain([[]], issuers(leaf, notes) if issuers is not None else []):
        intermediates.extend(certs)
        try:
            return verifier.verify(leaf, intermediates).chain
        except _verification.VerificationError as exc:
            error = str(exc)
    raise _Failed("untrusted_signer", "the signer certificate does not chain to a trusted root in %s: %s%s"
                  % (anchors_from, error, ("; " + "; ".join(notes)) if notes else ""))


def _cut(text, limit=200):
    return text if len(text) <= limit else text[:limit] + "..."


def shown(value, limit=200):
    """A value from the document (a URL from a certificate, a signed field), as a message may show it: quoted and cut
    short, so that a failed verification never dumps the document into the error."""
    return repr(_cut(value if isinstance(value, str) else repr(value), limit))


def _parse_time(value, name):
    try:
        return datetime.datetime.strptime(str(value).strip(), TIMESTAMP_FORMAT).astimezone(datetime.timezone.utc)
    except ValueError:
        raise _Failed("malformed_content", "timeStamp.%s %s is not MM/dd/yy HH:mm:ss -0000" % (name, shown(value, 40)))


def _describe(cert):
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial_number": "%x" % cert.serial_number,
        "not_before": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256_fingerprint": cert.fingerprint(_hashes.SHA256()).hex(),
        "dns_names": dns_names(cert),
    }


def verify(document, nonce, identity, anchors, anchors_from, now, domain=None, clock_skew=60.0, issuers=None):
    """The ``attested`` fact for one document (without the action's additions: attempts, the raw document).

    ``document``: ``{"encoding": "pkcs7", "signature": base64}`` as IMDS answered; ``nonce``: the one
    the controller sent; ``identity``: ``vmId``/``subscriptionId``/``azEnvironment`` from the instance
    metadata of the same run; ``anchors``: the trusted roots (``anchors_from`` says where they come
    from); ``now``: an aware datetime; ``domain``: the signer's domain (default: from ``azEnvironment``);
    ``clock_skew``: seconds; ``issuers``: see ``_check_chain`` (None: the document's certificates only).
    """
    identity = identity if isinstance(identity, dict) else {}
    result = {"verified": False, "reason": "", "message": "", "checks": [], "nonce": nonce, "content": {}, "signer": {},
              "chain": [], "domain": "", "trust_anchors": anchors_from, "verified_at": now.strftime("%Y-%m-%dT%H:%M:%SZ")}
    checks = result["checks"]
    try:
        content, signer, leaf, others = _parse(document)
        checks.append("structure")
        result["signer"] = _describe(leaf)
        _check_signature(content, signer, leaf)
        checks.append("signature")

        domain = domain or metadata_domain(identity.get("azEnvironment"))
        if domain is None:
            raise _Failed("domain", "the instance metadata names the cloud %r, whose metadata domain is not known; set attested_domain"
                          % identity.get("azEnvironment"))
        result["domain"] = domain
        names = dns_names(leaf)
        if not any(domain_matches(name, domain) for name in names):
            raise _Failed("domain", "the signer certificate's DNS names %s are not in the metadata domain %s" % (names or "(none)", domain))
        checks.append("domain")

        chain = _check_chain(leaf, others, anchors, anchors_from, now, issuers)
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
                                            "answered with a cached document" % (shown(signed["nonce"], 40), nonce))
        checks.append("nonce")

        skew = datetime.timedelta(seconds=clock_skew)
        if now < created - skew:
            raise _Failed("not_yet_valid", "the document is valid from %s, later than the controller's clock %s allows (clock skew %ss)"
                          % (created.isoformat(), now.isoformat(), clock_skew))
        if now > expires + skew:
            raise _Failed("expired", "the document expired at %s; the controller's clock is %s (clock skew %ss)"
                          % (expires.isoformat(), now.isoformat(), clock_skew))
        checks.append("time")

        expected = str(identity.get("vmId") or "")
        if not signed["vmId"] or signed["vmId"].lower() != expected.lower():
            raise _Failed("vm_id_mismatch", "the document is signed for vmId %s but the instance metadata of this host says %s"
                          % (shown(signed["vmId"], 40), shown(expected, 40)))
        checks.append("vm_id")

        if signed.get("subscriptionId"):
            expected = str(identity.get("subscriptionId") or "")
            if str(signed["subscriptionId"]).lower() != expected.lower():
                raise _Failed("subscription_id_mismatch", "the document is signed for subscriptionId %s but the instance metadata of "
                                                          "this host says %s" % (shown(signed["subscriptionId"], 40),
                                                                                 shown(expected, 40)))
            checks.append("subscription_id")
    except _Failed as failure:
        result["reason"] = failure.reason
        result["message"] = failure.message
        return result
    result["verified"] = True
    result["message"] = "the document is signed by %s for this VM and this run" % result["signer"]["subject"]
    return result
