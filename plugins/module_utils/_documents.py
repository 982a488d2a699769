# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""IMDS documents as the collection hands them out, the same in the facts and the lookups.

The user data (``compute.userData``) is kept out of the instance document and decoded only when
asked for. What each document must hold is in _shape.py.
"""

from __future__ import annotations

import base64
import binascii
import zlib

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsTooLarge
from ansible_collections.imds.azure.plugins.module_utils._transport import KIB, MIB

# Azure accepts at most 64 KB of user data; gzip-compressed user data may expand to at most
# USERDATA_TEXT_LIMIT (docs/docsite/rst/facts.rst "Limits and what happens at them").
USERDATA_LIMIT = 64 * KIB
USERDATA_TEXT_LIMIT = MIB
_USERDATA_BASE64_LIMIT = (USERDATA_LIMIT + 2) // 3 * 4


def as_text(value):
    """A JSON scalar as the facts show it: strings unchanged, ``true``/``false``, ``""`` for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def strip_user_data(document):
    """``(document without compute.userData, whether it held userData)``; the document is copied only then.

    Anything that is not an instance document with a ``compute`` object comes back unchanged.
    """
    compute = document.get("compute") if isinstance(document, dict) else None
    if not isinstance(compute, dict) or "userData" not in compute:
        return document, False
    out = dict(document)
    out["compute"] = dict((key, value) for key, value in compute.items() if key != "userData")
    return out, True


def check_userdata_size(encoded):
    """``encoded`` (user data as IMDS returns it, base64), or ImdsTooLarge when it is longer than Azure allows."""
    if len(encoded) > _USERDATA_BASE64_LIMIT:
        raise ImdsTooLarge("IMDS user data is %d characters of base64, more than the %d KiB that Azure allows (%d characters). "
                           "Nothing was gathered." % (len(encoded), USERDATA_LIMIT // KIB, _USERDATA_BASE64_LIMIT))
    return encoded


def _gunzip(data, limit):
    """The gzip member(s) in ``data`` decompressed, or None when it is not valid gzip.

    Never produces more than ``limit`` bytes: ImdsTooLarge when the data would expand further.
    """
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error:
            return None
        if len(out) > limit:
            raise ImdsTooLarge("IMDS user data expands to more than %d KiB when decompressed (gzip), the limit of the userdata "
                               "fact; decompression stopped there. Nothing was gathered." % (limit // KIB))
        if not inflater.eof:
            return None
        data = inflater.unused_data
    return bytes(out)


def decode_userdata(encoded, warn=None):
    """Decode IMDS user data (base64, optionally gzip) to text.

    Returns the text; when the data is not base64 or not UTF-8 text, the value IMDS returned
    is kept unchanged and ``warn`` is told so (nothing is lost). User data larger than Azure
    allows, or gzip that expands beyond USERDATA_TEXT_LIMIT, raises ImdsTooLarge.
    """
    encoded = check_userdata_size(as_text(encoded).strip())
    if not encoded:
        return ""
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        if warn:
            warn("IMDS user data is not valid base64; azure_imds.userdata holds it as returned")
        return encoded
    if raw[:2] == b"\x1f\x8b":
        text = _gunzip(raw, USERDATA_TEXT_LIMIT)
        raw = raw if text is None else text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if warn:
            warn("IMDS user data is binary (not UTF-8 text); azure_imds.userdata holds it base64-encoded as returned")
        return encoded
