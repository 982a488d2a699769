#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: metadata_facts
short_description: Gather facts from the Azure Instance Metadata Service (IMDS)
version_added: 0.1.0
description:
  - Reads the Azure Instance Metadata Service of the VM the task runs on and returns the facts
    under C(ansible_facts['azure_imds']).
  - The default gather costs exactly one HTTP request to C(/metadata/instance), plus one request to
    C(/metadata/versions) when O(api_version=latest) (once per task).
  - Retries follow the IMDS guidance per status code (404, 408, 410, 429, 5xx and connection errors are retried
    with exponential backoff and jitter; 400, 401, 403 and 405 never are), within O(timeout) per attempt and
    O(deadline) overall. See R(the facts guide,ansible_collections.imds.azure.docsite.facts) for the full policy
    and R(troubleshooting,ansible_collections.imds.azure.docsite.troubleshooting) for every error message.
  - A 200 answer whose body is not what IMDS returns (an HTML page from a proxy or captive portal, truncated
    JSON) fails the task; it never becomes facts.
  - On a host that is certainly not an Azure VM (see O(detect)) the module returns RV(ansible_facts.azure_imds.is_azure=false)
    without any network access and does not fail.
  - Works on Windows targets with the same options and the same facts. The action plugin runs the module's code on the
    controller, and each IMDS request is one run of the PowerShell module M(imds.azure.win_metadata_request) on the host,
    through ansible-core's module execution, which returns the status and raw body (no proxy, one deadline over the
    exchange). One run of M(imds.azure.win_metadata_host) reads the SMBIOS table and the target's environment when
    O(detect) or the endpoint's environment fallback needs them. See
    R(the Windows guide,ansible_collections.imds.azure.docsite.windows).
author:
  - imds.azure contributors (@imds-azure)
