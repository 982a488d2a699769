# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attested document: real PKCS#7 signatures, SANs, nonce, timestamps, verifier knobs."""

import base64
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tools.imds_emulator import attested
from tools.imds_emulator.attested import CertificateAuthority
from imds_emu_helpers import call

TS = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d -0000$")


def fetch(emu, version="2021-02-01", nonce=None):
    path = "/metadata/attested/document?api-version=" + version + ("&nonce=" + nonce if nonce else "")
    reply = call(emu.url, path)
    assert reply.status == 200, reply
    body = reply.json()
    assert body["encoding"] == "pkcs7"
    info = cms.ContentInfo.load(base64.b64decode(body["signature"]))
    assert info["content_type"].native == "signed_data"
    signed = info["content"]
    content = signed["encap_content_info"]["content"].native
    certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"]]
    return signed, json.loads(content), content, certs


def leaf_of(signed, certs):
    serial = signed["signer_infos"][0]["sid"].chosen["serial_number"].native
    return next(c for c in certs if c.serial_number == serial)


def ca_issuers(cert):
    return [d.access_location.value for d in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value]


def test_signature_verifies_and_chains_to_ca(imds_emulator):
    """As real IMDS: the signing certificate alone in the set; its issuer is at its CA Issuers URL, on the emulator."""
    signed, doc, content, certs = fetch(imds_emulator, nonce="1234567890")
    assert doc["nonce"] == "1234567890"
    assert signed["version"].native == "v1"
    signer = signed["signer_infos"][0]
    assert signer["signed_attrs"].native is None
    assert len(certs) == 1
    leaf = leaf_of(signed, certs)
    leaf.public_key().verify(signer["signature"].native, content, padding.PKCS1v15(), hashes.SHA256())
    with open(imds_emulator.ca_cert_path, "rb") as handle:
        root = x509.load_pem_x509_certificate(handle.read())
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["westeurope.metadata.azure.com", "metadata.azure.com"]
    assert ca_issuers(leaf) == [imds_emulator.url + "/_emulator/ca/intermediate.crt"]
    der = call(imds_emulator.url, "/_emulator/ca/intermediate.crt", metadata=False)
    assert der.status == 200 and der.headers["content-type"] == "application/pkix-cert"
    intermediate = x509.load_der_x509_certificate(der.body)
    leaf.verify_directly_issued_by(intermediate)
    intermediate.verify_directly_issued_by(root)


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"include_intermediate": True}}})
def test_knob_include_intermediate(imds_emulator):
    """The emulator's earlier shape, kept for verifiers that want it: the intermediate in the set too."""
    signed, _doc, _content, certs = fetch(imds_emulator)
    assert len(certs) == 2
    leaf = leaf_of(signed, certs)
    leaf.verify_directly_issued_by(next(c for c in certs if c is not leaf))


def test_knob_ca_issuers_points_elsewhere(imds_emulator):
    """The hostile mode: the signer's CA Issuers URLs point wherever the knob says (a host chooses its certificate)."""
    elsewhere = ["http://192.0.2.10/latest/meta-data/", "http://127.0.0.1:1/issuer.crt"]
    imds_emulator.update_profile({"emulator": {"attested": {"ca_issuers": elsewhere}}})
    signed, _doc, _content, certs = fetch(imds_emulator)
    assert ca_issuers(leaf_of(signed, certs)) == elsewhere
    imds_emulator.update_profile({"emulator": {"attested": {"ca_issuers": "http://127.0.0.1:1/one.crt"}}})
    signed, _doc, _content, certs = fetch(imds_emulator)
    assert ca_issuers(leaf_of(signed, certs)) == ["http://127.0.0.1:1/one.crt"]


def test_ca_issuers_url_when_listening_on_every_address():
    """Listening on 0.0.0.0, the URL in the certificate is the address the client reached (its Host header)."""
    from tools.imds_emulator.testing import running_emulator  # pylint: disable=import-outside-toplevel
    with running_emulator(host="0.0.0.0") as emu:
        reached = "http://127.0.0.1:%d" % emu.port
        reply = call(reached, "/metadata/attested/document?api-version=2021-02-01")
        signed = cms.ContentInfo.load(base64.b64decode(reply.json()["signature"]))["content"]
        leaf = x509.load_der_x509_certificate(signed["certificates"][0].chosen.dump())
        assert ca_issuers(leaf) == [reached + "/_emulator/ca/intermediate.crt"]


