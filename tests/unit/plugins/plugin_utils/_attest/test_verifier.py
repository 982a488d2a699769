# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attested-document verification on the controller, against documents the emulator really signed.

Most cases go through the action's ``verify_document`` (options, trust anchors, issuer downloads
around ``verifier.verify``), the way the task verifies."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from asn1crypto import cms

from ansible_collections.imds.azure.plugins.module_utils._facts import FactsError, gather_facts
from ansible_collections.imds.azure.plugins.plugin_utils._attest import action as _attest, issuers, verifier
from ansible_collections.imds.azure.plugins.plugin_utils._attest.action import AttestOptions, verify_document

from tools.imds_emulator import attested as emulator_attested

ALL_CHECKS = ["structure", "signature", "domain", "chain", "content", "nonce", "time", "vm_id", "subscription_id"]


def attested_knobs(**knobs):
    return {"emulator": {"attested": knobs}}


def gather(emu, nonce=None, subsets=("instance", "attested"), **params):
    params.update(endpoint=emu.url, detect="false", gather_subset=list(subsets), attested_nonce=nonce or _attest.new_nonce())
    return gather_facts(params)


def fetch(emu, nonce=None):
    """(raw attested fact, facts) for one gather with a fresh nonce."""
    facts = gather(emu, nonce)
    return facts["attested"], facts


def emulator_aia(emu):
    """attested_aia_allowlist for tests: where the emulator serves its intermediate (never a default location)."""
    return [emu.url + "/_emulator/ca/"]


def options_for(emu, **options):
    return AttestOptions(ca_path=emu.ca_cert_path, aia_allowlist=emulator_aia(emu), **options)


def check(emu, raw=None, ca=True, **options):
    """Verify a document the emulator signed, in its default shape: the signer only, the issuer downloaded from the emulator."""
    raw = raw if raw is not None else fetch(emu)[0]
    if ca:
        options.setdefault("ca_path", emu.ca_cert_path)
    options.setdefault("aia_allowlist", emulator_aia(emu))
    return verify_document(raw["document"], raw["nonce"], raw["instance_identity"], AttestOptions(**options))


def der_of(raw):
    return bytearray(base64.b64decode(raw["document"]["signature"]))


def with_der(raw, der):
    raw = dict(raw)
    raw["document"] = {"encoding": "pkcs7", "signature": base64.b64encode(bytes(der)).decode("ascii")}
    return raw


def parsed(der):
    signed = cms.ContentInfo.load(bytes(der))["content"]
    return signed["encap_content_info"]["content"].native, signed["signer_infos"][0]


# --------------------------------------------------------------------------- valid documents

@pytest.mark.parametrize("signed_attributes", [False, True])
def test_valid_document_verifies(imds_emulator_factory, signed_attributes):
    emu = imds_emulator_factory(profile=attested_knobs(signed_attributes=signed_attributes))
    raw, facts = fetch(emu)
    assert bool(parsed(der_of(raw))[1]["signed_attrs"].native) is signed_attributes
    assert len(cms.ContentInfo.load(bytes(der_of(raw)))["content"]["certificates"]) == 1  # the signer only, as real IMDS
    result = check(emu, raw)
    assert result["verified"] is True, result["message"]
    assert result["reason"] == ""
    assert result["checks"] == ALL_CHECKS
    assert result["content"]["vmId"] == facts["compute"]["vmId"]
    assert result["content"]["nonce"] == raw["nonce"]
    assert result["domain"] == "metadata.azure.com"
    assert result["signer"]["dns_names"] == ["westeurope.metadata.azure.com", "metadata.azure.com"]
    assert [link["subject"] for link in result["chain"]][1:] == ["CN=IMDS Emulator Test Issuing CA 01,O=IMDS Emulator (test only),C=US",
                                                                 "CN=IMDS Emulator Test Root CA,O=IMDS Emulator (test only),C=US"]


def test_old_api_version_without_subscription(imds_emulator):
    raw = fetch_version(imds_emulator, "2018-10-01")
    assert "subscriptionId" not in json.loads(parsed(der_of(raw))[0])
    result = check(imds_emulator, raw)
    assert result["verified"] is True, result["message"]
    assert result["checks"] == ALL_CHECKS[:-1]


