# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""imds.azure.token through lookup_loader, against the in-process IMDS emulator."""

from __future__ import annotations

import base64
import json
import os
import urllib.request

import pytest

from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader

from ansible_collections.imds.azure.plugins.plugin_utils._lookup import base as _lookup

VAULT = "https://vault.azure.net"
ARM = "https://management.azure.com/"


def lookup():
    plugin = lookup_loader.get("imds.azure.token")
    assert plugin is not None
    return plugin


def token_requests(emulator):
    return [record for record in emulator.request_log if record.path == "/metadata/identity/oauth2/token"]


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def issued(emulator, resource, **selector):
    """The token the emulator holds for this identity and resource (it caches what it issued)."""
    query = "&".join("%s=%s" % item for item in [("api-version", "2018-02-01"), ("resource", resource)] + sorted(selector.items()))
    request = urllib.request.Request(emulator.url + "/metadata/identity/oauth2/token?" + query, headers={"Metadata": "true"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)["access_token"]


def no_fragment_of(token, text, size=16):
    return not any(token[index:index + size] in text for index in range(0, len(token) - size + 1))


def test_system_assigned_token(imds_emulator):
    value = lookup().run([VAULT], variables={}, endpoint=imds_emulator.url)
    assert len(value) == 1 and isinstance(value[0], str)
    assert value[0] == issued(imds_emulator, VAULT)
    identity = imds_emulator.profile["identity"]["systemAssigned"]
    assert claims(value[0])["aud"] == VAULT and claims(value[0])["appid"] == identity["clientId"]
    request = token_requests(imds_emulator)[0]
    assert request.query["resource"] == VAULT and not {"client_id", "object_id", "msi_res_id"} & set(request.query)


@pytest.mark.parametrize("selector, field", [("client_id", "clientId"), ("object_id", "objectId"), ("msi_res_id", "resourceId")])
def test_user_assigned_identities(imds_emulator, selector, field):
    identity = imds_emulator.profile["identity"]["userAssigned"][1]
    value = lookup().run([ARM], variables={}, endpoint=imds_emulator.url, **{selector: identity[field]})[0]
    assert claims(value)["appid"] == identity["clientId"]
    assert token_requests(imds_emulator)[0].query[selector] == identity[field]


def test_client_id_from_a_variable(imds_emulator):
    identity = imds_emulator.profile["identity"]["userAssigned"][0]
    value = lookup().run([ARM], variables={"azure_imds_identity_client_id": identity["clientId"], "azure_imds_endpoint": imds_emulator.url})[0]
    assert claims(value)["appid"] == identity["clientId"]


@pytest.mark.parametrize("kwargs, variables, name", [
    ({"client_id": ""}, {}, "client_id"),
    ({"object_id": ""}, {}, "object_id"),
    ({"msi_res_id": "  "}, {}, "msi_res_id"),
    ({}, {"azure_imds_identity_client_id": ""}, "client_id"),     # a group_vars value that templated to nothing
])
def test_an_empty_identity_is_refused_not_the_system_assigned_one(imds_emulator, kwargs, variables, name):
    """Issue 22 item 7: client_id '' silently meant the VM's system-assigned identity."""
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run([VAULT], variables=variables, endpoint=imds_emulator.url, **kwargs)
    assert str(info.value).startswith("imds.azure.token: config: %s is empty: name the user-assigned identity" % name)
    assert token_requests(imds_emulator) == []


def test_full_record(imds_emulator):
    record = lookup().run([VAULT, ARM], variables={}, endpoint=imds_emulator.url, output="record")
    assert [item["resource"] for item in record] == [VAULT, ARM]
    for item in record:
        assert isinstance(item["expires_on"], int) and isinstance(item["expires_in"], int) and isinstance(item["not_before"], int)
        assert item["token_type"] == "Bearer" and item["access_token"].count(".") == 2


def test_tokens_are_cached_until_shortly_before_expiry(imds_emulator, monkeypatch):
    plugin = lookup()
    first = plugin.run([VAULT], variables={}, endpoint=imds_emulator.url)
    assert plugin.run([VAULT], variables={}, endpoint=imds_emulator.url) == first
    assert len(token_requests(imds_emulator)) == 1
    plugin.run([VAULT], variables={}, endpoint=imds_emulator.url, cache=False)
    assert len(token_requests(imds_emulator)) == 2
    # 301 s before expiry the cached token is still used; 299 s before, a new one is asked for
    expires_on = plugin.run([VAULT], variables={}, endpoint=imds_emulator.url, output="record")[0]["expires_on"]
    tokens = _lookup.run_state().tokens
    clock = tokens.clock
    monkeypatch.setattr(tokens, "clock", lambda: expires_on - 301)
    plugin.run([VAULT], variables={}, endpoint=imds_emulator.url)
    assert len(token_requests(imds_emulator)) == 2
    monkeypatch.setattr(tokens, "clock", lambda: expires_on - 299)
    plugin.run([VAULT], variables={}, endpoint=imds_emulator.url)
    assert len(token_requests(imds_emulator)) == 3
    assert callable(clock)


def test_cache_is_per_identity_and_resource(imds_emulator):
    user = imds_emulator.profile["identity"]["userAssigned"][0]
    plugin = lookup()
    plugin.run([VAULT], variables={}, endpoint=imds_emulator.url)
    plugin.run([VAULT], variables={}, endpoint=imds_emulator.url, client_id=user["clientId"])
    plugin.run([ARM], variables={}, endpoint=imds_emulator.url)
    assert len(token_requests(imds_emulator)) == 3


def test_selectors_are_mutually_exclusive(imds_emulator):
    with pytest.raises(AnsibleLookupError, match="mutually exclusive; got client_id, msi_res_id"):
        lookup().run([VAULT], variables={}, endpoint=imds_emulator.url, client_id="a", msi_res_id="b")
    assert imds_emulator.request_log == []


@pytest.mark.parametrize("terms", [[], [""], ["https://vault.azure.net\r\nX: y"]])
def test_bad_resources(imds_emulator, terms):
    with pytest.raises(AnsibleLookupError, match="resource"):
        lookup().run(terms, variables={}, endpoint=imds_emulator.url)
    assert imds_emulator.request_log == []


def test_unknown_user_assigned_identity_is_named(imds_emulator):
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run([VAULT], variables={}, endpoint=imds_emulator.url, client_id="00000000-1111-2222-3333-444444444444")
    message = str(info.value)
    assert "client_id '00000000-1111-2222-3333-444444444444' was not found" in message
    assert "Identity not found" in message and "400" in message
    assert len(token_requests(imds_emulator)) == 1   # a 400 is not retried


def test_missing_system_assigned_identity(imds_emulator_factory):
    emulator = imds_emulator_factory(profile={"identity": {"systemAssigned": None}})
    with pytest.raises(AnsibleLookupError, match="system-assigned managed identity was not found: this VM has no system-assigned"):
        lookup().run([VAULT], variables={}, endpoint=emulator.url)


def test_truncated_answer_does_not_leak_the_token(imds_emulator_factory):
    emulator = imds_emulator_factory(faults=["truncate=1,path=/metadata/identity"])
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run([VAULT], variables={}, endpoint=emulator.url, api_version="2018-02-01")
    emulator.set_faults([])
    token = issued(emulator, VAULT)   # the same token the truncated answer carried (the emulator caches it)
    text = str(info.value) + repr(info.value.__cause__) + repr(info.value.__context__)
    assert "may hold a token" in text
    assert no_fragment_of(token, text)


def test_html_answer_does_not_show_the_body(imds_emulator_factory):
    emulator = imds_emulator_factory(faults=["html=1,path=/metadata/identity"])
    with pytest.raises(AnsibleLookupError, match="did not answer like IMDS") as info:
        lookup().run([VAULT], variables={}, endpoint=emulator.url, api_version="2018-02-01")
    assert "<html" not in str(info.value).lower()


def test_warnings_while_retrying_hold_no_token(imds_emulator_factory, warnings):
    emulator = imds_emulator_factory(faults=["status=500,ratio=1,path=/metadata/identity"])
    with pytest.raises(AnsibleLookupError, match="cannot get a token for https://vault.azure.net"):
        lookup().run([VAULT], variables={}, endpoint=emulator.url, api_version="2018-02-01", deadline=2)
    assert warnings and all("imds.azure.token" in warning for warning in warnings)


def test_nothing_is_written_to_the_run_directory(imds_emulator, fresh_run):
    token = lookup().run([VAULT], variables={}, endpoint=imds_emulator.url)[0]
    for root, _dirs, files in os.walk(str(fresh_run)):
        for name in files:
            with open(os.path.join(root, name)) as handle:
                assert no_fragment_of(token, handle.read())


SECRET = "OPAQUE-0123456789abcdef-not-a-jwt"


@pytest.mark.parametrize("status_line, content_type, body", [
    ("HTTP/1.1 500 Internal Server Error", "application/json", b'{"access_token": "%s", "expires_in": "3599"}' % SECRET.encode()),
    ("HTTP/1.1 404 Not Found", "text/plain", b"no such thing as %s here" % SECRET.encode()),
    ("HTTP/1.1 400 Bad Request", "application/json", b'{"error": "invalid_request", "error_description": "%s"}' % SECRET.encode()),
    ("HTTP/1.1 403 Forbidden", "text/plain", b"%s" % SECRET.encode()),
    ("HTTP/1.1 429 Too Many Requests", "text/plain", b"slow down %s" % SECRET.encode()),
    ("HTTP/1.1 200 OK", "application/json", b'{"access_token": "%s", "expires_in": ' % SECRET.encode()),
    ("HTTP/1.1 200 OK", "application/json", b'{"access_token": "%s", "x": %s%s}' % (SECRET.encode(), b"[" * 40, b"]" * 40)),
    ("HTTP/1.1 200 OK", "text/html", b"<html>%s</html>" % SECRET.encode()),
])
def test_no_message_holds_any_part_of_the_token_endpoints_answer(canned_server, warnings, status_line, content_type, body):
    server = canned_server(status_line, [("Content-Type", content_type)], body)
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run([VAULT], variables={}, endpoint=server.url, api_version="2018-02-01", deadline=1.5)
    shown = " ".join([str(info.value), repr(info.value.__cause__), repr(info.value.__context__)] + warnings)
    assert server.requests, "the lookup never asked"
    for fragment in (SECRET, "OPAQUE", "0123456789abcdef"):
        assert fragment not in shown, shown


TOKEN_JSON = b'{"access_token": "%s", "expires_in": "3599", "token_type": "Bearer"}' % SECRET.encode()


def _answer(*lines, **kwargs):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + kwargs.get("body", b"")


@pytest.mark.parametrize("answer", [
    TOKEN_JSON + b"\r\n",                                                     # HTTP/0.9: no status line, the token first
    b"%s 200 OK\r\n\r\n" % SECRET.encode(),                                     # the first word where HTTP/1.1 belongs
    b"HTTP/%s 200 OK\r\nContent-Length: 2\r\n\r\n{}" % SECRET.encode(),            # an unknown protocol version
    b"HTTP/1.1 %s\r\n\r\n" % SECRET.encode(),                                   # no status code
    _answer("HTTP/1.1 200 OK", "X-Token: " + SECRET * 3000, body=b"{}"),        # a header line longer than http.client reads
    _answer("HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: %d" % (len(TOKEN_JSON) + 9), body=TOKEN_JSON),
    _answer("HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: 9", "Content-Length: %d" % len(TOKEN_JSON),
            body=TOKEN_JSON),
    _answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Content-Length: 5", body=b"%x\r\n%s\r\n0\r\n\r\n" % (
        len(TOKEN_JSON), TOKEN_JSON)),
    _answer("HTTP/1.1 200 OK", "Content-Length: " + SECRET, body=TOKEN_JSON),
    _answer("HTTP/1.1 200 OK", "Transfer-Encoding: " + SECRET, body=TOKEN_JSON),
    _answer("HTTP/1.1 200 OK", "Content-Encoding: " + SECRET, "Content-Length: %d" % len(TOKEN_JSON), body=TOKEN_JSON),
    _answer("HTTP/1.1 302 Found", "Location: http://127.0.0.1:9/?token=" + SECRET, "Content-Length: 0"),
    _answer("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", body=b"%x\r\n%s" % (len(TOKEN_JSON), TOKEN_JSON[:20])),
], ids=["http-0.9", "first-word", "protocol", "no-status", "long-header", "short-body", "two-lengths", "chunked-and-length",
        "length-text", "coding-text", "content-encoding", "redirect", "short-chunk"])