@pytest.mark.parametrize("env, domain", [("AzurePublicCloud", "metadata.azure.com"), ("AZUREPUBLICCLOUD", "metadata.azure.com"),
                                         ("AzureUSGovernmentCloud", "metadata.azure.us"), ("AzureChinaCloud", "metadata.azure.cn"),
                                         ("AzureGermanCloud", "metadata.microsoftazure.de")])
def test_san_per_cloud(env, domain):
    from tools.imds_emulator.testing import running_emulator  # pylint: disable=import-outside-toplevel
    with running_emulator(profile={"compute": {"azEnvironment": env, "location": "usgovvirginia"}}) as emu:
        signed, _doc, _content, certs = fetch(emu)
        leaf = leaf_of(signed, certs)
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        assert sans == ["usgovvirginia." + domain, domain]


def test_default_nonce_and_timestamps(imds_emulator):
    _signed, doc, _content, _certs = fetch(imds_emulator)
    assert re.match(r"^\d{8}-\d{6}$", doc["nonce"])
    assert TS.match(doc["timeStamp"]["createdOn"]) and TS.match(doc["timeStamp"]["expiresOn"])
    expires = datetime.datetime.strptime(doc["timeStamp"]["expiresOn"], "%m/%d/%y %H:%M:%S -0000")
    assert expires > datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert doc["vmId"] == imds_emulator.profile["compute"]["vmId"]


@pytest.mark.parametrize("version, keys", [
    ("2018-10-01", {"nonce", "plan", "timeStamp", "vmId"}),
    ("2019-04-30", {"nonce", "plan", "timeStamp", "vmId", "subscriptionId"}),
    ("2019-11-01", {"nonce", "plan", "timeStamp", "vmId", "subscriptionId", "sku"}),
    ("2020-09-01", {"nonce", "plan", "timeStamp", "vmId", "subscriptionId", "sku", "licenseType"}),
])
def test_fields_gated(imds_emulator, version, keys):
    assert set(fetch(imds_emulator, version)[1]) == keys


def test_long_nonce_rejected(imds_emulator):
    assert call(imds_emulator.url, "/metadata/attested/document?api-version=2021-02-01&nonce=" + "1" * 33).status == 400


def test_stale_nonce_fault(imds_emulator):
    assert fetch(imds_emulator, nonce="1111111111")[1]["nonce"] == "1111111111"
    imds_emulator.set_faults(["stale-nonce=1"])
    assert fetch(imds_emulator, nonce="2222222222")[1]["nonce"] == "1111111111"
    imds_emulator.set_faults([])
    assert fetch(imds_emulator, nonce="3333333333")[1]["nonce"] == "3333333333"


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"signed_attributes": True}}})
def test_knob_signed_attributes(imds_emulator):
    signed = fetch(imds_emulator)[0]
    assert signed["signer_infos"][0]["signed_attrs"].native


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"untrusted_ca": True}}})
def test_knob_untrusted_ca(imds_emulator):
    signed, _doc, _content, certs = fetch(imds_emulator)
    with open(imds_emulator.intermediate_cert_path, "rb") as handle:
        intermediate = x509.load_pem_x509_certificate(handle.read())
    leaf = leaf_of(signed, certs)
    assert leaf.issuer != intermediate.subject
    with pytest.raises(Exception):
        leaf.verify_directly_issued_by(intermediate)
    with pytest.raises(x509.ExtensionNotFound):
        ca_issuers(leaf)  # nowhere to download its issuer from


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"san": ["metadata.evil.example"]}}})
def test_knob_san(imds_emulator):
    signed, _doc, _content, certs = fetch(imds_emulator)
    sans = leaf_of(signed, certs).extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["metadata.evil.example"]


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"expired_certificate": True, "expired_document": True,
                                                              "include_intermediate": False}}})
def test_knob_expired(imds_emulator):
    signed, doc, _content, certs = fetch(imds_emulator)
    assert len(certs) == 1
    assert leaf_of(signed, certs).not_valid_after_utc < datetime.datetime.now(datetime.timezone.utc)
    expires = datetime.datetime.strptime(doc["timeStamp"]["expiresOn"], "%m/%d/%y %H:%M:%S -0000")
    assert expires < datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def test_knobs_at_run_time(imds_emulator):
    reply = call(imds_emulator.url, "/_emulator/profile", method="PUT", metadata=False,
                 body={"emulator": {"attested": {"signed_attributes": True}}})
    assert reply.status == 200
    assert fetch(imds_emulator)[0]["signer_infos"][0]["signed_attrs"].native