def fetch_version(emu, version):
    facts = gather(emu, api_version=version)
    assert facts["api_versions"]["attested"] == version
    return facts["attested"]


@pytest.mark.parametrize("environment, domain", [("AzureUSGovernmentCloud", "metadata.azure.us"), ("AzureChinaCloud", "metadata.azure.cn"),
                                                 ("AzureGermanCloud", "metadata.microsoftazure.de"), ("azurepubliccloud", "metadata.azure.com")])
def test_domain_follows_az_environment(imds_emulator_factory, environment, domain):
    emu = imds_emulator_factory(profile={"compute": {"azEnvironment": environment}})
    raw = fetch(emu)[0]
    result = check(emu, raw)
    assert result["verified"] is True, result["message"]
    assert result["domain"] == domain
    pinned = "metadata.azure.com" if domain != "metadata.azure.com" else "metadata.azure.us"
    wrong = check(emu, raw, domain=pinned)
    assert (wrong["verified"], wrong["reason"]) == (False, "domain")


def test_unknown_cloud_needs_a_domain(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"compute": {"azEnvironment": "AzureStackCloud"}})
    raw = fetch(emu)[0]
    assert check(emu, raw)["reason"] == "domain"
    assert check(emu, raw, domain="metadata.azure.com")["verified"] is True


@pytest.mark.parametrize("name, domain, expected", [
    ("metadata.azure.com", "metadata.azure.com", True),
    ("eastus.metadata.azure.com", "metadata.azure.com", True),
    ("a.b.metadata.azure.com", "metadata.azure.com", True),
    ("*.metadata.azure.com", "metadata.azure.com", True),
    ("EASTUS.Metadata.Azure.Com.", "metadata.azure.com", True),
    ("evilmetadata.azure.com", "metadata.azure.com", False),
    ("metadata.azure.com.evil.example", "metadata.azure.com", False),
    ("azure.com", "metadata.azure.com", False),
    ("metadata.azure.us", "metadata.azure.com", False),
])
def test_domain_matches(name, domain, expected):
    assert verifier.domain_matches(name, domain) is expected


# --------------------------------------------------------------------------- tampering

