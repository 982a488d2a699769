# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""msal's ManagedIdentityClient, unmodified, against the emulator at 169.254.169.254.

MSAL Python has no network probe: it picks IMDS when no other source is configured
(get_managed_identity_source), and leaves retries to the HTTP client; it remembers a 429
for its Retry-After instead of asking again.
"""

import time
import uuid

import msal
import pytest
import requests

from real_client_helpers import RESOURCE, claims, token_requests, user_identity


def client(identity=None):
    return msal.ManagedIdentityClient(identity or msal.SystemAssignedManagedIdentity(), http_client=requests.Session())


def test_system_assigned_from_the_vm_source_then_its_cache(imds):
    assert msal.managed_identity.get_managed_identity_source() is msal.managed_identity.DEFAULT_TO_VM
    mi = client()
    result = mi.acquire_token_for_client(resource=RESOURCE)
    assert claims(result["access_token"])["oid"] == imds.profile["identity"]["systemAssigned"]["objectId"], result
    assert result["token_source"] == "identity_provider"
    assert mi.acquire_token_for_client(resource=RESOURCE)["token_source"] == "cache"
    (request,) = token_requests(imds)
    assert request.headers["Metadata"] == "true" and request.query == {"api-version": "2018-02-01", "resource": RESOURCE}


@pytest.mark.parametrize("selector, field, parameter", [
    ("client_id", "clientId", "client_id"), ("object_id", "objectId", "object_id"), ("resource_id", "resourceId", "msi_res_id"),
])
def test_user_assigned(imds, selector, field, parameter):
    identity = user_identity(imds, 0)
    result = client(msal.UserAssignedManagedIdentity(**{selector: identity[field]})).acquire_token_for_client(resource=RESOURCE)
    payload = claims(result["access_token"])
    assert (payload["appid"], payload["oid"], payload["xms_mirid"]) == (identity["clientId"], identity["objectId"], identity["resourceId"])
    (request,) = token_requests(imds)
    assert request.query[parameter] == identity[field]


def test_unknown_identity(imds):
    result = client(msal.UserAssignedManagedIdentity(object_id=str(uuid.UUID(int=7)))).acquire_token_for_client(resource=RESOURCE)
    assert (result.get("error"), result.get("error_description")) == ("invalid_request", "Identity not found")


@pytest.mark.imds_emulator(faults=["throttle=1,path=/metadata/identity"])
def test_429_is_remembered_for_retry_after(imds):
    mi = client()
    first = mi.acquire_token_for_client(resource=RESOURCE)
    assert first.get("error") == "too_many_requests", first
    # Within Retry-After (1 s) msal answers from its throttle cache without a request.
    assert mi.acquire_token_for_client(resource=RESOURCE).get("error") == "too_many_requests"
    assert len(token_requests(imds)) == 1
    time.sleep(1.5)
    assert "access_token" in mi.acquire_token_for_client(resource=RESOURCE)
    assert [request.status for request in token_requests(imds)] == [429, 200]


@pytest.mark.imds_emulator(faults=["gone=1,path=/metadata/identity"])
def test_410_is_returned_and_not_remembered(imds):
    mi = client()
    assert mi.acquire_token_for_client(resource=RESOURCE).get("error"), "a 410 must not look like a token"
    time.sleep(1.5)
    assert "access_token" in mi.acquire_token_for_client(resource=RESOURCE)
    assert [request.status for request in token_requests(imds)] == [410, 200]
