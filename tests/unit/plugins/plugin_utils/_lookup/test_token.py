# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The token lookup's helpers: identity options, resources, token records, the token cache."""

from __future__ import annotations

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils._lookup import token as _token
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.token import TokenCache, TokenError


def test_identity_selector():
    assert _token.identity_selector({}) == (None, None)
    assert _token.identity_selector({"client_id": "abc", "object_id": None}) == ("client_id", "abc")
    assert _token.identity_selector({"msi_res_id": "/subscriptions/x"}) == ("msi_res_id", "/subscriptions/x")
    with pytest.raises(TokenError, match="mutually exclusive; got client_id, object_id"):
        _token.identity_selector({"client_id": "a", "object_id": "b"})
    with pytest.raises(TokenError, match="plain string"):
        _token.identity_selector({"client_id": "a\nb"})
    for empty in ("", " "):
        with pytest.raises(TokenError, match="object_id is empty"):
            _token.identity_selector({"client_id": None, "object_id": empty})


def test_describe_identity():
    assert _token.describe_identity(None, None) == "the system-assigned managed identity"
    assert "client_id 'abc'" in _token.describe_identity("client_id", "abc")


@pytest.mark.parametrize("resource", ["", "  ", None, " https://x", "https://x\r\n"])
def test_check_resource_refuses(resource):
    with pytest.raises(TokenError):
        _token.check_resource(resource)


def test_normalize_record_numbers_and_errors():
    record = _token.normalize_record({"access_token": "t", "expires_on": "1700000000", "expires_in": "3599",
                                      "ext_expires_in": "3599", "not_before": "1699996400", "token_type": "Bearer"})
    assert record["expires_on"] == 1700000000 and record["expires_in"] == 3599 and record["not_before"] == 1699996400
    assert record["token_type"] == "Bearer"
    with pytest.raises(TokenError) as info:
        _token.normalize_record({"token": "secret-value"})
    assert "secret-value" not in str(info.value)
    with pytest.raises(TokenError):
        _token.normalize_record(["x"])


def test_token_cache_refreshes_before_expiry(fake_time):
    clock = fake_time
    cache = TokenCache(clock=clock.clock)
    assert cache.put("k", {"access_token": "t", "expires_on": int(clock.now) + 3600})
    clock.now += 3600 - 301
    assert cache.get("k")["access_token"] == "t"
    clock.now += 2
    assert cache.get("k") is None
    # short-lived tokens: refreshed after half their lifetime
    assert cache.put("s", {"access_token": "t", "expires_on": int(clock.now) + 100})
    clock.now += 49
    assert cache.get("s") is not None
    clock.now += 2
    assert cache.get("s") is None
    assert not cache.put("x", {"access_token": "t", "expires_on": int(clock.now) - 1})
    assert not cache.put("y", {"access_token": "t"})