@pytest.mark.parametrize("signed_attributes", [False, True])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_content_byte(imds_emulator_factory, signed_attributes, where):
    emu = imds_emulator_factory(profile=attested_knobs(signed_attributes=signed_attributes))
    raw = fetch(emu)[0]
    der = der_of(raw)
    content = parsed(der)[0]
    start = bytes(der).find(content)
    offset = {"first": 0, "middle": len(content) // 2, "last": len(content) - 1}[where]
    der[start + offset] ^= 0x01
    result = check(emu, with_der(raw, der))
    assert (result["verified"], result["reason"]) == (False, "signature"), result["message"]
    assert result["content"] == {}
    if signed_attributes:
        assert "message digest" in result["message"]


@pytest.mark.parametrize("signed_attributes", [False, True])
def test_flipped_signature_byte(imds_emulator_factory, signed_attributes):
    emu = imds_emulator_factory(profile=attested_knobs(signed_attributes=signed_attributes))
    raw = fetch(emu)[0]
    der = der_of(raw)
    signature = parsed(der)[1]["signature"].native
    der[bytes(der).rfind(signature) + len(signature) // 2] ^= 0x80
    result = check(emu, with_der(raw, der))
    assert (result["verified"], result["reason"]) == (False, "signature"), result["message"]


def test_flipped_signed_attribute(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(signed_attributes=True))
    raw = fetch(emu)[0]
    der = der_of(raw)
    attrs = parsed(der)[1]["signed_attrs"]
    signing_time = next(a for a in attrs if a["type"].native == "signing_time")["values"][0].dump()
    position = bytes(der).find(signing_time) + len(signing_time) - 3  # a digit of the seconds
    der[position] ^= 0x01
    result = check(emu, with_der(raw, der))
    assert (result["verified"], result["reason"]) == (False, "signature"), result["message"]


@pytest.mark.parametrize("tamper", ["content", "signature"])
def test_emulator_tamper_knob(imds_emulator_factory, tamper):
    emu = imds_emulator_factory(profile=attested_knobs(tamper=tamper))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "signature")


@pytest.mark.parametrize("document", [
    None,
    {"encoding": "base64", "signature": "AAAA"},
    {"encoding": "pkcs7", "signature": "not base64!"},
    {"encoding": "pkcs7", "signature": base64.b64encode(b"\x30\x03\x02\x01\x01").decode()},
    {"encoding": "pkcs7", "signature": base64.b64encode(b"garbage").decode()},
])
def test_malformed(imds_emulator, document):
    result = verify_document(document, "1234", {"vmId": "x"}, options_for(imds_emulator))
    assert (result["verified"], result["reason"]) == (False, "malformed")


@pytest.mark.parametrize("document", [
    {"encoding": "pkcs7" + "A" * 5000, "signature": "AAAA"},
    {"encoding": "pkcs7", "signature": base64.b64encode(b"\x30\x82" + b"A" * 5000).decode()},
])
def test_a_malformed_document_is_not_quoted_whole(imds_emulator, document):
    """Issue 22 item 16: a failed attestation never dumps the document into the error."""
    result = verify_document(document, "1234", {"vmId": "x"}, options_for(imds_emulator))
    assert result["reason"] == "malformed" and len(result["message"]) < 300, result["message"]
    assert "A" * 100 not in result["message"]


def test_truncated_and_trailing_data(imds_emulator):
    raw = fetch(imds_emulator)[0]
    der = der_of(raw)
    assert check(imds_emulator, with_der(raw, der[:-10]))["reason"] == "malformed"
    assert check(imds_emulator, with_der(raw, der + b"\x00"))["reason"] == "malformed"


def test_signer_certificate_missing(imds_emulator):
    raw = fetch(imds_emulator)[0]
    info = cms.ContentInfo.load(bytes(der_of(raw)))
    signed = info["content"]
    keep = [c for c in signed["certificates"] if "Issuing" in c.chosen.subject.human_friendly]
    signed["certificates"] = keep
    result = check(imds_emulator, with_der(raw, info.dump(force=True)))
    assert (result["reason"], result["checks"]) == ("malformed", [])
    assert "signer's certificate" in result["message"]


# --------------------------------------------------------------------------- trust

def test_untrusted_ca(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(untrusted_ca=True))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "untrusted_signer"), result["message"]
    assert result["checks"] == ["structure", "signature", "domain"]
    assert result["content"] == {}


def test_emulator_ca_not_in_the_system_store(imds_emulator):
    anchors, source = _attest.load_trust_anchors(None)
    result = check(imds_emulator, ca=False)
    if anchors:
        assert result["trust_anchors"] == source
    assert (result["verified"], result["reason"]) == (False, "untrusted_signer")


def test_signer_outside_the_domain(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(san=["metadata.evil.example", "evilmetadata.azure.com"]))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "domain"), result["message"]
    assert "metadata.evil.example" in result["message"]


def test_expired_certificate(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(expired_certificate=True))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "untrusted_signer")
    assert "not valid at validation time" in result["message"]


def test_intermediate_from_aia(imds_emulator):
    raw = fetch(imds_emulator)[0]
    fetched = []

    def recording(url, deadline):
        fetched.append(url)
        return issuers.fetch_issuer(url, deadline)

    options = options_for(imds_emulator)
    result = verify_document(raw["document"], raw["nonce"], raw["instance_identity"], options, fetch=recording)
    assert result["verified"] is True, result["message"]
    assert fetched == [imds_emulator.url + "/_emulator/ca/intermediate.crt"]
    assert len(result["chain"]) == 3
    off = check(imds_emulator, raw, fetch_intermediates=False)
    assert (off["verified"], off["reason"]) == (False, "untrusted_signer")
    nothing = check(imds_emulator, raw, aia_allowlist=[])
    assert (nothing["verified"], nothing["reason"]) == (False, "untrusted_signer")
    assert "is not in attested_aia_allowlist" in nothing["message"]


