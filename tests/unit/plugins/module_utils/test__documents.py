# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""IMDS documents as the facts and the lookups hand them out: user data."""

from __future__ import annotations

import base64
import gzip

from ansible_collections.imds.azure.plugins.module_utils import _documents
from ansible_collections.imds.azure.plugins.module_utils._documents import (
    as_text,
    decode_userdata,
    strip_user_data,
)

INSTANCE = {"compute": {"vmId": "id-1", "userData": "c2VjcmV0"}, "network": {"interface": []}}


def test_strip_user_data_copies_only_when_there_is_user_data():
    stripped, removed = strip_user_data(INSTANCE)
    assert removed and stripped == {"compute": {"vmId": "id-1"}, "network": {"interface": []}}
    assert INSTANCE["compute"]["userData"] == "c2VjcmV0"
    assert strip_user_data(stripped) == (stripped, False) and strip_user_data(stripped)[0] is stripped
    for other in (None, [], "x", {"compute": "x"}, {"loadbalancer": {}}):
        assert strip_user_data(other) == (other, False)


def test_as_text():
    assert [as_text(value) for value in (None, True, False, 0, 1.5, "x", "")] == ["", "true", "false", "0", "1.5", "x", ""]


def test_decode_userdata():
    warnings = []
    assert decode_userdata(base64.b64encode(b"#cloud-config\n").decode()) == "#cloud-config\n"
    assert decode_userdata(base64.b64encode(gzip.compress("h\u00e9llo".encode())).decode()) == "h\u00e9llo"
    assert decode_userdata("") == ""
    binary = base64.b64encode(b"\xff\xfe\x00\x01").decode()
    assert decode_userdata(binary, warnings.append) == binary
    assert decode_userdata("not base64!", warnings.append) == "not base64!"
    assert len(warnings) == 2


def test_compressed_user_data_within_the_limits_is_decoded():
    text = "#cloud-config\n" + "packages: [nginx]\n" * 50000          # 900 kB of text, about 3 kB of gzip
    encoded = base64.b64encode(gzip.compress(text.encode())).decode()
    assert len(encoded) < 64 * 1024 and len(text) < _documents.USERDATA_TEXT_LIMIT
    assert decode_userdata(encoded) == text
    concatenated = base64.b64encode(gzip.compress(b"first ") + gzip.compress(b"second")).decode()
    assert decode_userdata(concatenated) == "first second"
