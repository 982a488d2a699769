# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Path and query validation: the one check the client and the metadata lookup share."""

from __future__ import annotations

import pytest

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsConfigError
from ansible_collections.imds.azure.plugins.module_utils._paths import encode_path, encode_query, validate_path


@pytest.mark.parametrize("path, segments", [
    ("compute/vmId", ("compute", "vmId")),
    ("/instance/compute/vmId", ("instance", "compute", "vmId")),
    ("network/interface/0/ipv4", ("network", "interface", "0", "ipv4")),
    (["compute", "tagsList", 0], ("compute", "tagsList", "0")),
    (("a_b", "c~d", "e.f", "g-h"), ("a_b", "c~d", "e.f", "g-h")),
    ([], ()),
])
def test_validate_path_returns_the_segments(path, segments):
    assert validate_path(path) == segments


@pytest.mark.parametrize("path, words", [
    ("compute//vmId", "has an empty segment"),
    ("compute/vmId/", "has an empty segment"),
    ("/", "has an empty segment"),
    ("", "has an empty segment"),
    ("compute/../secrets", "'..': relative segments are not allowed"),
    (["compute", "."], "'.': relative segments are not allowed"),
    ("http://169.254.169.254/metadata/instance", "looks like a URL"),
    ("//evil.example/compute", "looks like a URL"),
    ("https:compute", "looks like a URL"),
    ("compute/vmId\r\nHost: evil", "control characters"),
    ("compute/vm Id", "contains whitespace"),
    ("compute/vmId?format=json", "'?': query strings are not supported"),
    ("compute#x", "'#': fragments are not supported"),
    ("compute/%2e%2e", "'%': percent-encoding is not supported"),
    ("compute\\vmId", "backslashes are not path separators"),
    ("compute/vm$Id", "segment 'vm$Id' may contain only letters, digits and _ ~ . -"),
    ("compute/\u00e9", "may contain only"),
    (["compute", "a/b"], "may contain only"),
    (None, "a path must be a string, got NoneType None"),
    (3, "a path must be a string, got int 3"),
])
def test_validate_path_refuses(path, words):
    with pytest.raises(ImdsConfigError) as info:
        validate_path(path)
    assert words in str(info.value)
    assert info.value.kind == "config"


def test_encode_path_ignores_outer_slashes_and_encodes():
    assert encode_path(None) == encode_path("") == encode_path("/") == encode_path([]) == ""
    assert encode_path("/compute/location/") == "compute/location"
    assert encode_path(["network", "interface", 0]) == "network/interface/0"
    with pytest.raises(ImdsConfigError):
        encode_path("compute//location")


def test_encode_query():
    assert encode_query(None) == encode_query({}) == []
    assert encode_query({"nonce": "a&b", "resource": "https://x/", "flag": True, "skip": None}) == [
        "flag=true", "nonce=a%26b", "resource=https%3A%2F%2Fx%2F"]
    for bad in ({"api-version": "1"}, {"format": "text"}, {"a b": "x"}, {3: "x"}, ["a"]):
        with pytest.raises(ImdsConfigError):
            encode_query(bad)
