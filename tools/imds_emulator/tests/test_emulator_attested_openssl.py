# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's attested document, validated the way Microsoft's documentation does it, with the real openssl.

Modelled on the Linux sample "Validating that the VM is running in Azure" of the Instance Metadata Service docs and on
VerifySignature.sh in github.com/microsoft/azureimds: decode the signature; ``openssl pkcs7 -print_certs`` and take the
first certificate as the signer; download its issuer from the signer's "CA Issuers" URL; ``openssl smime -verify
-noverify`` for the signature over the content; ``openssl verify -CAfile ROOT -untrusted intermediate.pem signer.pem``
for the chain. The emulator's test CA plays the root. Nothing here is the collection's code, nor the emulator's.

Run as a script (``python test_emulator_attested_openssl.py WORKDIR``) it plays IMDS at 169.254.169.254:80 and
validates there; the last test runs it so inside a network namespace of its own.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
for _path in (ROOT, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from imds_emu_helpers import call  # noqa: E402  pylint: disable=wrong-import-position

OPENSSL_MISSING = "the openssl command-line tool is not installed; install it with: apt-get install openssl (Debian/Ubuntu, as root)"
RUN_IN_NETNS = os.path.join(ROOT, "tools", "run-in-netns.sh")


def openssl(workdir, *args):
    """One openssl command in ``workdir``: (exit status, stdout, stderr)."""
    executable = shutil.which("openssl")
    if executable is None:
        raise RuntimeError(OPENSSL_MISSING)
    done = subprocess.run([executable] + list(args), cwd=workdir, capture_output=True, text=True, timeout=60, check=False)
    return done.returncode, done.stdout, done.stderr


def must(workdir, *args):
    status, out, err = openssl(workdir, *args)
    assert status == 0, "openssl %s failed (%d): %s" % (" ".join(args), status, err)
    return out


def validate_like_microsoft(base_url, root_pem, workdir, nonce="1234567890"):
    """Microsoft's documented validation of an attested document against ``base_url``; returns what each step saw."""
    reply = call(base_url, "/metadata/attested/document?api-version=2020-09-01&nonce=" + nonce)
    assert reply.status == 200, reply
    with open(os.path.join(workdir, "decodedsignature"), "wb") as handle:
        handle.write(base64.b64decode(reply.json()["signature"]))
    must(workdir, "pkcs7", "-in", "decodedsignature", "-inform", "DER", "-out", "sign.pk7")
    must(workdir, "pkcs7", "-in", "decodedsignature", "-inform", "DER", "-print_certs", "-out", "signer.pem")
    with open(os.path.join(workdir, "signer.pem")) as handle:
        certificates_in_set = handle.read().count("-----BEGIN CERTIFICATE-----")
    # The documented way to find the issuer: the " CA Issuers - URI:" line of the (first) certificate's text.
    text = must(workdir, "x509", "-in", "signer.pem", "-text", "-noout")
    issuers = re.findall(r"CA Issuers - URI:(\S+)", text)
    assert issuers, "the signer certificate has no CA Issuers URL:\n" + text
    downloaded = call(*_split(issuers[0]), metadata=False)
    assert downloaded.status == 200, downloaded
    with open(os.path.join(workdir, "intermediate.cer"), "wb") as handle:
        handle.write(downloaded.body)
    must(workdir, "x509", "-inform", "der", "-in", "intermediate.cer", "-out", "intermediate.pem")
    smime = openssl(workdir, "smime", "-verify", "-in", "sign.pk7", "-inform", "pem", "-noverify")
    chain = openssl(workdir, "verify", "-verbose", "-CAfile", root_pem, "-untrusted", "intermediate.pem", "signer.pem")
    return {
        "certificates_in_set": certificates_in_set,
        "ca_issuers": issuers,
        "signature_ok": smime[0] == 0,
        "content": json.loads(smime[1]) if smime[0] == 0 else None,
        "signer_subject": must(workdir, "x509", "-noout", "-subject", "-in", "signer.pem").strip(),
        "signer_issuer": must(workdir, "x509", "-noout", "-issuer", "-in", "signer.pem").strip(),
        "intermediate_subject": must(workdir, "x509", "-noout", "-subject", "-in", "intermediate.pem").strip(),
        "chain_ok": chain[0] == 0 and chain[1].strip() == "signer.pem: OK",
        "chain_output": chain[1] + chain[2],
    }


def _split(url):
    """(base URL, path) for imds_emu_helpers.call."""
    match = re.match(r"^(https?://[^/]+)(/.*)$", url)
    assert match, url
    return match.group(1), match.group(2)


@pytest.fixture(name="workdir")
def _workdir(tmp_path):
    if shutil.which("openssl") is None:
        pytest.fail(OPENSSL_MISSING)
    return str(tmp_path)


def test_documented_validation_passes(imds_emulator, workdir):
    seen = validate_like_microsoft(imds_emulator.url, imds_emulator.ca_cert_path, workdir)
    assert seen["certificates_in_set"] == 1  # real IMDS: the signing certificate only
    assert seen["ca_issuers"] == [imds_emulator.url + "/_emulator/ca/intermediate.crt"]
    assert seen["signature_ok"] is True
    assert seen["content"]["nonce"] == "1234567890"
    assert seen["content"]["vmId"] == imds_emulator.profile["compute"]["vmId"]
    assert "CN = metadata.azure.com" in seen["signer_subject"]
    assert seen["signer_issuer"].replace("issuer=", "") == seen["intermediate_subject"].replace("subject=", "")
    assert seen["chain_ok"] is True, seen["chain_output"]


def test_documented_validation_rejects_another_root(imds_emulator, workdir):
    from tools.imds_emulator.attested import get_untrusted_ca  # pylint: disable=import-outside-toplevel
    seen = validate_like_microsoft(imds_emulator.url, get_untrusted_ca().ca_cert_path, workdir)
    assert seen["signature_ok"] is True
    assert seen["chain_ok"] is False
    assert "unable to get local issuer certificate" in seen["chain_output"]


@pytest.mark.imds_emulator(profile={"emulator": {"attested": {"tamper": "content"}}})
def test_documented_validation_rejects_changed_content(imds_emulator, workdir):
    seen = validate_like_microsoft(imds_emulator.url, imds_emulator.ca_cert_path, workdir)
    assert seen["signature_ok"] is False
    assert seen["chain_ok"] is True  # the certificates are fine; the content is not


def test_documented_validation_at_the_default_endpoint(workdir):
    """In a namespace of its own, the emulator is IMDS at 169.254.169.254 and the CA Issuers URL points there too."""
    done = subprocess.run([RUN_IN_NETNS, sys.executable, os.path.abspath(__file__), workdir], capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["ca_issuers"] == ["http://169.254.169.254:80/_emulator/ca/intermediate.crt"]
    assert seen["certificates_in_set"] == 1
    assert (seen["signature_ok"], seen["chain_ok"]) == (True, True), seen["chain_output"]


def _main(workdir):
    # Plays IMDS at its real address: only inside a network namespace a test created.
    sys.path.insert(0, os.path.join(ROOT, "tools", "netguard"))
    import imds_netguard  # pylint: disable=import-outside-toplevel,import-error
    if not imds_netguard.in_private_namespace():
        sys.exit("refusing to listen at 169.254.169.254 outside a network namespace of its own (run it with tools/run-in-netns.sh)")
    from tools.imds_emulator import Emulator  # pylint: disable=import-outside-toplevel
    with Emulator(host="169.254.169.254", port=80, rate_limit=None) as emu:
        print(json.dumps(validate_like_microsoft("http://169.254.169.254", emu.ca_cert_path, workdir)))


if __name__ == "__main__":
    _main(sys.argv[1])
