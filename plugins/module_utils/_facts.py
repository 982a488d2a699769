# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""The ``azure_imds`` facts of imds.azure.metadata_facts: gather_subset, what each subset gathers, detection.

``run_module`` is the module's entry point; the action plugin runs the same entry point on the
controller for Windows targets. Subset names and the fact keys they fill: SUBSETS and FACT_KEYS.
The placement and tags facts come from the model in _placement.py, user data from _documents.py
(imported only when the userdata or attested subset is gathered).
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.imds.azure.plugins.module_utils._client import DEFAULT_ENDPOINT, ImdsClient, validate_endpoint
from ansible_collections.imds.azure.plugins.module_utils._errors import (
    ImdsAzureError,
    ImdsError,
    ImdsNotFound,
    ImdsTimeout,
    ImdsUnreachable,
)
from ansible_collections.imds.azure.plugins.module_utils._detect import AZURE, NOT_AZURE, UNKNOWN, detect_azure
from ansible_collections.imds.azure.plugins.module_utils._placement import EMPTY_PLACEMENT, from_fields
from ansible_collections.imds.azure.plugins.module_utils._shape import checked

FACT_NAME = "azure_imds"

# The module's options, validated once where the module's code runs: by the module on the target, and
# on the controller for a Windows target (plugin_utils._windows.controller; the environment fallback is
# read on the target there).
ARGUMENT_SPEC = dict(
    endpoint=dict(type="str", default="http://169.254.169.254", fallback=(env_fallback, ["AZURE_IMDS_ENDPOINT"])),
    api_version=dict(type="str", default="latest"),
    timeout=dict(type="float", default=5.0),
    deadline=dict(type="float", default=90.0),
    gather_subset=dict(type="list", elements="str", default=["instance"]),
    detect=dict(type="str", default="auto", choices=["auto", "true", "false"]),
    # Options that the action plugin reads on the controller when gather_subset names attested
    # (plugins/plugin_utils/_attest/action.py) and then does not pass on; declared here so that the module's
    # documentation and argument spec agree.
    attested_required=dict(type="bool", default=True),
    attested_ca_path=dict(type="path"),
    attested_domain=dict(type="str"),
    attested_clock_skew=dict(type="float", default=60.0),
    attested_nonce_retries=dict(type="int", default=2),
    attested_fetch_intermediates=dict(type="bool", default=True),
    attested_aia_allowlist=dict(type="list", elements="str"),
    # Internal: the nonce the action plugin chose for this host and run; a task cannot set it.
    attested_nonce=dict(type="str"),
)

# A subset is named after the IMDS category it reads (``/metadata/scheduledevents``); the facts are keyed
# like Ansible variables. Where the two differ, gather_subset accepts the fact's key too.
SUBSETS = ("instance", "loadbalancer", "scheduledevents", "versions", "attested", "userdata")
FACT_KEYS = {
    "instance": ("compute", "network", "placement", "tags"),
    "loadbalancer": ("loadbalancer",),
    "scheduledevents": ("scheduled_events",),
    "versions": ("versions",),
    "attested": ("attested",),
    "userdata": ("userdata",),
}
SUBSET_ALIASES = dict((keys[0], subset) for subset, keys in FACT_KEYS.items() if len(keys) == 1 and keys[0] != subset)
# ``all`` never includes userdata (may hold secrets) nor attested (verified on the controller, fails
# the task by default when it does not verify): both are only gathered when named explicitly.
ALL_SUBSETS = ("instance", "loadbalancer", "scheduledevents", "versions")
DEFAULT_SUBSET = ("instance",)

USERDATA_MIN_VERSION = "2021-01-01"

# The attested document's nonce: chosen by the controller (the action plugin), sent to IMDS as is.
# The swagger allows up to 32 alphanumeric characters.
MAX_NONCE = 32
# What the controller compares the signed content with (from the instance metadata of the same run).
ATTESTED_IDENTITY_KEYS = ("vmId", "subscriptionId", "azEnvironment")


class FactsError(ImdsAzureError):
    """A problem with the module's input or with what IMDS returned (message is user-facing)."""

    kind = "config"


class FactsModule(AnsibleModule):
    """The module's AnsibleModule: its own failures (options its argument spec refuses) say ``imds_error: config``."""

    def fail_json(self, msg, **kwargs):
        kwargs.setdefault("imds_error", FactsError.kind)
        super(FactsModule, self).fail_json(msg=msg, **kwargs)