def test_no_message_holds_any_part_of_a_broken_answer(raw_server, warnings, answer):
    """Issue 22 item 9: the first line of an answer without a status line (a token record) went into the error and into
    each "retrying" warning. Whatever the shape of the answer, no part of it reaches a message."""
    server = raw_server(answer)
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run([VAULT], variables={}, endpoint=server.url, api_version="2018-02-01", timeout=1, deadline=1.5)
    shown = " ".join([str(info.value), repr(info.value.__cause__), repr(info.value.__context__)] + warnings)
    assert server.requests, "the lookup never asked"
    for fragment in (SECRET, "OPAQUE", "0123456789abcdef", "access_token"):
        assert fragment not in shown, shown


# --------------------------------------------------------------------------- error keywords

@pytest.mark.parametrize("keyword, terms, kwargs, profile, faults", [
    ("config", [VAULT], {"client_id": "a", "object_id": "b"}, None, []),
    ("config", [], {}, None, []),
    ("config", [VAULT], {"endpoint": "ftp://203.0.113.7"}, None, []),
    ("rejected", [VAULT], {"client_id": "00000000-1111-2222-3333-444444444444"}, None, []),
    ("rejected", [VAULT], {}, {"identity": {"systemAssigned": None}}, []),
    ("not_imds", [VAULT], {}, None, ["html=1,path=/metadata/identity"]),
    ("server_error", [VAULT], {"deadline": 2}, None, ["status=500,ratio=1,path=/metadata/identity"]),
])
def test_errors_start_with_the_plugin_and_a_keyword(imds_emulator_factory, keyword, terms, kwargs, profile, faults):
    # The keywords of the modules' imds_error (docs/docsite/rst/lookups.rst "Errors").
    emulator = imds_emulator_factory(profile=profile, faults=faults)
    kwargs = dict({"endpoint": emulator.url, "api_version": "2018-02-01"}, **kwargs)
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run(terms, variables={}, **kwargs)
    assert str(info.value).startswith("imds.azure.token: %s: " % keyword)


