# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: metadata
short_description: Read values from the Azure Instance Metadata Service (IMDS)
version_added: 0.1.0
description:
  - Returns values from the Azure Instance Metadata Service (IMDS) by path, for example
    C(compute/platformFaultDomain) or C(network/interface/0/ipv4/ipAddress/0/privateIpAddress),
    or by a JMESPath O(query).
  - "Paths are relative to C(/metadata/instance) and walk the JSON document the way IMDS route
    parameters do (object keys by name, case-sensitive; list items by 0-based index). A leading C(/)
    names the category explicitly - C(/instance/...), C(/loadbalancer/...) (the object IMDS wraps in
    C({\"loadbalancer\": ...})) and C(/scheduledevents/...)."
  - A leaf returns its value (IMDS returns every instance value as a string); an object or a list
    returns the structure. Each term gives one value, so several terms give several values (use
    C(query()) or C(wantlist=true) to always get a list).
  - "Where the answer comes from (O(source)): a lookup runs on the controller, but in a play over many hosts
    you mean the value of the host the task runs for. With V(auto) the lookup answers from that host's
    C(ansible_facts['azure_imds']) gathered by M(imds.azure.metadata_facts) - no request at all - and asks
    IMDS live from the controller only for the controller itself, when it has no such facts."
  - Live answers cost one request per category per run, not one per lookup. The whole category document
    (one C(GET /metadata/instance)) is fetched once and cached for the rest of the run, keyed by endpoint and
    API version, and walked locally. Requests are paced to stay under IMDS's limit of 5 requests per second.
  - Malformed paths and JMESPath expressions fail with a clear error before anything is requested, and
    nothing but the configured O(endpoint) is ever contacted.
author:
  - imds.azure contributors (@imds-azure)
extends_documentation_fragment:
  - imds.azure.imds.plugins
options:
  _terms:
    description:
      - IMDS paths such as C(compute/vmId), C(compute/tagsList), C(network/interface/0/macAddress),
        C(/loadbalancer/inboundRules) or C(/scheduledevents/Events).
      - C(/instance) is the whole instance document.
      - Without terms, O(query) runs over the whole instance document.
    type: list
    elements: str
    required: false
  source:
    description:
      - Where the values come from.
      - "V(auto) uses the current host's C(ansible_facts['azure_imds']) when they exist. Without them it asks IMDS live
        from the controller only when the host is the controller itself (C(connection: local) or C(localhost), as with
        C(ansible-pull) or a controller that is itself the Azure VM). For any other host without facts, and for a host that has facts but not
        the category asked for (for example C(/loadbalancer) without C(gather_subset=loadbalancer)), the lookup fails
        rather than answer with the controller's data."
      - V(facts) only uses the facts, and fails when the host has none.
      - V(live) always asks IMDS at O(endpoint) from the controller, for whatever host the task runs for.
    type: str
    choices: [auto, facts, live]
    default: auto
    env:
      - name: AZURE_IMDS_LOOKUP_SOURCE
    ini:
      - section: imds_azure
        key: lookup_source
    vars:
      - name: azure_imds_lookup_source
  query:
    description:
      - A JMESPath expression evaluated over each term's value, or over the whole instance document when there
        are no terms, for example C(network.interface[*].ipv4.ipAddress[*].privateIpAddress | []).
      - Needs the C(jmespath) Python library on the controller.
      - A query that selects nothing (C(null)) returns O(default) when it is given.
    type: str
  default:
    description:
      - Value returned when a path does not exist (or a O(query) selects nothing), instead of failing.
      - Malformed paths, unreachable IMDS and other errors still fail.
    type: raw
  cache:
    description:
      - Cache live documents for the rest of the run (one request per category per run).
      - A live read that failed is cached for the run the same way, so the workers waiting for it, and later lookups,
        fail at once with its error instead of each waiting for another O(deadline).
      - Set V(false) to ask IMDS again, for example to poll C(/scheduledevents) in a retry loop.
    type: bool
    default: true
notes:
  - "Cache lifetime: live documents are cached in the worker process (every lookup of one task, all loop
    items included) and in files inside ansible-core's per-run temporary directory (C(ansible-local-*) under
    C(ANSIBLE_LOCAL_TEMP)), which ansible-core deletes when the run ends. The files are readable only by the
    user running Ansible."
  - "User data: as in the facts, documents never hold C(compute.userData), so C(/instance) or C(compute) never
    show it. The path C(compute/userData) (base64, as IMDS returns it) is read live with its own request and kept
    in the worker's memory only; set C(no_log: true) on tasks that use it. A value longer than the 64 KiB
    Azure allows is refused. From facts, use the C(userdata) fact of
    M(imds.azure.metadata_facts) (O(source=auto) fails with a hint rather than ask the controller)."
  - Live answers come from the IMDS the controller reaches, that is the controller's own VM (or the
    O(endpoint) configured for the host). For remote hosts gather facts first, then use O(source=auto) or
    O(source=facts); O(source=auto) fails for a remote host without facts.
  - Values are marked unsafe, so Jinja in a tag value is never evaluated.
  - "Errors read C(imds.azure.metadata: <keyword>: <message>), with the keywords the modules return as C(imds_error):
    V(config) (a malformed path, option or query, or a O(source) that cannot answer), V(not_found) (a missing path or a
    category without data, which O(default) covers, or a live 404), V(unreachable), V(timeout), V(rejected), V(throttled),
    V(server_error), V(not_imds) and V(too_large) (a live request that failed)."
