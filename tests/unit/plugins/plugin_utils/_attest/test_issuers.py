# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the controller downloads issuer certificates from, and how (issue 14, item 5).

The certificate inside an attested document names its "CA Issuers" URLs, and any host can put a self-signed
certificate with an Azure-like name in front of the controller. So the controller fetches only from allowed
locations, directly, without redirects, within one deadline and a size limit, and never repeats what it got.
The emulator's ``ca_issuers`` knob points the signer's URLs at loopback listeners that record being contacted.
"""

from __future__ import annotations

import datetime
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from ansible_collections.imds.azure.plugins.module_utils import _transport
from ansible_collections.imds.azure.plugins.module_utils._facts import gather_facts
from ansible_collections.imds.azure.plugins.plugin_utils._attest import action as _attest, issuers
from ansible_collections.imds.azure.plugins.plugin_utils._attest.action import AttestOptions, verify_document
from ansible_collections.imds.azure.tests.unit.fakes.aia_listener import Listener, redirect, serve, trickle


def issuers_elsewhere(imds_emulator_factory, *urls):
    """An emulator whose signer certificate names ``urls`` as its CA Issuers (the hostile mode)."""
    return imds_emulator_factory(profile={"emulator": {"attested": {"ca_issuers": list(urls)}}})


def verify(emu, **args):
    """Gather and verify one document; options go through from_params, as the action passes them."""
    facts = gather_facts(dict(endpoint=emu.url, detect="false", gather_subset=["instance", "attested"], attested_nonce=_attest.new_nonce()))
    raw = facts["attested"]
    options = AttestOptions.from_params(dict({"attested_ca_path": emu.ca_cert_path}, **args))
    return verify_document(raw["document"], raw["nonce"], raw["instance_identity"], options)


def intermediate_der(emu):
    with open(emu.intermediate_cert_path, "rb") as handle:
        return x509.load_pem_x509_certificate(handle.read()).public_bytes(serialization.Encoding.DER)


def test_default_allowlist_refuses_any_other_location(imds_emulator_factory):
    with Listener() as elsewhere:
        emu = issuers_elsewhere(imds_emulator_factory, elsewhere.url + "/issuer.crt")
        result = verify(emu)
    assert (result["verified"], result["reason"]) == (False, "untrusted_signer")
    assert "the CA Issuers URL '%s/issuer.crt' was not fetched: it is not in attested_aia_allowlist" % elsewhere.url in result["message"]
    assert elsewhere.requests == []


def test_allowed_location_is_fetched(imds_emulator_factory):
    with Listener() as mirror:
        mirror.routes["/pki/issuer.crt"] = serve(intermediate_der(imds_emulator_factory()))
        emu = issuers_elsewhere(imds_emulator_factory, mirror.url + "/elsewhere/issuer.crt", mirror.url + "/pki/issuer.crt")
        result = verify(emu, attested_aia_allowlist=[mirror.url + "/pki/"])
    assert result["verified"] is True, result["message"]
    assert [request["path"] for request in mirror.requests] == ["/pki/issuer.crt"]


def test_fetched_directly_never_through_a_proxy(imds_emulator, monkeypatch):
    with Listener() as proxy:
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        result = verify(imds_emulator, attested_aia_allowlist=[imds_emulator.url + "/_emulator/ca/"])
    assert result["verified"] is True, result["message"]
    assert proxy.requests == []


def test_redirects_are_not_followed(imds_emulator_factory):
    with Listener() as allowed, Listener() as target:
        target.routes["/issuer.crt"] = serve(intermediate_der(imds_emulator_factory()))
        allowed.routes["/pki/issuer.crt"] = redirect(target.url + "/issuer.crt")
        emu = issuers_elsewhere(imds_emulator_factory, allowed.url + "/pki/issuer.crt")
        result = verify(emu, attested_aia_allowlist=[allowed.url + "/pki/"])
    assert (result["verified"], result["reason"]) == (False, "untrusted_signer")
    assert "the answer is a redirect (HTTP 302); redirects are not followed" in result["message"]
    assert len(allowed.requests) == 1 and target.requests == []


def test_messages_never_repeat_what_was_fetched(imds_emulator_factory):
    with Listener() as allowed:
        allowed.routes["/pki/missing.crt"] = serve(b"SECRET-BODY of an internal page", status=404, reason="SECRET-REASON")
        allowed.routes["/pki/page.crt"] = serve(b"<html>SECRET-PAGE: internal dashboard</html>")
        allowed.routes["/pki/pem.crt"] = serve(b"-----BEGIN CERTIFICATE-----\nSECRET-PEM\n-----END CERTIFICATE-----\n")
        emu = issuers_elsewhere(imds_emulator_factory, *[allowed.url + "/pki/%s.crt" % name for name in ("missing", "page", "pem")])
        result = verify(emu, attested_aia_allowlist=[allowed.url + "/pki/"])
    assert result["reason"] == "untrusted_signer"
    assert "SECRET" not in result["message"]
    assert "missing.crt' failed: the answer is HTTP 404" in result["message"]
    assert "page.crt' failed: the answer is not a certificate" in result["message"]
    assert "pem.crt' failed: the answer is not a certificate" in result["message"]
    assert len(allowed.requests) == 3


def test_one_deadline_covers_the_whole_exchange(imds_emulator_factory, monkeypatch):
    """A server that trickles its answer is given up on at the deadline, not when it stops sending."""
    monkeypatch.setattr(issuers, "AIA_TIMEOUT", 0.5)
    with Listener() as slow:
        slow.routes["/pki/issuer.crt"] = trickle(interval=0.05, give_up_after=3.0)
        emu = issuers_elsewhere(imds_emulator_factory, slow.url + "/pki/issuer.crt")
        result = verify(emu, attested_aia_allowlist=[slow.url + "/pki/"])
    assert result["reason"] == "untrusted_signer"
    assert "issuer.crt' failed: no complete answer within 0.5 s" in result["message"]


def test_size_limit(imds_emulator_factory):
    with Listener() as big:
        big.routes["/pki/issuer.crt"] = serve(b"\x30" * (issuers.MAX_AIA_BYTES + 1))
        emu = issuers_elsewhere(imds_emulator_factory, big.url + "/pki/issuer.crt")
        result = verify(emu, attested_aia_allowlist=[big.url + "/pki/"])
    assert "issuer.crt' failed" in result["message"] and "65536 bytes" in result["message"]


def _certificate_pointing_at(url):
    """A CA certificate (not the signer's issuer) whose own CA Issuers URL is ``url``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loop")])
    now = datetime.datetime.now(datetime.timezone.utc)
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).add_extension(aia, critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def test_number_of_fetches_is_bounded(imds_emulator_factory):
    """Each answer names another URL: the controller stops after MAX_AIA_FETCHES."""
    with Listener() as chain:
        for index in range(10):
            chain.routes["/pki/%d.crt" % index] = serve(_certificate_pointing_at(chain.url + "/pki/%d.crt" % (index + 1)))
        emu = issuers_elsewhere(imds_emulator_factory, chain.url + "/pki/0.crt")
        result = verify(emu, attested_aia_allowlist=[chain.url + "/pki/"])
    assert result["reason"] == "untrusted_signer"
    assert [request["path"] for request in chain.requests] == ["/pki/%d.crt" % index for index in range(issuers.MAX_AIA_FETCHES)]


def test_number_of_urls_looked_at_is_bounded(imds_emulator_factory):
    """A certificate may name any number of CA Issuers URLs; the message names at most MAX_AIA_URLS of them."""
    with Listener() as elsewhere:
        emu = issuers_elsewhere(imds_emulator_factory, *["%s/%d.crt" % (elsewhere.url, index) for index in range(50)])
        result = verify(emu)
    assert result["message"].count("is not in attested_aia_allowlist") == issuers.MAX_AIA_URLS
    assert elsewhere.requests == []


# Real CA Issuers URLs of the chains Microsoft lists in "Azure Certificate Authority details"
# (https://learn.microsoft.com/azure/security/fundamentals/azure-ca-details), and lookalikes.
@pytest.mark.parametrize("url, allowed", [
    ("http://www.microsoft.com/pkiops/certs/Microsoft%20Azure%20RSA%20TLS%20Issuing%20CA%2003%20-%20xsign.crt", True),
    ("http://www.microsoft.com/pkiops/certs/Microsoft%20TLS%20G2%20RSA%20CA%20OCSP%2004.crt", True),
    ("http://caissuers.microsoft.com/pkiops/certs/Microsoft%20TLS%20RSA%20Root%20G2%20-%20xsign.crt", True),
    ("http://cacerts.digicert.com/DigiCertGlobalRootG2.crt", True),
    ("http://cacerts.digicert.cn/DigiCertBasicOVG2TLSCNRSA4096SHA2562022CA1.crt", True),
    ("http://cacerts.geotrust.com/x.crt", True),
    ("http://WWW.Microsoft.COM:80/pkiops/certs/x.crt", True),
    ("https://www.microsoft.com/pkiops/certs/x.crt", False),
    ("http://www.microsoft.com/en-us/", False),
    ("http://www.microsoft.com/pkiops/certs/../../en-us/", False),
    ("http://www.microsoft.com/pkiops/certs/%2e%2e/%2e%2e/en-us/", False),
    ("http://www.microsoft.com:8080/pkiops/certs/x.crt", False),
    ("http://www.microsoft.com.evil.example/pkiops/certs/x.crt", False),
    ("http://user@www.microsoft.com/pkiops/certs/x.crt", False),
    ("http://www.microsoft.com/pkiops/certs/x.crt#frag", False),
    ("http://www.microsoft.com/pkiops/certs/x.crt HTTP/1.0\r\nHost: evil.example", False),
    ("http://www.microsoft.com/pkiops/certs/\u00e9.crt", False),
    ("http://169.254.169.254/metadata/identity/oauth2/token", False),
    ("http://127.0.0.1/pkiops/certs/x.crt", False),
    ("file:///etc/passwd", False),
    ("ldap://www.microsoft.com/pkiops/certs/", False),
])
def test_default_allowlist(url, allowed):
    assert issuers.aia_allowed(url, AttestOptions().aia_allowlist) is allowed


def test_fetched_with_the_collections_http_client(canned_server):
    """The issuer download is the IMDS client's transport: its own User-Agent, and what it refuses is refused here too."""
    server = canned_server("HTTP/1.1 200 OK", [("Content-Type", "application/pkix-cert")], b"\x30\x03\x02\x01\x00")
    deadline = time.monotonic() + 5
    assert issuers.fetch_issuer(server.url + "/pki/x.crt", deadline) == b"\x30\x03\x02\x01\x00"
    assert b"User-Agent: %s" % _transport.USER_AGENT.encode() in server.requests[0] and server.requests[0].startswith(b"GET /pki/x.crt ")
    broken = canned_server("NOT HTTP AT ALL", [], b"")
    with pytest.raises(issuers.AiaFetchError, match=r"^connection failed \("):
        issuers.fetch_issuer(broken.url + "/pki/x.crt", deadline)
    with pytest.raises(issuers.AiaFetchError, match="no complete answer within"):
        issuers.fetch_issuer(server.url + "/pki/x.crt", time.monotonic() - 1)