def test_ca_dir_written_and_loaded(tmp_path):
    from tools.imds_emulator.testing import running_emulator  # pylint: disable=import-outside-toplevel
    with running_emulator(ca_dir=str(tmp_path)) as emu:
        assert emu.ca_cert_path == str(tmp_path / "ca.pem")
        signed, _doc, _content, certs = fetch(emu)
        assert leaf_of(signed, certs)
    first = (tmp_path / "ca.pem").read_bytes()
    again = CertificateAuthority(str(tmp_path))
    assert again.root_cert == x509.load_pem_x509_certificate(first)
    assert (tmp_path / "ca.pem").read_bytes() == first


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"vm_id": "00000000-0000-4000-8000-000000000001",
                                                              "subscription_id": "11111111-1111-4111-8111-111111111111"}}})
def test_knob_vm_id_and_subscription(imds_emulator):
    doc = fetch(imds_emulator)[1]
    assert doc["vmId"] == "00000000-0000-4000-8000-000000000001" != imds_emulator.profile["compute"]["vmId"]
    assert doc["subscriptionId"] == "11111111-1111-4111-8111-111111111111"
    instance = call(imds_emulator.url, "/metadata/instance?api-version=2021-02-01").json()
    assert instance["compute"]["vmId"] == imds_emulator.profile["compute"]["vmId"]


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"clock_offset": 600}}})
def test_knob_clock_offset(imds_emulator):
    created = datetime.datetime.strptime(fetch(imds_emulator)[1]["timeStamp"]["createdOn"], "%m/%d/%y %H:%M:%S -0000")
    ahead = created - datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert datetime.timedelta(seconds=590) < ahead < datetime.timedelta(seconds=610)


@pytest.mark.parametrize("signed_attributes", [False, True])
def test_knob_tamper_content(imds_emulator, signed_attributes):
    imds_emulator.update_profile({"emulator": {"attested": {"tamper": "content", "signed_attributes": signed_attributes}}})
    signed, doc, content, certs = fetch(imds_emulator)
    vm_id = imds_emulator.profile["compute"]["vmId"]
    assert doc["vmId"] != vm_id and len(doc["vmId"]) == len(vm_id)
    assert sum(a != b for a, b in zip(doc["vmId"], vm_id)) == 1
    signer = signed["signer_infos"][0]
    leaf = leaf_of(signed, certs)
    if signed_attributes:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(content)
        message_digest = next(a["values"][0].native for a in signer["signed_attrs"] if a["type"].native == "message_digest")
        assert message_digest != digest.finalize()
    else:
        with pytest.raises(Exception):
            leaf.public_key().verify(signer["signature"].native, content, padding.PKCS1v15(), hashes.SHA256())


def test_knob_tamper_signature(imds_emulator):
    imds_emulator.update_profile({"emulator": {"attested": {"tamper": "signature"}}})
    signed, doc, content, certs = fetch(imds_emulator)
    assert doc["vmId"] == imds_emulator.profile["compute"]["vmId"]
    with pytest.raises(Exception):
        leaf_of(signed, certs).public_key().verify(signed["signer_infos"][0]["signature"].native, content, padding.PKCS1v15(), hashes.SHA256())
    imds_emulator.update_profile({"emulator": {"attested": {"tamper": None}}})
    signed, doc, content, certs = fetch(imds_emulator)
    leaf_of(signed, certs).public_key().verify(signed["signer_infos"][0]["signature"].native, content, padding.PKCS1v15(), hashes.SHA256())


def test_knob_tamper_unknown(imds_emulator):
    imds_emulator.update_profile({"emulator": {"attested": {"tamper": "nonsense"}}})
    path = "/metadata/attested/document?api-version=2021-02-01"
    assert call(imds_emulator.url, path).status == 500


def test_a_ca_directory_left_by_a_process_that_skipped_atexit_is_removed_by_the_next_one(tmp_path, monkeypatch):
    # ansible-core's forked workers end with os._exit: atexit never removes what they created (and
    # nothing flushes stdout: without PYTHONUNBUFFERED the print is lost unless flushed).
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    child = subprocess.run(
        [sys.executable, "-c",
         "import os; from tools.imds_emulator import attested; print(attested._temporary_dir('imds-emulator-ca-'), flush=True); os._exit(0)"],
        cwd=root, env=dict(os.environ, TMPDIR=str(tmp_path)), capture_output=True, text=True, timeout=60, check=True)
    orphan = child.stdout.strip()
    assert os.path.isdir(orphan) and orphan.startswith(str(tmp_path)), child
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = attested._temporary_dir("imds-emulator-ca-")
    assert not os.path.exists(orphan)
    assert os.path.isdir(mine) and os.path.dirname(mine) == os.path.dirname(orphan)
