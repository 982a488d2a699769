# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure-identity's ManagedIdentityCredential, unmodified, against the emulator at 169.254.169.254."""

import uuid

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ChainedTokenCredential, CredentialUnavailableError, ManagedIdentityCredential

from real_client_helpers import RESOURCE, claims, token_requests, user_identity

SCOPE = RESOURCE + "/.default"


def test_system_assigned(imds):
    token = ManagedIdentityCredential().get_token(SCOPE)
    system = imds.profile["identity"]["systemAssigned"]
    assert claims(token.token)["oid"] == system["objectId"] and claims(token.token)["aud"] == RESOURCE
    (request,) = token_requests(imds)
    assert request.query == {"api-version": "2018-02-01", "resource": RESOURCE}
    assert request.headers["Metadata"] == "true" and request.status == 200


@pytest.mark.parametrize("selector, field, parameter", [
    ("client_id", "clientId", "client_id"), ("object_id", "objectId", "object_id"), ("resource_id", "resourceId", "msi_res_id"),
])
def test_user_assigned(imds, selector, field, parameter):
    identity = user_identity(imds, 1)
    if selector == "client_id":
        credential = ManagedIdentityCredential(client_id=identity[field])
    else:
        credential = ManagedIdentityCredential(identity_config={selector: identity[field]})
    payload = claims(credential.get_token(SCOPE).token)
    assert (payload["appid"], payload["oid"], payload["xms_mirid"]) == (identity["clientId"], identity["objectId"], identity["resourceId"])
    (request,) = token_requests(imds)
    assert request.query[parameter] == identity[field]


def test_unknown_identity_is_unavailable_not_retried(imds):
    with pytest.raises(CredentialUnavailableError, match="Identity not found"):
        ManagedIdentityCredential(client_id=str(uuid.UUID(int=7))).get_token(SCOPE)
    assert [request.status for request in token_requests(imds)] == [400]


@pytest.mark.imds_emulator(faults=["throttle=2,path=/metadata/identity"])
def test_429_is_retried_after_retry_after(imds):
    ManagedIdentityCredential().get_token(SCOPE)
    requests = token_requests(imds)
    assert [request.status for request in requests] == [429, 429, 200]
    # Retry-After: 1 was honoured (a lower bound, so load cannot make it flaky).
    assert all(later.time - earlier.time >= 0.9 for earlier, later in zip(requests, requests[1:]))


@pytest.mark.imds_emulator(faults=["gone=2,path=/metadata/identity"])
def test_410_is_retried_until_imds_is_back(imds):
    # azure-identity backs off 0, 5, 10, 20, 40 s on 410 (IMDS may take 70 s after an update).
    ManagedIdentityCredential().get_token(SCOPE)
    statuses = [request.status for request in token_requests(imds)]
    assert statuses[-1] == 200 and set(statuses[:-1]) == {410} and len(statuses) >= 2


def test_probe_without_metadata_header_then_token(imds):
    # In a chain (as in DefaultAzureCredential) it first probes without the Metadata header: any HTTP answer means IMDS.
    token = ChainedTokenCredential(ManagedIdentityCredential()).get_token(SCOPE)
    assert claims(token.token)["aud"] == RESOURCE
    probe, request = token_requests(imds)
    assert "Metadata" not in probe.headers and probe.status == 400
    assert request.headers["Metadata"] == "true" and request.status == 200


def test_probe_finds_no_imds_when_nothing_listens(no_imds):
    # Connection refused inside the namespace: nothing outside it is ever reached.
    with pytest.raises(ClientAuthenticationError, match="ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint"):
        ChainedTokenCredential(ManagedIdentityCredential()).get_token(SCOPE)