def parse_gather_subset(values):
    """Resolve a ``gather_subset`` list (``setup`` style) to an ordered tuple of subsets.

    Names add a subset (SUBSET_ALIASES name some a second way), ``all`` adds every subset except
    ``userdata`` and ``attested``, ``!name``/``!all`` remove. With only exclusions the starting
    point is ``all``. Entries may also be comma-separated strings.
    """
    if values is None:
        values = list(DEFAULT_SUBSET)
    if isinstance(values, str):
        values = [values]
    entries = []
    for value in values:
        entries.extend(part.strip() for part in str(value).split(",") if part.strip())
    include, exclude = set(), set()
    positive = False
    for entry in entries:
        negate = entry.startswith("!")
        name = entry[1:].strip() if negate else entry
        name = SUBSET_ALIASES.get(name, name)
        if name == "all":
            names = set(ALL_SUBSETS)
        elif name in SUBSETS:
            names = {name}
        else:
            raise FactsError("gather_subset: unknown subset %r; valid subsets are all, %s (prefix with ! to exclude)"
                             % (entry, ", ".join(SUBSETS)))
        if negate:
            exclude |= names
        else:
            positive = True
            include |= names
    if not positive:
        include = set(ALL_SUBSETS)
    selected = include - exclude
    if not selected:
        raise FactsError("gather_subset %r selects nothing to gather" % (entries,))
    return tuple(name for name in SUBSETS if name in selected)


def _base_facts(endpoint, detection):
    return {"is_azure": False, "detection": detection, "endpoint": endpoint, "api_version": "", "api_versions": {}}


def empty_facts(endpoint, detection):
    """The fact shape for a host that is not Azure: the instance keys are there, and empty."""
    facts = _base_facts(endpoint, detection)
    facts.update(compute={}, network={}, placement=dict(EMPTY_PLACEMENT), tags={})
    return facts


def check_nonce(nonce):
    """The controller's nonce must be there and be what IMDS accepts (FactsError otherwise)."""
    if not nonce:
        raise FactsError("gather_subset attested needs the nonce that the controller chose (attested_nonce); the "
                         "imds.azure.metadata_facts action sets it. Run the module as a task, not on its own.")
    if not (isinstance(nonce, str) and len(nonce) <= MAX_NONCE and nonce.isascii() and nonce.isalnum()):
        raise FactsError("attested_nonce must be 1 to 32 letters or digits, got %d characters" % len(str(nonce)))


def _attested(client, nonce, compute):
    """The ``attested`` fact as gathered on the target: the raw document, NOT verified.

    The action plugin in front of the module verifies it on the controller and replaces this
    fact with the result; on its own it always says ``verified: false``.
    """
    from ansible_collections.imds.azure.plugins.module_utils._documents import as_text  # pylint: disable=import-outside-toplevel

    check_nonce(nonce)
    document = checked("attested", client.get_json("attested", "document", query={"nonce": nonce}),
                       client.endpoint + "/metadata/attested/document")
    if compute is None:
        compute = client.get_json("instance", "compute")
        checked("compute", compute, client.endpoint + "/metadata/instance/compute")
    return {
        "verified": False,
        "reason": "not_verified",
        "message": "not verified: the imds.azure.metadata_facts action verifies the document on the controller",
        "nonce": nonce,
        "api_version": client.api_version_for("attested"),
        "document": {"encoding": document["encoding"], "signature": document["signature"]},
        "instance_identity": dict((key, as_text(compute.get(key))) for key in ATTESTED_IDENTITY_KEYS),
    }


def _collect(client, subsets, facts, warn, attested_nonce=None):
    user_data = None
    if "instance" in subsets:
        document = client.get_json("instance")
        fields = checked("instance", document, client.endpoint + "/metadata/instance")
        # userData is a secret-ish blob: never part of the compute fact (see the userdata subset).
        user_data = fields.get("userData")
        facts["compute"] = dict((key, value) for key, value in document["compute"].items() if key != "userData")
        facts["network"] = document["network"]
        facts["placement"], facts["tags"] = from_fields(fields)
    if "userdata" in subsets:
        from ansible_collections.imds.azure.plugins.module_utils._documents import decode_userdata  # pylint: disable=import-outside-toplevel

        version = client.api_version_for("instance")
        if version < USERDATA_MIN_VERSION:
            raise FactsError("gather_subset userdata needs api_version %s or newer (IMDS added userData then); api_version is %s"
                             % (USERDATA_MIN_VERSION, version))
        if user_data is None:
            user_data = client.get_text("instance", "compute/userData")
        facts["userdata"] = decode_userdata(user_data, warn)
    if "loadbalancer" in subsets:
        try:
            data = client.get_json("loadbalancer")
        except ImdsNotFound as exc:
            if not exc.no_load_balancer:
                raise
            facts["loadbalancer"] = {"found": False, "publicIpAddresses": [], "inboundRules": [], "outboundRules": []}
        else:
            inner = checked("loadbalancer", data, client.endpoint + "/metadata/loadbalancer")
            loadbalancer = {"found": True, "publicIpAddresses": [], "inboundRules": [], "outboundRules": []}
            loadbalancer.update(inner)
            facts["loadbalancer"] = loadbalancer
    if "scheduledevents" in subsets:
        facts["scheduled_events"] = checked("scheduledevents", client.get_json("scheduledevents"),
                                            client.endpoint + "/metadata/scheduledevents")
    if "versions" in subsets:
        facts["versions"] = client.available_versions()
    if "attested" in subsets:
        facts["attested"] = _attested(client, attested_nonce, facts["compute"] if "instance" in subsets else None)
    used = [category for category in ("instance", "loadbalancer", "scheduledevents", "attested") if category in subsets]
    if ("userdata" in subsets or "attested" in subsets) and "instance" not in used:
        used.insert(0, "instance")
    facts["api_versions"] = dict((category, client.api_version_for(category)) for category in used)
    facts["api_version"] = client.api_version_for("instance", negotiate=False) or ""
    facts["is_azure"] = True
    return facts


