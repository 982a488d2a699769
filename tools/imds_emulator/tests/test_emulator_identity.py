# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Managed identity tokens."""

import base64
import json
import threading
import time

import pytest

from imds_emu_helpers import call

TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
ARM = "https%3A%2F%2Fmanagement.azure.com%2F"


def claims(token):
    parts = token.split(".")
    assert len(parts) == 3
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def test_system_assigned_token(imds_emulator):
    reply = call(imds_emulator.url, TOKEN + ARM)
    assert reply.status == 200
    body = reply.json()
    assert all(isinstance(value, str) for value in body.values())
    assert body["resource"] == "https://management.azure.com/"
    assert body["token_type"] == "Bearer"
    assert int(body["expires_on"]) > time.time()
    system = imds_emulator.profile["identity"]["systemAssigned"]
    assert body["client_id"] == system["clientId"]
    payload = claims(body["access_token"])
    assert payload["aud"] == "https://management.azure.com/"
    assert payload["oid"] == system["objectId"] and payload["appid"] == system["clientId"]
    assert payload["exp"] == int(body["expires_on"])


def test_token_per_resource_and_cached(imds_emulator):
    first = call(imds_emulator.url, TOKEN + ARM).json()["access_token"]
    assert call(imds_emulator.url, TOKEN + ARM).json()["access_token"] == first
    vault = call(imds_emulator.url, TOKEN + "https%3A%2F%2Fvault.azure.net").json()["access_token"]
    assert claims(vault)["aud"] == "https://vault.azure.net"


@pytest.mark.parametrize("selector, field", [("client_id", "clientId"), ("object_id", "objectId"), ("msi_res_id", "resourceId"),
                                             ("mi_res_id", "resourceId")])
def test_user_assigned(imds_emulator, selector, field):
    user = imds_emulator.profile["identity"]["userAssigned"][1]
    reply = call(imds_emulator.url, TOKEN + ARM + "&%s=%s" % (selector, user[field]))
    assert reply.status == 200
    body = reply.json()
    assert body["client_id"] == user["clientId"]
    assert claims(body["access_token"])["oid"] == user["objectId"]


@pytest.mark.parametrize("extra, name", [("&resource_id=/subscriptions/x", "resource_id"), ("&principal_id=x", "principal_id"),
                                         ("&clientid=x", "clientid"), ("&client_id=x&identity=y", "identity")])
def test_unknown_parameter_is_refused_not_ignored(imds_emulator, extra, name):
    # Ignoring it would return the system-assigned identity's token to a client that asked for another one.
    reply = call(imds_emulator.url, TOKEN + ARM + extra)
    assert reply.status == 400
    assert reply.json()["error"] == "invalid_request"
    assert reply.json()["error_description"].startswith("Unknown query parameter '%s'" % name)


def test_documented_optional_parameters_are_accepted(imds_emulator):
    reply = call(imds_emulator.url, TOKEN + ARM + "&bypass_cache=true&authority=https%3A%2F%2Flogin.microsoftonline.com%2Fx&format=json")
    assert reply.status == 200


@pytest.mark.parametrize("extra", ["&client_id=00000000-0000-0000-0000-000000000000", "&object_id=nope", "&msi_res_id=/subscriptions/x"])
def test_unknown_identity(imds_emulator, extra):
    reply = call(imds_emulator.url, TOKEN + ARM + extra)
    assert reply.status == 400
    assert reply.json() == {"error": "invalid_request", "error_description": "Identity not found"}


def test_resource_required_and_selectors_exclusive(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/identity/oauth2/token?api-version=2018-02-01")
    assert reply.status == 400 and reply.json()["error"] == "invalid_request"
    user = imds_emulator.profile["identity"]["userAssigned"][0]
    reply = call(imds_emulator.url, TOKEN + ARM + "&client_id=%s&object_id=%s" % (user["clientId"], user["objectId"]))
    assert reply.status == 400


@pytest.mark.imds_emulator(profile={"identity": {"systemAssigned": None}})
def test_no_system_identity_several_users(imds_emulator):
    assert call(imds_emulator.url, TOKEN + ARM).json() == {"error": "invalid_request", "error_description": "Identity not found"}


def test_info_and_bare_identity(imds_emulator):
    reply = call(imds_emulator.url, "/metadata/identity/info?api-version=2018-02-01")
    assert reply.json() == {"tenantId": imds_emulator.profile["identity"]["tenantId"]}
    reply = call(imds_emulator.url, "/metadata/identity?api-version=2018-02-01")
    assert reply.status == 404 and reply.json() == {"error": "Not Found"}


@pytest.mark.imds_emulator(rate_limit=5)
def test_identity_has_its_own_rate_limit(imds_emulator):
    codes = [call(imds_emulator.url, TOKEN + ARM).status for _dummy in range(30)]
    assert codes[:20] == [200] * 20
    assert 429 in codes


@pytest.mark.imds_emulator(rate_limit=5, faults=["latency=0.5,path=/metadata/identity"])
def test_identity_concurrency_limit(imds_emulator):
    codes = []

    def worker():
        codes.append(call(imds_emulator.url, TOKEN + ARM).status)

    threads = [threading.Thread(target=worker) for _dummy in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes.count(200) == 5
    assert codes.count(429) == 3