options:
  gather_subset:
    description:
      - What to gather, like the C(gather_subset) of M(ansible.builtin.setup).
      - V(instance) (one request) gives RV(ansible_facts.azure_imds.compute), RV(ansible_facts.azure_imds.network),
        RV(ansible_facts.azure_imds.placement) and RV(ansible_facts.azure_imds.tags).
      - V(loadbalancer) (one request, needs api-version 2020-10-01 or newer) gives RV(ansible_facts.azure_imds.loadbalancer).
      - V(scheduledevents) (one request; also accepted as V(scheduled_events), the name of its fact) gives
        RV(ansible_facts.azure_imds.scheduled_events). Scheduled events have their own
        api-version line; with O(api_version=latest) the newest one (2020-07-01) is used, with an explicit O(api_version)
        the newest scheduled-events version not newer than it. The first request on a VM can be slow while the service
        switches scheduled events on.
      - V(versions) (free when O(api_version=latest), else one request) gives RV(ansible_facts.azure_imds.versions).
      - V(userdata) gives RV(ansible_facts.azure_imds.userdata). It is read from the same C(/metadata/instance) answer when
        V(instance) is gathered (no extra request), else with one request. It needs api-version 2021-01-01 or newer and
        the task must set C(no_log) to V(true), because user data may hold secrets; see the notes about fact caches.
      - V(attested) (one request to C(/metadata/attested/document), plus one to C(/metadata/instance/compute) when V(instance)
        is not gathered too) gives RV(ansible_facts.azure_imds.attested) - the attested document that IMDS signs, fetched with a
        nonce that the controller chose for this host and run, and B(verified on the controller) (signature, certificate chain,
        metadata domain, nonce, validity window, vmId). A document that does not verify fails the task unless
        O(attested_required=false). See R(the attestation guide,ansible_collections.imds.azure.docsite.attestation) for the trust
        model. It needs api-version 2018-10-01 or newer, and the Python packages C(cryptography>=45) and C(asn1crypto) on the
        controller.
      - V(all) means every subset except V(userdata) and V(attested), which are only ever gathered when named.
      - Prefix a subset with C(!) to exclude it. With only exclusions, the starting point is V(all).
      - A gather keeps what an earlier gather of the same host and endpoint put in C(ansible_facts['azure_imds']) and this
        one does not gather again (Ansible replaces a fact as a whole, so the action plugin merges with the host's current
        facts; not with C(delegate_facts=true)). A later O(gather_subset=[scheduledevents]) therefore keeps the placement an
        earlier V(instance) gather found.
        Without an earlier V(instance) gather, RV(ansible_facts.azure_imds.compute), RV(ansible_facts.azure_imds.network),
        RV(ansible_facts.azure_imds.placement) and RV(ansible_facts.azure_imds.tags) are absent, never empty placeholders.
    type: list
    elements: str
    default: [instance]
  detect:
    description:
      - How to find out whether this host is an Azure VM before asking IMDS.
      - V(auto) reads DMI (SMBIOS) data, from the files under C(/sys/class/dmi/id) on Linux, which takes microseconds; on
        Windows the SMBIOS table the registry keeps (C(HKLM:\SYSTEM\CurrentControlSet\Services\mssmbios\Data)), or
        C(Win32_SystemEnclosure) and C(Win32_ComputerSystem) through CIM when it is missing, parsed on the controller.
        The Azure chassis asset tag means Azure, so IMDS is asked and any failure fails the task (with a hint about the 169.254.169.254/32 route when it is
        unreachable). DMI that is readable and names another vendor means not Azure, so no request is made and
        RV(ansible_facts.azure_imds.is_azure=false) is returned. Without usable DMI data (containers, BSDs,
        on-premises Hyper-V) IMDS is probed without connection retries, and only an answer from IMDS counts as Azure.
        Only silence at the default endpoint V(http://169.254.169.254) means not Azure. An O(endpoint) set to any other
        address is asked with the usual retries, and when it does not answer, or not like IMDS (an C(https://) URL of a
        plain HTTP server, a web server), the task fails.
      - V(true) trusts DMI alone. Only a host that DMI identifies as Azure is asked; all others get
        RV(ansible_facts.azure_imds.is_azure=false) without any request.
      - V(false) skips detection and always asks IMDS; any failure fails the task.
      - For tests, the environment variable E(IMDS_AZURE_DMI_PATH) on a POSIX target replaces the DMI directory
        C(/sys/class/dmi/id) (an empty value means "no DMI data").
    type: str
    choices: [auto, 'true', 'false']
    default: auto
  attested_required:
    description:
      - Fail the task when the attested document does not verify (or the host is not an Azure VM).
      - With V(false) the task succeeds and RV(ansible_facts.azure_imds.attested.verified) is V(false) with a
        RV(ansible_facts.azure_imds.attested.reason); act on it yourself.
      - Read on the controller; only used with O(gather_subset=attested).
    type: bool
    default: true
  attested_ca_path:
    description:
      - A PEM file of root certificates to trust for attested documents, B(instead of) the default trust store.
      - The default is the controller's system trust store (OpenSSL's default CA file or directory), or the bundle of the
        C(certifi) package when there is no system store.
      - Give only roots (trust anchors) here. Intermediates come from the document or from the signer's AIA URL (see
        O(attested_fetch_intermediates) and O(attested_aia_allowlist)); do not pin them.
      - Read on the controller; only used with O(gather_subset=attested).
    type: path
  attested_domain:
    description:
      - The metadata domain that the signer certificate must have a DNS name in (the domain itself or any subdomain).
      - By default it follows C(compute.azEnvironment) of the same run - C(metadata.azure.com) (AzurePublicCloud),
        C(metadata.azure.us) (AzureUSGovernmentCloud), C(metadata.azure.cn) (AzureChinaCloud),
        C(metadata.microsoftazure.de) (AzureGermanCloud). Set it to pin the cloud regardless of what the host reports.
      - Read on the controller; only used with O(gather_subset=attested).
    type: str
  attested_clock_skew:
    description:
      - Seconds of clock difference between the controller and IMDS tolerated at either end of the document's validity
        window (C(timeStamp.createdOn) to C(timeStamp.expiresOn)).
      - Between 0 and 3600. Read on the controller; only used with O(gather_subset=attested).
    type: float
    default: 60
  attested_nonce_retries:
    description:
      - How many times to fetch the document again, each time with a new nonce, when IMDS answered with a cached document
        that carries an older nonce (reason V(nonce_mismatch)). The retries wait 1, 2, 3, ... seconds.
      - Between 0 and 10. Read on the controller; only used with O(gather_subset=attested).
    type: int
    default: 2
  attested_fetch_intermediates:
    description:
      - When the document does not hold the intermediate CA certificates, fetch them on the controller from the
        "CA Issuers" URL (AIA) of the signer certificate, and then of each fetched certificate, as Microsoft recommends
        (real IMDS documents hold only the signer certificate). Fetched certificates are never trusted by themselves;
        they only help build the chain to a trusted root.
      - Only URLs under O(attested_aia_allowlist) are fetched, directly (proxy settings are not used) and without
        following redirects; at most 4 fetches of at most 64 KiB each, all within 10 seconds together (name resolution
        excepted), and only after the signature and metadata domain checks passed.
      - Read on the controller; only used with O(gather_subset=attested).
    type: bool
    default: true
  attested_aia_allowlist:
    description:
      - The only locations the controller fetches issuer certificates from (see O(attested_fetch_intermediates)), as URL
        prefixes such as V(http://www.microsoft.com/pkiops/certs/). A "CA Issuers" URL is fetched when it has the scheme,
        host and port of an entry and its path starts with the entry's path; URLs with user information, a fragment or
        C(.)/C(..) path segments never are.
      - The certificate in the document chooses its "CA Issuers" URLs, so without this list a host could make the
        controller send requests anywhere.
      - When not set, Microsoft's published AIA locations (from "Azure Certificate Authority details"), over plain HTTP
        as there - V(http://www.microsoft.com/pkiops/certs/), V(http://caissuers.microsoft.com/),
        V(http://cacerts.digicert.com/), V(http://cacerts.digicert.cn/), V(http://cacerts.geotrust.com/).
      - The controller must reach these hosts directly on port 80. V([]) fetches nothing.
      - Read on the controller; only used with O(gather_subset=attested).
    type: list
    elements: str
    version_added: 0.2.0
  attested_nonce:
    description:
      - Internal, not for tasks. The action plugin sets it to the nonce that the controller chose for this host and run; a
        task that sets it fails, as replay protection depends on the controller choosing the nonce.
    type: str
extends_documentation_fragment:
  - imds.azure.imds
  - imds.azure._attributes
  - imds.azure._attributes.facts_module
  - imds.azure._attributes.platform_posix_windows
notes:
  - Facts are read as C(ansible_facts['azure_imds']).
  - RV(ansible_facts.azure_imds.compute) holds everything IMDS returned except C(userData), which only ever appears,
    decoded, in RV(ansible_facts.azure_imds.userdata) when O(gather_subset) names V(userdata).
  - Facts returned by a module are stored in the fact cache when fact caching is enabled, and a module cannot prevent
    that. Do not gather V(userdata) with a persistent fact cache unless the cache is as protected as the user data;
    C(no_log) only keeps it out of logs and task output.
  - On Windows, E(AZURE_IMDS_ENDPOINT) is read from the target's environment (as on Linux), not from the controller's.
    Each request is bounded by O(timeout) over the whole exchange on the target (on Windows PowerShell 5.1 and PowerShell
    7 alike); the controller gives up on the connection 60 seconds after that.
  - On Windows every request module run is C(no_log), so ansible-core 2.18 and later keep IMDS answers (which contain
    C(userData)) out of the C(-vvvvv) output of C(winrm) and C(psrp). Those of ansible-core 2.16 and 2.17 print module
    output at C(-vvvvv) even under C(no_log); the task warns once then.
  - The attested document is verified by the action plugin on the controller, never on the host it is about. The
    module on its own returns the unverified document with RV(ansible_facts.azure_imds.attested.verified=false).
  - The legacy C(tags) string of IMDS (used by api-versions older than 2019-06-04) is ambiguous when values contain
    C(;). RV(ansible_facts.azure_imds.tags) comes from C(tagsList) whenever IMDS returns it.
seealso:
  - name: Azure Instance Metadata Service
    description: Microsoft's documentation of IMDS.
    link: https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service
"""

EXAMPLES = r"""
- name: Gather the instance facts (one request, plus one to negotiate the version)
  imds.azure.metadata_facts:

- name: Show where this VM runs
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts['azure_imds']['placement']['location'] }}
      zone {{ ansible_facts['azure_imds']['placement']['zone'] | default('none', true) }}
      fault domain {{ ansible_facts['azure_imds']['placement']['fault_domain'] }}
  when: ansible_facts['azure_imds']['is_azure']

- name: Everything except scheduled events, with a pinned API version
  imds.azure.metadata_facts:
    gather_subset: [all, '!scheduledevents']
    api_version: "2021-12-13"

- name: Pending maintenance events
  imds.azure.metadata_facts:
    gather_subset: [scheduledevents]

- name: Read the user data (kept out of logs and -v output)
  imds.azure.metadata_facts:
    gather_subset: [instance, userdata]
  no_log: true

- name: Prove to the controller that each host is the Azure VM it says it is (fails the task if not)
  imds.azure.metadata_facts:
    gather_subset: [instance, attested]

- name: Check attestation without failing, against a private CA bundle
  imds.azure.metadata_facts:
    gather_subset: [instance, attested]
    attested_required: false
    attested_ca_path: "{{ playbook_dir }}/files/azure-imds-roots.pem"
    attested_clock_skew: 120

- name: Attest, downloading missing issuer certificates from Microsoft's own hosts only
  imds.azure.metadata_facts:
    gather_subset: [instance, attested]
    attested_aia_allowlist: ["http://www.microsoft.com/pkiops/certs/", "http://caissuers.microsoft.com/"]

- name: Act on the verdict
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is VM {{ ansible_facts['azure_imds']['attested']['content']['vmId'] }}"
  when: ansible_facts['azure_imds']['attested']['verified']

- name: Fail unless IMDS answers, even when DMI cannot tell
  imds.azure.metadata_facts:
    detect: false
    deadline: 30

# Windows hosts need nothing else: the same task works over winrm, psrp or ssh with PowerShell.
- name: Placement and pending maintenance of the Windows failover cluster nodes
  imds.azure.metadata_facts:
    gather_subset: [instance, scheduledevents]

- name: Pending maintenance on a cluster node
  ansible.builtin.debug:
    msg: "{{ ansible_facts['azure_imds']['scheduled_events']['Events'] | map(attribute='EventType') | list }}"
  when: ansible_facts['azure_imds']['is_azure'] and 'scheduled_events' in ansible_facts['azure_imds']
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    azure_imds:
      description: Everything gathered from IMDS.
      returned: always
      type: dict
      contains:
        is_azure:
          description:
            - Whether this host is an Azure VM whose IMDS answered.
            - V(false) on a host that detection says is not Azure; no other key then holds data.
          returned: always
          type: bool
          sample: true
        detection:
          description:
            - How RV(ansible_facts.azure_imds.is_azure) was decided.
            - V(dmi) (DMI data), V(imds) (DMI could not tell, IMDS was probed), V(none) (O(detect=true) and DMI could
              not tell), V(disabled) (O(detect=false)).
          returned: always
          type: str
          sample: dmi
        endpoint:
          description: The endpoint used, normalised to C(scheme://host[:port]).
          returned: always
          type: str
          sample: http://169.254.169.254
        api_version:
          description:
            - The api-version used for the instance line (instance, load balancer); V("") when none was used.
            - After a gather without any of those, the version of the earlier gather whose data is kept.
          returned: always
          type: str
          sample: "2025-04-07"
        api_versions:
          description: The api-version used for each category requested, now or by the earlier gather whose data is kept.
          returned: always
          type: dict
          sample: {"instance": "2025-04-07", "scheduledevents": "2020-07-01"}
        compute:
          description:
            - The C(compute) object exactly as IMDS returned it (camelCase keys, string values), without C(userData).
            - Fields depend on the api-version; an old pinned version does not return newer fields.
          returned: when C(instance) was gathered (by this task or an earlier one), and empty on a host that is not Azure
          type: dict
          sample: {"location": "westeurope", "vmSize": "Standard_D2s_v5", "zone": "2", "tagsList": []}
        network:
          description: The C(network) object exactly as IMDS returned it.
          returned: when C(instance) was gathered (by this task or an earlier one), and empty on a host that is not Azure
          type: dict
          sample: {"interface": [{"macAddress": "000D3A1B2C3D", "ipv4": {"ipAddress": [], "subnet": []}, "ipv6": {"ipAddress": []}}]}
        placement:
          description:
            - Placement of the VM, from C(compute). Every value is a string, V("") when IMDS did not return it.
            - On a host that is not Azure every value is V(""); the P(imds.azure.placement#inventory) inventory and the
              P(imds.azure.spread#filter) filter treat that host as having no placement.
          returned: when C(instance) was gathered (by this task or an earlier one), and on a host that is not Azure
          type: dict
          contains:
            location:
              description: Azure region (C(compute.location)).
              type: str
              returned: always
              sample: westeurope
            zone:
              description: Availability zone (C(compute.zone)), V("") when not zonal.
              type: str
              returned: always
              sample: "2"
            fault_domain:
              description: Platform fault domain (C(compute.platformFaultDomain)).
              type: str
              returned: always
              sample: "0"
            update_domain:
              description: Platform update domain (C(compute.platformUpdateDomain)).
              type: str
              returned: always
              sample: "0"
            sub_fault_domain:
              description: Platform sub fault domain (C(compute.platformSubFaultDomain), api-version 2021-10-01 or newer).
              type: str
              returned: always
              sample: ""
            scale_set:
              description: Scale set name (C(compute.vmScaleSetName), or the last segment of C(compute.virtualMachineScaleSet.id)).
              type: str
              returned: always
              sample: ""
            placement_group:
              description: Placement group ID (C(compute.placementGroupId)).
              type: str
              returned: always
              sample: ""
            vm_size:
              description: VM size (C(compute.vmSize)).
              type: str
              returned: always
              sample: Standard_D2s_v5
            priority:
              description: C(Regular), C(Spot) or C(Low) (C(compute.priority), api-version 2020-12-01 or newer).
              type: str
              returned: always
              sample: Regular
        tags:
          description:
            - The VM's tags as a dict, from C(compute.tagsList).
            - For api-versions older than 2019-06-04 it is parsed from the C(compute.tags) string, which is ambiguous
              when a value contains C(;) (a piece without C(:) is appended to the previous value).
          returned: when C(instance) was gathered (by this task or an earlier one), and empty on a host that is not Azure
          type: dict
          sample: {"env": "prod", "role": "web"}
        loadbalancer:
          description:
            - Standard load balancer metadata as IMDS returned it (C(publicIpAddresses), C(inboundRules), C(outboundRules),
              and any other key), plus C(found).
            - When the VM is not behind a Standard load balancer, C(found) is V(false) and the lists are empty; this is not
              an error.
          returned: when C(loadbalancer) is gathered
          type: dict
          sample: {"found": true, "publicIpAddresses": [], "inboundRules": [], "outboundRules": []}
        scheduled_events:
          description: The scheduled events document as IMDS returned it (C(DocumentIncarnation) and C(Events)).
          returned: when C(scheduledevents) is gathered
          type: dict
          sample: {"DocumentIncarnation": 1, "Events": []}
        versions:
          description:
            - The api-versions the service offers, oldest first (C(/metadata/versions)).
            - On an old service without that endpoint, only the newest versions listed in its error answer.
          returned: when C(versions) is gathered
          type: list
          elements: str
          sample: ["2023-11-15", "2024-03-15", "2024-07-17", "2025-04-07"]
        userdata:
          description:
            - The VM's user data, decoded from base64 (and gzip) to text.
            - If it is not UTF-8 text it is kept base64-encoded as IMDS returned it, with a warning.
            - User data longer than the 64 KiB Azure allows, or gzip that expands to more than 1 MiB, fails the task with
              C(imds_error=too_large); decompression stops at the limit.
          returned: when C(userdata) is gathered
          type: str
          sample: "#cloud-config\n"
        attested:
          description:
            - The attested document, verified on the controller.
            - The task fails when it does not verify, unless O(attested_required=false).
          returned: when C(attested) is gathered
          type: dict
          contains:
            verified:
              description: Whether every check passed. Trust nothing else in this dict when it is V(false).
              type: bool
              returned: always
              sample: true
            reason:
              description:
                - V("") when verified, else the first check that failed - V(malformed), V(signature), V(domain),
                  V(untrusted_signer), V(malformed_content), V(nonce_mismatch), V(not_yet_valid), V(expired), V(vm_id_mismatch),
                  V(subscription_id_mismatch) or V(not_azure). The attestation guide says what to do for each.
              type: str
              returned: always
              sample: ""
            message:
              description: What was verified, or why verification failed, in words.
              type: str
              returned: always
            checks:
              description: The checks that passed, in the order they ran.
              type: list
              elements: str
              returned: always
              sample: [structure, signature, domain, chain, content, nonce, time, vm_id, subscription_id]
            nonce:
              description: The nonce the controller chose and sent (the last one when the fetch was retried).
              type: str
              returned: always
              sample: 5f0c2a9e4b7d4c1a8e3f6b2d9c0a7e41
            content:
              description:
                - The signed content, parsed (C(nonce), C(plan), C(timeStamp), C(vmId), C(subscriptionId), C(sku),
                  C(licenseType), depending on the api-version).
                - Empty until the signature and the chain are verified.
              type: dict
              returned: always
              sample: {"nonce": "5f0c2a9e4b7d4c1a8e3f6b2d9c0a7e41", "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
                       "timeStamp": {"createdOn": "11/30/26 21:19:19 -0000", "expiresOn": "12/01/26 03:19:19 -0000"}}
            signer:
              description:
                - The signer certificate (C(subject), C(issuer), C(serial_number), C(not_before), C(not_after),
                  C(sha256_fingerprint), C(dns_names)); empty when the document could not be parsed.
              type: dict
              returned: always
            chain:
              description: The verified chain, signer first and trusted root last, each described like RV(ansible_facts.azure_imds.attested.signer).
              type: list
              elements: dict
              returned: always
            domain:
              description: The metadata domain the signer had to be in.
              type: str
              returned: always
              sample: metadata.azure.com
            trust_anchors:
              description: Where the trusted roots came from.
              type: str
              returned: always
              sample: the system trust store /etc/ssl/certs/ca-certificates.crt (146 certificates)
            verified_at:
              description: The controller's UTC time of the verification.
              type: str
              returned: always
            attempts:
              description: How many documents were fetched (more than 1 after nonce mismatches).
              type: int
              returned: when the host is an Azure VM
              sample: 1
            api_version:
              description: The api-version of the attested document request.
              type: str
              returned: when the host is an Azure VM
              sample: "2025-04-07"
            document:
              description:
                - The document as IMDS returned it (C(encoding), C(signature) - base64 DER PKCS#7), for other verifiers.
                - Left out when the task fails because the document did not verify (the failed result is printed whole); set
                  O(attested_required=false) to keep it.
              type: dict
              returned: when the host is an Azure VM
            instance_identity:
              description: The C(vmId), C(subscriptionId) and C(azEnvironment) of the instance metadata that the content was compared with.
              type: dict
              returned: when the host is an Azure VM
imds_error:
  description:
    - One stable keyword naming what failed; C(msg) says it in words. See
      R(troubleshooting,ansible_collections.imds.azure.docsite.troubleshooting) for every message.
    - V(config) - an option, or the combination of options, is not valid (nothing was requested); also a missing
      controller requirement of the V(attested) subset.
    - V(unreachable), V(timeout), V(rejected), V(not_found), V(throttled), V(server_error), V(not_imds), V(too_large) - what
      went wrong with IMDS (the facts guide has the retry and size rules).
    - V(attestation) - the attested document did not verify (and O(attested_required=true)); the reason is
      RV(ansible_facts.azure_imds.attested.reason).
    - On Windows targets also V(command) (a PowerShell module could not run on the host) and V(timeout) (the connection
      did not return).
  returned: failure
  type: str
  sample: unreachable
attested_reason:
  description:
    - Deprecated alias of RV(ansible_facts.azure_imds.attested.reason) when the attested document did not verify; use
      RV(imds_error=attestation) and the fact instead. Removed in 1.0.0.
  returned: when the attested document did not verify and O(attested_required=true)
  type: str
  sample: untrusted_signer
"""

from ansible_collections.imds.azure.plugins.module_utils._facts import ARGUMENT_SPEC, FactsModule, run_module


def main():
    run_module(FactsModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True))


if __name__ == "__main__":
    main()
