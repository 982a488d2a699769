# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: token
short_description: Get a managed-identity access token from the Azure Instance Metadata Service
version_added: 0.1.0
description:
  - Returns an access token for a resource (its App ID URI, such as C(https://vault.azure.net),
    C(https://storage.azure.com/) or C(https://management.azure.com/)) from the managed identity of the
    Azure VM, through IMDS (C(/metadata/identity/oauth2/token)). Use it to call Azure APIs with
    M(ansible.builtin.uri).
  - The system-assigned identity is used unless O(client_id), O(object_id) or O(msi_res_id) names a
    user-assigned one. An empty or blank O(client_id), O(object_id) or O(msi_res_id) (a variable that templated to
    nothing) is refused, never taken to mean the system-assigned identity.
  - "The lookup runs on the controller, so the token belongs to the identity of the VM the controller runs on
    (or of the IMDS at O(endpoint)), whatever host the task is for. Use it with C(ansible-pull),
    C(connection: local), or from a controller VM whose identity has the access the play needs."
  - Tokens are cached in the worker process until shortly (5 minutes) before they expire, so every lookup of
    one task (loop items included) makes at most one request per resource and identity. Tokens are never
    written to disk, to the fact cache or to any log by this plugin.
  - "The token is a secret: set C(no_log: true) on every task whose arguments or result contain it, or
    C(-v) output, callbacks and logs will show it. Values are marked unsafe, so they are never templated."
author:
  - imds.azure contributors (@imds-azure)
extends_documentation_fragment:
  - imds.azure.imds.plugins
options:
  _terms:
    description:
      - Resources to get tokens for (App ID URIs, such as C(https://vault.azure.net)). One token per term.
    type: list
    elements: str
    required: true
  client_id:
    description:
      - Client ID of the user-assigned managed identity to use.
      - Mutually exclusive with O(object_id) and O(msi_res_id).
    type: str
    vars:
      - name: azure_imds_identity_client_id
  object_id:
    description:
      - Object (principal) ID of the user-assigned managed identity to use.
      - Mutually exclusive with O(client_id) and O(msi_res_id).
    type: str
  msi_res_id:
    description:
      - Azure resource ID of the user-assigned managed identity to use
        (C(/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/NAME)).
      - Mutually exclusive with O(client_id) and O(object_id).
    type: str
  output:
    description:
      - V(token) returns the access token string.
      - V(record) returns the whole token answer as a dict, with C(expires_on), C(expires_in), C(ext_expires_in)
        and C(not_before) as numbers, plus C(token_type), C(resource), C(client_id), C(access_token).
    type: str
    choices: [token, record]
    default: token
  cache:
    description:
      - Reuse a token cached by an earlier lookup of the same worker process until shortly before it expires.
    type: bool
    default: true
notes:
  - An identity that is not assigned to the VM (IMDS answers C(400 Identity not found)) fails with an error that
    names the identity asked for.
  - Error messages, warnings and exceptions of this plugin never contain the token or any part of the token
    endpoint's answer body.
  - "Errors read C(imds.azure.token: <keyword>: <message>), with the keywords the modules return as C(imds_error):
    V(config) (bad options or terms), V(rejected) (IMDS refused, for example an identity not assigned to the VM),
    V(not_imds) (an answer that is not a token record), and for a request that failed V(unreachable), V(timeout),
    V(throttled), V(server_error), V(not_found) and V(too_large)."
seealso:
  - plugin: imds.azure.metadata
    plugin_type: lookup
  - name: How to use managed identities for Azure resources on an Azure VM to acquire an access token
    description: Microsoft's documentation of the token endpoint.
    link: https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
"""

EXAMPLES = r"""
# The tokens are those of the identities of the machine that runs the lookup (the controller).

# Needs Azure: a Key Vault that the VM's identity may read
- name: Read a Key Vault secret with the VM's system-assigned identity
  ansible.builtin.uri:
    url: "https://myvault.vault.azure.net/secrets/db-password?api-version=7.4"
    headers:
      Authorization: "Bearer {{ lookup('imds.azure.token', 'https://vault.azure.net') }}"
    return_content: true
  register: secret
  no_log: true

- name: A user-assigned identity, by client ID, full record
  ansible.builtin.set_fact:
    arm_token: "{{ lookup('imds.azure.token', 'https://management.azure.com/', client_id=app_identity_client_id, output='record') }}"
  no_log: true

- name: Fail early when the token is about to expire
  ansible.builtin.assert:
    that: arm_token.expires_on - now(utc=true).timestamp() > 600
  no_log: true
"""

RETURN = r"""
_raw:
  description:
    - One access token (a string) per term, or with O(output=record) one dict per term.
  type: list
  elements: raw
"""

from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsError, ImdsNotImds, ImdsRejected
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.base import ImdsLookupBase, run_state
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.token import (
    SELECTORS, TokenError, check_resource, describe_identity, identity_selector, normalize_record,
)

display = Display()


class LookupModule(ImdsLookupBase):

    FQCN = "imds.azure.token"

    def _make_settings(self):
        settings = super(LookupModule, self)._make_settings()
        settings.identity = identity_selector(dict((name, getattr(settings, name)) for name in SELECTORS))
        return settings

    def run(self, terms, variables=None, **kwargs):
        try:
            settings = self._settings(variables, kwargs)
            resources = [check_resource(term) for term in (terms or [])]
        except TokenError as exc:
            raise self._error(exc.kind, str(exc)) from None
        if not resources:
            raise self._error("config", "give the resource to get a token for, such as https://vault.azure.net")
        selector, value = settings.identity
        client = self._client(settings)
        state = run_state()

        results = []
        for resource in resources:
            key = (client.endpoint, client.api_version, selector, value, resource)
            record = state.tokens.get(key) if settings.cache else None
            if record is not None:
                display.vvv("imds.azure.token: token for %s (%s) from the cache, expires_on %s" % (
                    resource, describe_identity(selector, value), record.get("expires_on")))
            else:
                record = self._fetch(state, client, resource, selector, value)
                if settings.cache:
                    state.tokens.put(key, record)
                display.vvv("imds.azure.token: token for %s (%s) from %s, expires_on %s" % (
                    resource, describe_identity(selector, value), client.endpoint, record.get("expires_on")))
            results.append(wrap_var(dict(record) if settings.output == "record" else record["access_token"]))
        return results

    def _fetch(self, state, client, resource, selector, value):
        query = {"resource": resource}
        if selector is not None:
            query[selector] = value
        who = describe_identity(selector, value)
        try:
            state.negotiate(client, "identity")
            data = client.get_json("identity", "oauth2/token", query=query)
            return normalize_record(data)
        except TokenError as exc:
            keyword = exc.kind
            message = "%s for %s (%s); nothing of the answer is shown because it may hold a token" % (exc, resource, who)
        except ImdsError as exc:
            keyword = exc.kind
            message = self._failure(exc, client, resource, selector, who)
        raise self._error(keyword, message) from None

    @staticmethod
    def _failure(exc, client, resource, selector, who):
        """What went wrong, in words that never hold any part of the answer: the client never puts the token
        endpoint's body in its messages (SECRET_CATEGORIES), and neither does this."""
        if isinstance(exc, ImdsRejected):
            if "identity not found" not in (exc.error or "").lower():
                return "IMDS refused a token for %s (%s): %s" % (resource, who, exc)
            if selector is None:
                return ("%s was not found: this VM has no system-assigned managed identity (and not exactly one "
                        "user-assigned identity). Assign one, or name a user-assigned identity with client_id, "
                        "object_id or msi_res_id (IMDS: HTTP %s, Identity not found)" % (who, exc.status))
            return ("%s was not found: it is not assigned to this VM, or the %s is wrong "
                    "(IMDS: HTTP %s, Identity not found)" % (who, selector, exc.status))
        if isinstance(exc, ImdsNotImds):
            return "the token endpoint at %s did not answer like IMDS; its answer is not shown because it may hold a token: %s" % (
                client.endpoint, exc)
        return "cannot get a token for %s (%s): %s" % (resource, who, exc)
