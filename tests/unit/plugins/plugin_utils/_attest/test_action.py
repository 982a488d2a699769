# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The attestation glue of the metadata_facts action: options, trust anchors, the nonce, the verdict in the facts."""

from __future__ import annotations

import json
import re

import pytest

from ansible_collections.imds.azure.plugins.module_utils._facts import gather_facts
from ansible_collections.imds.azure.plugins.plugin_utils._attest import action as _attest
from ansible_collections.imds.azure.plugins.plugin_utils._attest.action import AttestConfigError, AttestOptions


def gather(emu):
    return gather_facts(dict(endpoint=emu.url, detect="false", gather_subset=["instance", "attested"], attested_nonce=_attest.new_nonce()))


# --------------------------------------------------------------------------- trust anchors and options

def test_ca_path_errors(tmp_path):
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificates here\n")
    with pytest.raises(AttestConfigError, match="no PEM certificate"):
        _attest.load_trust_anchors(str(empty))
    with pytest.raises(AttestConfigError, match="not a readable file"):
        AttestOptions.from_params({"attested_ca_path": str(tmp_path / "missing.pem")})


def test_default_trust_store_is_not_empty():
    anchors, source = _attest.load_trust_anchors(None)
    assert anchors, source
    assert "trust store" in source or "certifi" in source


@pytest.mark.parametrize("args, message", [
    ({"attested_clock_skew": -1}, "between 0 and 3600"),
    ({"attested_nonce_retries": 11}, "between 0 and 10"),
    ({"attested_domain": "not a domain"}, "not a DNS domain"),
    ({"attested_aia_allowlist": ["www.microsoft.com/pkiops/certs/"]}, "not an http:// or https:// URL prefix"),
    ({"attested_aia_allowlist": ["ftp://www.microsoft.com/"]}, "not an http:// or https:// URL prefix"),
    ({"attested_aia_allowlist": ["http://user@www.microsoft.com/"]}, "not an http:// or https:// URL prefix"),
    ({"attested_aia_allowlist": ["http://www.microsoft.com/pkiops/certs"]}, "ending in /"),
    ({"attested_aia_allowlist": ["http://www.microsoft.com/pkiops/?x=1"]}, "ending in /"),
    ({"attested_aia_allowlist": ["http://www.microsoft.com/pkiops/../"]}, "ending in /"),
])
def test_option_errors(args, message):
    """Values of the right type that are still wrong (the task's argument spec checks the types: test_metadata_facts_attested)."""
    with pytest.raises(AttestConfigError, match=message):
        AttestOptions.from_params(args)


def test_options_defaults_and_domain_normalised():
    options = AttestOptions.from_params({"attested_domain": "*.Metadata.Azure.US", "attested_clock_skew": None})
    assert (options.domain, options.clock_skew, options.required, options.nonce_retries, options.fetch_intermediates) == \
        ("metadata.azure.us", 60.0, True, 2, True)
    hosts = [entry[:2] for entry in options.aia_allowlist]
    assert hosts == [("http", "www.microsoft.com"), ("http", "caissuers.microsoft.com"), ("http", "cacerts.digicert.com"),
                     ("http", "cacerts.digicert.cn"), ("http", "cacerts.geotrust.com")]


# --------------------------------------------------------------------------- prepare / complete (the action's glue)

def test_prepare_chooses_a_fresh_nonce_per_call():
    nonces = set()
    for _index in range(20):
        run = _attest.prepare({"gather_subset": ["instance", "attested"]})
        assert len(run.nonce) == 32 and run.nonce.isalnum()
        nonces.add(run.nonce)
    assert len(nonces) == 20


@pytest.mark.parametrize("subset", [["instance"], ["all"], ["bogus"]])
def test_prepare_without_attested(subset):
    assert _attest.prepare({"gather_subset": subset}) is None


def run_action(emu, sleeps, extra=None, regather_hook=None):
    args = {"endpoint": emu.url, "detect": "false", "gather_subset": ["instance", "attested"], "attested_ca_path": emu.ca_cert_path,
            "attested_aia_allowlist": [emu.url + "/_emulator/ca/"]}
    args.update(extra or {})
    run = _attest.prepare(args)
    args = dict((name, value) for name, value in args.items() if name not in _attest.OPTION_NAMES)
    args[_attest.NONCE_OPTION] = run.nonce
    calls = []

    def regather(new_args):
        calls.append(new_args)
        if regather_hook:
            regather_hook()
        return {"ansible_facts": {"azure_imds": gather_facts(dict(new_args))}}

    result = {"ansible_facts": {"azure_imds": gather_facts(dict(args))}}
    return _attest.complete(result, run, args, regather, sleep=sleeps.append), calls


def test_complete_verified(imds_emulator):
    result, calls = run_action(imds_emulator, [])
    attested = result["ansible_facts"]["azure_imds"]["attested"]
    assert not result.get("failed")
    assert attested["verified"] is True and attested["attempts"] == 1 and calls == []
    assert attested["instance_identity"]["vmId"] == result["ansible_facts"]["azure_imds"]["compute"]["vmId"]


def test_complete_retries_a_stale_nonce_with_fresh_ones(imds_emulator):
    gather(imds_emulator)
    imds_emulator.set_faults(["stale-nonce=1"])
    sleeps = []
    result, calls = run_action(imds_emulator, sleeps)
    attested = result["ansible_facts"]["azure_imds"]["attested"]
    assert result["failed"] is True
    assert attested["reason"] == "nonce_mismatch" and attested["attempts"] == 3
    assert "nonce_mismatch" in result["msg"] and result["imds_error"] == "attestation" and result["attested_reason"] == "nonce_mismatch"
    assert sleeps == [1.0, 2.0]
    assert len({c["attested_nonce"] for c in calls}) == 2 and all(c["gather_subset"] == ["attested"] for c in calls)
    assert attested["nonce"] == calls[-1]["attested_nonce"]
    # The failed task's result is printed whole: it never holds the base64 document (issue 22 item 16).
    assert "document" not in attested and not re.search(r"[A-Za-z0-9+/]{200,}", json.dumps(result))


def test_complete_retry_recovers(imds_emulator):
    gather(imds_emulator)
    imds_emulator.set_faults(["stale-nonce=1"])
    result, calls = run_action(imds_emulator, [], regather_hook=lambda: imds_emulator.set_faults([]))
    attested = result["ansible_facts"]["azure_imds"]["attested"]
    assert not result.get("failed")
    assert attested["verified"] is True and attested["attempts"] == 2 and len(calls) == 1


def test_complete_no_retry_when_asked(imds_emulator):
    gather(imds_emulator)
    imds_emulator.set_faults(["stale-nonce=1"])
    result, calls = run_action(imds_emulator, [], {"attested_nonce_retries": 0, "attested_required": False})
    assert not result.get("failed") and calls == []
    assert result["ansible_facts"]["azure_imds"]["attested"]["reason"] == "nonce_mismatch"


def test_complete_not_azure():
    run = _attest.prepare({"gather_subset": ["attested"]})
    result = {"ansible_facts": {"azure_imds": {"is_azure": False, "detection": "dmi"}}}
    result = _attest.complete(result, run, {}, None)
    assert result["failed"] is True
    assert result["ansible_facts"]["azure_imds"]["attested"]["reason"] == "not_azure"