def test_an_answer_without_a_token_is_not_imds(canned_server):
    server = canned_server("HTTP/1.1 200 OK", [("Content-Type", "application/json")], b'{"token_type": "Bearer", "expires_in": "3599"}')
    with pytest.raises(AnsibleLookupError) as info:
        lookup().run([VAULT], variables={}, endpoint=server.url, api_version="2018-02-01")
    assert str(info.value).startswith("imds.azure.token: not_imds: the token endpoint answered with a token answer that IMDS never "
                                      "sends: access_token is missing")


def _token_worker(url, run_dir, queue):
    from ansible import constants as C
    C.DEFAULT_LOCAL_TMP = run_dir
    queue.put(bool(lookup_loader.get("imds.azure.token").run([VAULT], endpoint=url)[0]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_workers_of_one_run_negotiate_the_api_version_once(imds_emulator, fresh_run, forked):
    """Each worker asks for its own token; the api-version 'latest' stands for is asked once per run."""
    assert set(forked(_token_worker, 4, imds_emulator.url, str(fresh_run))) == {True}
    asked = [record.path for record in imds_emulator.request_log]
    assert asked.count("/metadata/versions") == 1 and len(token_requests(imds_emulator)) == 4


def test_settings_never_mistake_one_value_for_an_equal_one_of_another_type(imds_emulator):
    """True == 1: client_id=True (the string 'True') must not reuse the settings of client_id=1 (the string '1')."""
    for value in (1, True):
        with pytest.raises(AnsibleLookupError, match="client_id '%s'" % value):
            lookup().run([VAULT], endpoint=imds_emulator.url, client_id=value)
