# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""Attested documents in the ``imds.azure.metadata_facts`` action (``gather_subset: attested``).

The module fetches ``/metadata/attested/document`` on the target with a nonce that the
controller chose (``prepare``); the action plugin then hands the raw document here
(``complete``), and only the controller decides whether it is genuine: with the attested_*
options (``AttestOptions``), the trust anchors read here (``load_trust_anchors``), the
verifier (``verifier``, no I/O) and the issuer downloads (``issuers``). A stale nonce is
retried with a fresh one (the module runs again). A host that is not an Azure VM gets the
reason ``not_azure`` (nothing to verify).
"""

from __future__ import annotations

import datetime
import functools
import os
import re
import secrets
import ssl
import time

from ansible_collections.imds.azure.plugins.module_utils._facts import FactsError, parse_gather_subset
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure
from ansible_collections.imds.azure.plugins.plugin_utils._attest import issuers, verifier

REQUIREMENTS_HINT = ("the attested subset is verified on the controller and needs the Python packages cryptography>=45 "
                     "and asn1crypto there (pip install 'cryptography>=45' asn1crypto; see the collection's requirements)")

# The options of imds.azure.metadata_facts that only the controller reads.
OPTION_NAMES = ("attested_ca_path", "attested_domain", "attested_clock_skew", "attested_required", "attested_nonce_retries",
                "attested_fetch_intermediates", "attested_aia_allowlist")
NONCE_OPTION = "attested_nonce"  # internal: set by the action, refused from a task
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")
RETRY_DELAY = 1.0
MAX_NONCE_RETRIES = 10


class AttestConfigError(ActionFailure, ValueError):
    """A bad attested_* option or a missing requirement: the task fails whatever attested_required says."""

    kind = "config"


def new_nonce():
    """A fresh nonce: 32 random hexadecimal characters (128 bits), the most IMDS accepts."""
    return secrets.token_hex(16)


# --------------------------------------------------------------------------------- options


class AttestOptions(object):
    """The controller-side attested_* options, checked beyond their types (the task's argument spec checks those)."""

    def __init__(self, ca_path=None, domain=None, clock_skew=60.0, required=True, nonce_retries=2, fetch_intermediates=True,
                 aia_allowlist=issuers.DEFAULT_AIA_ALLOWLIST):
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
        try:
            self.aia_allowlist = tuple(issuers.allowlist_entry(entry) for entry in aia_allowlist)
        except ValueError as exc:
            raise AttestConfigError(str(exc))

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


# --------------------------------------------------------------------------------- trust anchors


def _pem_file(path):
    with open(path, "rb") as handle:
        return verifier.pem_certificates(handle.read())


def load_trust_anchors(ca_path=None):
    """``(certificates, description)`` of the trusted roots.

    With ``ca_path``: exactly the certificates of that PEM file (AttestConfigError when it has none).
    Without: the system trust store (OpenSSL's default CA file, else its CA directory), else
    certifi's bundle when certifi is installed. Returns ``([], why)`` when nothing is found.
    """
    _require()
    if ca_path:
        try:
            certs = _pem_file(ca_path)
        except (IOError, OSError) as exc:
            raise AttestConfigError("attested_ca_path %s cannot be read: %s" % (ca_path, exc))
        if not certs:
            raise AttestConfigError("attested_ca_path %s holds no PEM certificate" % ca_path)
        return certs, "attested_ca_path %s (%d certificates)" % (ca_path, len(certs))
    paths = ssl.get_default_verify_paths()
    for cafile in (paths.cafile, paths.openssl_cafile):
        if cafile and os.path.isfile(cafile):
            try:
                certs = _pem_file(cafile)
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
                        certs.extend(_pem_file(full))
                    except (IOError, OSError):
                        continue
            if certs:
                return certs, "the system trust store %s (%d certificates)" % (capath, len(certs))
    try:
        import certifi  # pylint: disable=import-outside-toplevel
    except ImportError:
        return [], "no system trust store was found and certifi is not installed; set attested_ca_path"
    certs = _pem_file(certifi.where())
    return certs, "certifi %s (%d certificates)" % (certifi.where(), len(certs))


def _require():
    if verifier.IMPORT_ERROR is not None:
        raise AttestConfigError("%s (import failed: %s)" % (REQUIREMENTS_HINT, verifier.IMPORT_ERROR))


# --------------------------------------------------------------------------------- verification


def verify_document(document, nonce, identity, options=None, anchors=None, anchors_from="", now=None, fetch=None):
    """Verify one attested document on the controller; returns the ``attested`` fact (``verifier.verify``).

    ``anchors``: trusted roots (default: ``load_trust_anchors``); ``now``: default the controller's clock;
    ``fetch``: callable(url, deadline) -> bytes for the CA Issuers downloads, called only for URLs under
    ``options.aia_allowlist`` (default: ``issuers.fetch_issuer``; none when not fetch_intermediates).
    """
    _require()
    options = options or AttestOptions()
    if anchors is None:
        anchors, anchors_from = load_trust_anchors(options.ca_path)
    downloads = None
    if options.fetch_intermediates:
        downloads = functools.partial(issuers.downloads, allowlist=options.aia_allowlist, fetch=fetch or issuers.fetch_issuer)
    return verifier.verify(document, nonce, identity, anchors, anchors_from, now or datetime.datetime.now(datetime.timezone.utc),
                           domain=options.domain, clock_skew=options.clock_skew, issuers=downloads)


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


def complete(result, run, module_args, regather, sleep=time.sleep):
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
            verdict = verify_document(raw.get("document"), nonce, identity, run.options, anchors=anchors, anchors_from=anchors_from)
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