def test_the_verifier_is_given_everything(imds_emulator):
    """verifier.verify reads nothing itself: the anchors, the clock and the issuers come from the caller."""
    raw = fetch(imds_emulator)[0]
    with open(imds_emulator.ca_cert_path, "rb") as root, open(imds_emulator.intermediate_cert_path, "rb") as intermediate:
        anchors, issuer = verifier.pem_certificates(root.read()), verifier.pem_certificates(intermediate.read())
    args = (raw["document"], raw["nonce"], raw["instance_identity"], anchors, "the emulator's CA", datetime.datetime.now(datetime.timezone.utc))
    alone = verifier.verify(*args)
    assert (alone["reason"], alone["checks"]) == ("untrusted_signer", ALL_CHECKS[:3])
    assert alone["message"].startswith("the signer certificate does not chain to a trusted root in the emulator's CA: ")
    asked = []

    def issuers_of(leaf, notes):
        asked.append(verifier.aia_urls(leaf))
        return [issuer]

    result = verifier.verify(*args, issuers=issuers_of)
    assert (result["verified"], result["checks"], len(result["chain"])) == (True, ALL_CHECKS, 3), result["message"]
    assert asked == [[imds_emulator.url + "/_emulator/ca/intermediate.crt"]]


def test_intermediate_in_the_document(imds_emulator_factory):
    """The old emulator shape (include_intermediate): nothing is fetched."""
    emu = imds_emulator_factory(profile=attested_knobs(include_intermediate=True))
    raw = fetch(emu)[0]
    assert len(cms.ContentInfo.load(bytes(der_of(raw)))["content"]["certificates"]) == 2

    def refuse(url, deadline):
        raise AssertionError("fetched %s" % url)

    result = verify_document(raw["document"], raw["nonce"], raw["instance_identity"], AttestOptions(ca_path=emu.ca_cert_path), fetch=refuse)
    assert result["verified"] is True, result["message"]


def test_aia_fetch_failure_is_reported(imds_emulator):
    raw = fetch(imds_emulator)[0]

    def broken(url, deadline):
        raise issuers.AiaFetchError("connection failed (Connection refused)")

    options = options_for(imds_emulator)
    result = verify_document(raw["document"], raw["nonce"], raw["instance_identity"], options, fetch=broken)
    assert result["reason"] == "untrusted_signer"
    assert "fetching the issuer from '%s/_emulator/ca/intermediate.crt' failed: connection failed (Connection refused)" % imds_emulator.url \
        in result["message"]


def test_intermediate_in_the_ca_bundle_is_not_enough_without_root(imds_emulator, tmp_path):
    """Only what attested_ca_path holds is trusted: the intermediate alone anchors the chain (pinning is the user's choice)."""
    bundle = tmp_path / "intermediate.pem"
    bundle.write_bytes(open(imds_emulator.intermediate_cert_path, "rb").read())
    assert check(imds_emulator, ca_path=str(bundle))["verified"] is True
    other = tmp_path / "other.pem"
    other.write_bytes(open(emulator_attested.get_untrusted_ca().ca_cert_path, "rb").read())
    assert check(imds_emulator, ca_path=str(other))["reason"] == "untrusted_signer"


# --------------------------------------------------------------------------- content checks

def test_stale_nonce(imds_emulator):
    fetch(imds_emulator)
    imds_emulator.set_faults(["stale-nonce=1"])
    raw = fetch(imds_emulator)[0]
    result = check(imds_emulator, raw)
    assert (result["verified"], result["reason"]) == (False, "nonce_mismatch")
    assert result["message"].startswith("nonce mismatch")
    assert raw["nonce"] in result["message"]
    assert result["checks"] == ["structure", "signature", "domain", "chain", "content"]


def test_nonce_compared_exactly(imds_emulator):
    raw = fetch(imds_emulator, nonce="abc123")[0]
    result = verify_document(raw["document"], "ABC123", raw["instance_identity"], options_for(imds_emulator))
    assert result["reason"] == "nonce_mismatch"


def test_expired_document(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(expired_document=True))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "expired"), result["message"]