def _probe_says_absent(exc):
    """In probing mode: did nothing IMDS-like answer at all?

    Refused, unreachable or a connect timeout: nothing is there. A listener that accepted the
    connection and then stalled or reset it is something, and that is an IMDS failure.
    """
    if exc.status is None:
        return isinstance(exc, (ImdsUnreachable, ImdsTimeout)) and not exc.connected
    return not (200 <= exc.status < 300) and not exc.imds_answered


def gather_facts(params, warn=None, no_log=False, client_factory=ImdsClient, detector=detect_azure):
    """Gather ``ansible_facts.azure_imds`` for the module's parameters.

    Raises FactsError or ImdsError (both with user-facing messages).
    """
    subsets = parse_gather_subset(params.get("gather_subset"))
    if "userdata" in subsets and not no_log:
        raise FactsError("gather_subset userdata returns the VM's user data, which may hold secrets: set 'no_log: true' on the "
                         "task so that it stays out of logs and -v output (see docs/docsite/rst/facts.rst)")
    if "attested" in subsets:
        check_nonce(params.get("attested_nonce"))  # before any request
    endpoint = params.get("endpoint")
    endpoint = validate_endpoint(DEFAULT_ENDPOINT if endpoint is None else endpoint)
    detect = params.get("detect") or "auto"  # one of the argument spec's choices
    probing = False
    if detect == "false":
        detection = "disabled"
    else:
        result = detector()
        detection = "dmi"
        if result.result == NOT_AZURE or (result.result == UNKNOWN and detect == "true"):
            facts = empty_facts(endpoint, detection if result.result == NOT_AZURE else "none")
            return facts
        probing = result.result != AZURE
        if probing:
            detection = "imds"
    # Only silence at IMDS's own address says "not Azure": an endpoint set to anything else that does not
    # answer is a wrong endpoint or a broken service, never evidence about the host.
    may_be_absent = probing and endpoint == DEFAULT_ENDPOINT
    kwargs = dict(endpoint=endpoint, api_version=params.get("api_version") or "latest",
                  timeout=params.get("timeout"), deadline=params.get("deadline"), warn=warn)
    if may_be_absent:
        kwargs["connect_retries"] = 0
    client = client_factory(**kwargs)
    # compute, network, placement and tags only when the instance subset is gathered: never a placeholder.
    facts = _base_facts(client.endpoint, detection)
    try:
        return _collect(client, subsets, facts, warn, params.get("attested_nonce"))
    except ImdsError as exc:
        if may_be_absent and _probe_says_absent(exc):
            return empty_facts(client.endpoint, detection)
        if probing and not may_be_absent and _probe_says_absent(exc):   # what would have read as "not Azure" at the default
            exc.message += (" DMI could not tell whether this host is an Azure VM (detect: auto), and the endpoint is set to %s: "
                            "a failure there never means that this is not Azure. Check the endpoint, or set detect: true "
                            "on hosts that are not Azure VMs." % client.endpoint)
        elif probing and exc.connected and exc.status is None and isinstance(exc, (ImdsUnreachable, ImdsTimeout)):
            exc.message += (" DMI could not tell whether this host is an Azure VM, so IMDS was probed (detect: auto): something "
                            "accepted the connection at %s without answering, which is an IMDS failure, not a sign that "
                            "this is not Azure." % client.endpoint)
        raise


def run_module(module, client_factory=ImdsClient, detector=detect_azure):
    """Entry point of imds.azure.metadata_facts: gather and exit (never changes anything).

    The action plugin runs it on the controller for Windows targets, with a client factory
    whose transport runs each request as a PowerShell command and an SMBIOS detector.
    """
    try:
        facts = gather_facts(module.params, warn=module.warn, no_log=bool(getattr(module, "no_log", False)),
                             client_factory=client_factory, detector=detector)
    except ImdsAzureError as exc:
        module.fail_json(msg=str(exc), imds_error=exc.kind)
    module.exit_json(changed=False, ansible_facts={FACT_NAME: facts})
