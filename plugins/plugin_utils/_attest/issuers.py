# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""Issuer certificates the controller downloads to complete an attested document's chain.

IMDS signs with a certificate whose issuer is not in the document: the controller fetches it
from the signer's "CA Issuers" URL (Authority Information Access), then from the downloaded
certificates' own, but only from ``attested_aia_allowlist`` locations, at most MAX_AIA_FETCHES
times and AIA_TIMEOUT seconds for one document, never following a redirect. ``downloads`` is the
``issuers`` iterable of ``verifier.verify``.
"""

from __future__ import annotations

import ssl
import time

from urllib.parse import unquote, urlsplit

from ansible_collections.imds.azure.plugins.module_utils._transport import ConnectTimeout, ReadTimeout, TransportError, UrlTransport
from ansible_collections.imds.azure.plugins.plugin_utils._attest.verifier import aia_urls, certificates_from_aia, shown

# Where the controller may download issuer certificates from: Microsoft's published AIA locations
# ("Certificate downloads and revocation lists" in https://learn.microsoft.com/azure/security/fundamentals/azure-ca-details:
# cacerts.digicert.com, cacerts.digicert.cn, cacerts.geotrust.com, caissuers.microsoft.com and www.microsoft.com, over
# HTTP on port 80). www.microsoft.com is a whole web site, so only its certificate folder (/pkiops/certs/) is allowed.
DEFAULT_AIA_ALLOWLIST = (
    "http://www.microsoft.com/pkiops/certs/",
    "http://caissuers.microsoft.com/",
    "http://cacerts.digicert.com/",
    "http://cacerts.digicert.cn/",
    "http://cacerts.geotrust.com/",
)
MAX_AIA_FETCHES = 4
MAX_AIA_URLS = 8  # CA Issuers URLs looked at per document, fetched or not (a certificate may list any number)
MAX_AIA_BYTES = 64 * 1024
AIA_TIMEOUT = 10  # seconds for all the fetches of one document together, name resolution excepted
_DEFAULT_PORTS = {"http": 80, "https": 443}


def allowlist_entry(entry):
    """``(scheme, host, port, path prefix)`` of one attested_aia_allowlist entry (ValueError when it is not one)."""
    text = str(entry)
    parts = _split_url(text)
    if parts is None or not parts[3].endswith("/") or urlsplit(text).query:
        raise ValueError("attested_aia_allowlist entry %r is not an http:// or https:// URL prefix without user, query or "
                         "fragment, ending in / (such as %s)" % (text, DEFAULT_AIA_ALLOWLIST[0]))
    return parts


def _split_url(url):
    """``(scheme, host, port, decoded path)`` of an absolute http(s) URL that is safe to request; None for anything else.

    Refused: other schemes, user information, a fragment, whitespace, control or non-ASCII characters (they could
    change the request line) and ``.``/``..`` path segments (a prefix check must mean what it says).
    """
    if not isinstance(url, str) or not url.isascii() or any(ord(char) <= 0x20 or ord(char) == 0x7f for char in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc or parts.fragment or "#" in url:
        return None
    path = unquote(parts.path) or "/"
    if any(segment in (".", "..") for segment in path.split("/")) or "\\" in path:
        return None
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme], path


def aia_allowed(url, allowlist):
    """Whether the controller may fetch ``url``: same scheme, host and port as an allowlist entry, under its path."""
    parts = _split_url(url)
    return parts is not None and any(parts[:3] == entry[:3] and parts[3].startswith(entry[3]) for entry in allowlist)


class AiaFetchError(Exception):
    """An issuer download failed; the message is the controller's own words, never text from the answer."""


def fetch_issuer(url, deadline):
    """GET an allowed "CA Issuers" URL from the controller with the collection's one HTTP client (``_transport.UrlTransport``):
    directly (never through a proxy), no redirects, the whole exchange (connect, request, headers and body) done by
    ``deadline`` (``time.monotonic()``) and at most MAX_AIA_BYTES of body. Returns the body; raises AiaFetchError."""
    left = deadline - time.monotonic()
    try:
        if left <= 0:
            raise ReadTimeout("the deadline has passed")
        response = UrlTransport(max_body=MAX_AIA_BYTES).request("GET", url, {"Accept": "*/*"}, None, left)
    except (ConnectTimeout, ReadTimeout):
        raise AiaFetchError("no complete answer within %s s" % AIA_TIMEOUT)
    except TransportError as exc:
        if isinstance(exc.__context__, ssl.SSLError):
            raise AiaFetchError("TLS failed (%s)" % (exc.__context__.reason or exc.__context__.__class__.__name__))
        raise AiaFetchError("connection failed (%s)" % exc)
    if 300 <= response.status < 400:
        raise AiaFetchError("the answer is a redirect (HTTP %d); redirects are not followed" % response.status)
    if response.status != 200:
        raise AiaFetchError("the answer is HTTP %d" % response.status)
    if response.truncated:
        raise AiaFetchError("the answer is larger than %d bytes" % MAX_AIA_BYTES)
    return response.body


def downloads(leaf, notes, allowlist, fetch=fetch_issuer):
    """The issuer certificates of ``leaf``, one batch per download (``fetch(url, deadline) -> bytes``), fetched only
    as the caller asks for the next; what was not fetched or did not give a certificate is added to ``notes``."""
    queue, seen, fetches = list(aia_urls(leaf)), set(), 0
    deadline = time.monotonic() + AIA_TIMEOUT
    while queue and fetches < MAX_AIA_FETCHES and len(seen) < MAX_AIA_URLS:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if not aia_allowed(url, allowlist):
            notes.append("the CA Issuers URL %s was not fetched: it is not in attested_aia_allowlist" % shown(url))
            continue
        fetches += 1
        try:
            certs = certificates_from_aia(fetch(url, deadline))
        except AiaFetchError as exc:
            notes.append("fetching the issuer from %s failed: %s" % (shown(url), exc))
            continue
        except Exception:  # pylint: disable=broad-except  # an unreadable answer is reported, never its content
            notes.append("fetching the issuer from %s failed: the answer is not a certificate (DER, PEM or PKCS#7)" % shown(url))
            continue
        yield certs
        for cert in certs:
            queue.extend(aia_urls(cert))