def test_validity_window_and_clock_skew(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(clock_offset=30, lifetime=60))
    raw = fetch(emu)[0]
    assert check(emu, raw, clock_skew=60)["verified"] is True
    early = check(emu, raw, clock_skew=0)
    assert (early["verified"], early["reason"]) == (False, "not_yet_valid")
    created = datetime.datetime.strptime(json.loads(parsed(der_of(raw))[0])["timeStamp"]["createdOn"], "%m/%d/%y %H:%M:%S -0000")
    created = created.replace(tzinfo=datetime.timezone.utc)
    options = options_for(emu, clock_skew=5)
    late = verify_document(raw["document"], raw["nonce"], raw["instance_identity"], options, now=created + datetime.timedelta(seconds=66))
    assert late["reason"] == "expired"
    inside = verify_document(raw["document"], raw["nonce"], raw["instance_identity"], options, now=created + datetime.timedelta(seconds=64))
    assert inside["verified"] is True, inside["message"]


def test_vm_id_mismatch(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(vm_id="00000000-0000-4000-8000-000000000001"))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "vm_id_mismatch")
    assert "00000000-0000-4000-8000-000000000001" in result["message"]


def test_vm_id_from_the_same_run(imds_emulator):
    raw = fetch(imds_emulator)[0]
    other = dict(raw["instance_identity"], vmId="5c3a7b8e-0000-4000-8000-000000000000")
    result = verify_document(raw["document"], raw["nonce"], other, options_for(imds_emulator))
    assert result["reason"] == "vm_id_mismatch"
    empty = verify_document(raw["document"], raw["nonce"], {}, options_for(imds_emulator))
    assert empty["reason"] == "vm_id_mismatch"


def test_empty_vm_id_never_verifies(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(vm_id=""))
    raw = fetch(emu)[0]
    result = verify_document(raw["document"], raw["nonce"], dict(raw["instance_identity"], vmId=""), options_for(emu))
    assert result["reason"] == "vm_id_mismatch"


def test_subscription_mismatch(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(subscription_id="11111111-1111-4111-8111-111111111111"))
    result = check(emu)
    assert (result["verified"], result["reason"]) == (False, "subscription_id_mismatch")


def test_first_failed_check_wins(imds_emulator_factory):
    emu = imds_emulator_factory(profile=attested_knobs(untrusted_ca=True, vm_id="x", expired_document=True))
    assert check(emu)["reason"] == "untrusted_signer"
    emu.update_profile(attested_knobs(untrusted_ca=False, tamper="signature"))
    assert check(emu)["reason"] == "signature"
    emu.update_profile(attested_knobs(tamper=None))
    assert check(emu)["reason"] == "expired"
    emu.update_profile(attested_knobs(expired_document=False))
    assert check(emu)["reason"] == "vm_id_mismatch"


# --------------------------------------------------------------------------- the module side (target)

def test_module_side_is_never_verified(imds_emulator):
    facts = gather(imds_emulator, "0123456789")
    raw = facts["attested"]
    assert raw["verified"] is False and raw["reason"] == "not_verified"
    assert raw["nonce"] == "0123456789"
    assert facts["api_versions"]["attested"] == "2025-04-07"
    paths = [r.path for r in imds_emulator.request_log]
    assert paths.count("/metadata/attested/document") == 1
    assert [r.query.get("nonce") for r in imds_emulator.request_log if r.path == "/metadata/attested/document"] == ["0123456789"]


def test_module_side_without_instance_reads_compute(imds_emulator):
    facts = gather(imds_emulator, subsets=["attested"])
    assert "compute" not in facts and "placement" not in facts  # not gathered: absent, never an empty placeholder
    assert facts["attested"]["instance_identity"]["vmId"] == imds_emulator.profile["compute"]["vmId"]
    assert "/metadata/instance/compute" in [r.path for r in imds_emulator.request_log]
    assert check(imds_emulator, facts["attested"])["verified"] is True


@pytest.mark.parametrize("nonce, message", [(None, "needs the nonce"), ("x" * 33, "1 to 32"), ("abc-def", "1 to 32")])
def test_module_side_nonce_errors(imds_emulator, nonce, message):
    params = dict(endpoint=imds_emulator.url, detect="false", gather_subset=["attested"], attested_nonce=nonce)
    with pytest.raises(FactsError, match=message):
        gather_facts(params)