seealso:
  - module: imds.azure.metadata_facts
  - plugin: imds.azure.token
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Fault domain of the host the task runs for (from its gathered facts, else live)
  ansible.builtin.debug:
    msg: "{{ lookup('imds.azure.metadata', 'compute/platformFaultDomain') }}"

- name: Several values at once
  ansible.builtin.set_fact:
    vm_id: "{{ ids[0] }}"
    vm_location: "{{ ids[1] }}"
  vars:
    ids: "{{ query('imds.azure.metadata', 'compute/vmId', 'compute/location') }}"

- name: A tag, with a default when it is not set
  ansible.builtin.debug:
    msg: >-
      {{ lookup('imds.azure.metadata', 'compute',
                query="tagsList[?name=='env'].value | [0]", default='unknown') }}

- name: Every private IPv4 address of every NIC
  ansible.builtin.debug:
    msg: "{{ lookup('imds.azure.metadata', query='network.interface[*].ipv4.ipAddress[*].privateIpAddress | []') }}"

- name: Load balancer inbound rules (live; there is no facts fallback to another host's data)
  ansible.builtin.debug:
    msg: "{{ lookup('imds.azure.metadata', '/loadbalancer/inboundRules', source='live', default=[]) }}"

- name: Poll scheduled events without the run cache
  ansible.builtin.debug:
    msg: "{{ lookup('imds.azure.metadata', '/scheduledevents/Events', source='live', cache=false) }}"
"""

RETURN = r"""
_raw:
  description:
    - One value per term (or one query result); a string for a leaf of the instance document, a dict or a list
      for an object or a list.
  type: list
  elements: raw
"""

from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError, ImdsNotFound
from ansible_collections.imds.azure.plugins.module_utils._documents import check_userdata_size, strip_user_data
from ansible_collections.imds.azure.plugins.module_utils._shape import ShapeError, checked
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.paths import (
    LookupPathError, MissingPathError, QueryError, compile_query, facts_document, is_user_data, parse_path, search, walk,
)
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.base import ImdsLookupBase, run_state

display = Display()

_LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class _NoDocument(Exception):
    """The category has no document (no Standard load balancer, or a non-Azure host)."""


class LookupModule(ImdsLookupBase):

    FQCN = "imds.azure.metadata"
    CALL_KEYWORDS = ("default",)

    def _make_settings(self):
        settings = super(LookupModule, self)._make_settings()
        settings.compiled = compile_query(settings.query) if settings.query is not None else None
        return settings

    def run(self, terms, variables=None, **kwargs):
        has_default = "default" in kwargs
        default = kwargs.get("default")
        try:
            settings = self._settings(variables, kwargs)
            parsed = [parse_path(term) for term in (terms or [])]
        except (LookupPathError, QueryError) as exc:
            raise self._error(exc.kind, str(exc)) from None
        source, compiled, expression = settings.source, settings.compiled, settings.query
        variables = variables or {}
        if not parsed:
            if compiled is None:
                raise self._error("config", "give at least one path (such as compute/vmId) or the query option")
            parsed = [parse_path("/instance")]

        host = variables.get("inventory_hostname") or "(no host)"
        facts = self._facts(variables)
        results = []
        for path in parsed:
            try:
                document = self._document(path, settings, facts, host, variables)
                value = walk(document, path)
                if compiled is not None:
                    value = search(compiled, value, expression)
                    if value is None and has_default:
                        value = default
                    else:
                        value = wrap_var(value)
                else:
                    value = wrap_var(value)
            except _NoDocument as exc:
                if not has_default:
                    raise self._error("not_found", "path %r: %s" % (path.display, exc)) from None
                value = default
            except MissingPathError as exc:
                if not has_default:
                    raise self._error(exc.kind, "%s%s" % (exc, self._hint(path, facts, source))) from None
                value = default
            except (LookupPathError, QueryError) as exc:
                raise self._error(exc.kind, str(exc)) from None
            except ShapeError as exc:
                raise self._error("not_imds", "path %r: host %s's azure_imds facts do not hold what IMDS sends (%s): they were "
                                              "changed after imds.azure.metadata_facts gathered them" % (path.display, host, exc)) from None
            results.append(value)
        return results

    # ------------------------------------------------------------------ sources

    @staticmethod
    def _facts(variables):
        ansible_facts = variables.get("ansible_facts")
        if not isinstance(ansible_facts, dict):
            return None
        facts = ansible_facts.get("azure_imds")
        return facts if isinstance(facts, dict) and facts else None

    def _document(self, path, settings, facts, host, variables):
        category, source = path.category, settings.source
        if source in ("auto", "facts"):
            state, document = facts_document(facts, category)
            if state == "ok":
                if display.verbosity >= 4:
                    display.vvvv("imds.azure.metadata: %s: %s from the host's azure_imds facts" % (host, path.display))
                return document
            if state == "none":
                raise _NoDocument("host %s has no %s metadata (its azure_imds facts say so)" % (host, category))
            if state == "not_azure":
                raise _NoDocument("host %s is not an Azure VM (its azure_imds facts say is_azure: false)" % host)
            if source == "facts" or facts is not None or not self._is_controller(host, variables):
                if facts is None:
                    why = "host %s has no azure_imds facts; run imds.azure.metadata_facts first" % host
                else:
                    why = ("host %s's azure_imds facts do not include the %s category; gather it with "
                           "imds.azure.metadata_facts gather_subset=%s" % (host, category, category))
                if source == "auto" and facts is None:
                    why += (" (source=auto asks the controller's IMDS only for the controller itself, because for another "
                            "host the answer would be the controller's VM, not %s's; set source=live for that)" % host)
                elif source == "auto":
                    why += (" (source=auto does not ask the controller's IMDS when the host has facts, because the "
                            "answer would be the controller's, not the host's; set source=live for that)")
                else:
                    why += ", or use source=live"
                raise self._error("config", "cannot answer %r from facts: %s" % (path.display, why))
        return self._live(path, settings)

    @staticmethod
    def _is_controller(host, variables):
        """Whether the host the task runs for is the controller itself (so its IMDS is the controller's)."""
        return (variables.get("ansible_connection") == "local" or host in _LOCAL_NAMES
                or variables.get("ansible_host") in _LOCAL_NAMES)

    def _live(self, path, settings):
        client = self._client(settings)
        state = run_state()
        category = path.category
        user_data = is_user_data(path)
        key = ("imds.azure", "user-data" if user_data else "document", client.endpoint, settings.api_version, category)

        def fetch():
            state.negotiate(client, category)
            if user_data:
                return {"document": {"compute": {"userData": check_userdata_size(client.get_text("instance", "compute/userData"))}}}
            return {"document": self._fetch(client, category)}

        try:
            if settings.cache:
                # The user data is kept in this process only; documents are shared with the run's other workers.
                entry, how = state.cache.get(key, fetch, persist=not user_data)
            else:
                entry, how = fetch(), "fetched"
        except ImdsError as exc:
            if user_data and isinstance(exc, ImdsNotFound):
                raise MissingPathError("path 'compute/userData' not found: %s answered 404 (user data needs api_version "
                                       "2021-01-01 or newer)" % client.endpoint) from None
            raise self._error(exc.kind, "cannot read /metadata/%s live from %s: %s" % (category, client.endpoint, exc)) from None
        if display.verbosity >= 4:
            display.vvvv("imds.azure.metadata: %s from /metadata/%s at %s (%s)" % (path.display, category, client.endpoint, how))
        if entry["document"] is None:
            raise _NoDocument("%s has no %s metadata (IMDS: %s)" % (
                client.endpoint, category, "no Standard load balancer" if category == "loadbalancer" else "no document"))
        return entry["document"]

    @staticmethod
    def _fetch(client, category):
        try:
            document = client.get_json(category)
        except ImdsNotFound as exc:
            if category == "loadbalancer" and exc.no_load_balancer:
                return None
            raise
        shaped = checked(category, document, "%s/metadata/%s" % (client.endpoint, category))
        # As in the facts: the user data is not part of the instance document (read compute/userData for it).
        return strip_user_data(document)[0] if category == "instance" else shaped

    @staticmethod
    def _hint(path, facts, source):
        if path.segments[:2] == ("compute", "userData") and facts is not None and source != "live":
            return (" (the azure_imds facts keep userData out of compute: gather_subset=userdata puts it, decoded, in "
                    "ansible_facts['azure_imds']['userdata'])")
        return ""
