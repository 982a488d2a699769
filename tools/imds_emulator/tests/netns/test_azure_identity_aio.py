# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure-identity's async ManagedIdentityCredential (aiohttp), unmodified, against the emulator at 169.254.169.254."""

import asyncio

import pytest
from azure.identity import CredentialUnavailableError
from azure.identity.aio import ManagedIdentityCredential

from real_client_helpers import RESOURCE, claims, token_requests, user_identity

SCOPE = RESOURCE + "/.default"


def get_token(**kwargs):
    async def run():
        async with ManagedIdentityCredential(**kwargs) as credential:
            return await credential.get_token(SCOPE)
    return asyncio.run(run())


def test_system_assigned(imds):
    payload = claims(get_token().token)
    assert (payload["oid"], payload["aud"]) == (imds.profile["identity"]["systemAssigned"]["objectId"], RESOURCE)
    (request,) = token_requests(imds)
    assert request.query == {"api-version": "2018-02-01", "resource": RESOURCE} and request.headers["Metadata"] == "true"


@pytest.mark.parametrize("selector, field", [("client_id", "clientId"), ("object_id", "objectId")])
def test_user_assigned(imds, selector, field):
    identity = user_identity(imds, 1)
    kwargs = {"client_id": identity[field]} if selector == "client_id" else {"identity_config": {selector: identity[field]}}
    payload = claims(get_token(**kwargs).token)
    assert (payload["appid"], payload["oid"]) == (identity["clientId"], identity["objectId"])
    (request,) = token_requests(imds)
    assert request.query[selector] == identity[field]


def test_resource_id_is_refused_never_answered_with_another_identity(imds):
    # The async client sends identity_config verbatim, so resource_id= reaches IMDS as is (the sync one maps
    # it to msi_res_id). Ignoring it would return the system-assigned identity's token: the emulator refuses it.
    identity = user_identity(imds, 1)
    with pytest.raises(CredentialUnavailableError, match="resource_id"):
        get_token(identity_config={"resource_id": identity["resourceId"]})
    (request,) = token_requests(imds)
    assert request.query["resource_id"] == identity["resourceId"] and request.status == 400