# --------------------------------------------------------------------------- algorithms

def signed_by(emu, key, content, padding=None, signed_attributes=False):
    """A document over ``content`` signed with ``key`` by a leaf that the emulator's CA issues (tests only)."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import hashes, serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.serialization import pkcs7  # pylint: disable=import-outside-toplevel
    ca = emulator_attested.get_ca(None)
    template, _rsa_key = ca.leaf(["eastus.metadata.azure.com"])
    cert = (x509.CertificateBuilder().subject_name(template.subject).issuer_name(template.issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(template.not_valid_before_utc)
            .not_valid_after(template.not_valid_after_utc))
    for extension in template.extensions:
        if isinstance(extension.value, x509.SubjectKeyIdentifier):
            cert = cert.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            cert = cert.add_extension(extension.value, critical=extension.critical)
    cert = cert.sign(ca.intermediate_key, hashes.SHA256())
    data = json.dumps(content, separators=(",", ":")).encode()
    builder = pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA384(), rsa_padding=padding)
    options = [pkcs7.PKCS7Options.Binary] + ([] if signed_attributes else [pkcs7.PKCS7Options.NoAttributes])
    der = builder.add_certificate(ca.intermediate_cert).sign(serialization.Encoding.DER, options)
    return {"encoding": "pkcs7", "signature": base64.b64encode(der).decode()}, ca.ca_cert_path


def test_ecdsa_and_rsa_pss_signers(imds_emulator):
    from cryptography.hazmat.primitives import hashes  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # pylint: disable=import-outside-toplevel
    raw = fetch(imds_emulator)[0]
    content = json.loads(parsed(der_of(raw))[0])
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=padding.PSS.DIGEST_LENGTH)
    for key, pad in ((ec.generate_private_key(ec.SECP256R1()), None), (rsa.generate_private_key(65537, 2048), pss)):
        for attrs in (False, True):
            document, ca_path = signed_by(imds_emulator, key, content, pad, attrs)
            result = verify_document(document, raw["nonce"], raw["instance_identity"], AttestOptions(ca_path=ca_path, aia_allowlist=[]))
            assert result["verified"] is True, (type(key).__name__, attrs, result["message"])
            der = bytearray(base64.b64decode(document["signature"]))
            der[bytes(der).find(b'"vmId":"') + 9] ^= 0x01
            tampered = verify_document({"encoding": "pkcs7", "signature": base64.b64encode(bytes(der)).decode()}, raw["nonce"],
                                       raw["instance_identity"], AttestOptions(ca_path=ca_path))
            assert tampered["reason"] == "signature"


def test_digest_algorithm_named_as_sha256_with_rsa(imds_emulator):
    """Real IMDS documents name sha256WithRSAEncryption as the digest algorithm; its hash is SHA-256."""
    raw = fetch(imds_emulator)[0]
    info = cms.ContentInfo.load(bytes(der_of(raw)))
    signer = info["content"]["signer_infos"][0]
    signer["digest_algorithm"] = {"algorithm": "1.2.840.113549.1.1.11"}
    der = info.dump(force=True)
    assert cms.ContentInfo.load(der)["content"]["signer_infos"][0]["digest_algorithm"]["algorithm"].dotted == "1.2.840.113549.1.1.11"
    result = check(imds_emulator, with_der(raw, der))
    assert result["verified"] is True, result["message"]
    signer["digest_algorithm"] = {"algorithm": "1.2.840.113549.1.1.4"}  # md5WithRSAEncryption: refused
    assert check(imds_emulator, with_der(raw, info.dump(force=True)))["reason"] == "signature"


def test_module_side_nonce_checked_before_any_request(imds_emulator):
    params = dict(endpoint=imds_emulator.url, detect="false", gather_subset=["instance", "loadbalancer", "attested"])
    with pytest.raises(FactsError, match="needs the nonce"):
        gather_facts(params)
    assert imds_emulator.request_log == []
