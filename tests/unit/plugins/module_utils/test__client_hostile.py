# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared client against hostile servers: time, size and shape limits of what it accepts (issue 14).

The emulator's hostile modes (docs/docsite/rst/emulator.rst "Hostile servers") play the server; where
they cannot, ``canned_server`` writes a fixed answer to a real socket, so UrlTransport and http.client parse it.
Elapsed times are checked against ``deadline`` plus an allowance: a correctness bound, not a speed claim.
"""

from __future__ import annotations

import gzip
import re
import time
import tracemalloc

import pytest

from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._errors import (
    ImdsNotImds,
    ImdsThrottled,
    ImdsTimeout,
    ImdsTooLarge,
    ImdsUnreachable,
)
from ansible_collections.imds.azure.plugins.module_utils._transport import MIB, RESPONSE_LIMITS, Response, UrlTransport

ALLOWANCE = 3.0          # seconds past the deadline that scheduling on a loaded machine may add
MEMORY_BOUND = 16 * MIB  # what reading one refused answer may allocate at most (its limit is 1 MiB)


def client_for(url, **kwargs):
    kwargs.setdefault("api_version", "2021-02-01")
    kwargs.setdefault("rand", lambda: 0.0)
    return ImdsClient(endpoint=url, **kwargs)


def call_bounded(call, deadline):
    """(exception, elapsed seconds) of ``call()``, which must fail."""
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        call()
    elapsed = time.monotonic() - started
    assert elapsed < deadline + ALLOWANCE, "took %.1f s with a %g s deadline" % (elapsed, deadline)
    return info.value, elapsed


def peak_memory(call):
    """(exception, peak bytes allocated by Python) while ``call()`` fails."""
    tracemalloc.start()
    try:
        with pytest.raises(Exception) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info.value, peak


# --------------------------------------------------------------------------- time: the deadline covers the whole exchange

def test_a_trickled_body_is_bounded_by_the_deadline(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["trickle-body=0.2"])
    error, _elapsed = call_bounded(lambda: client_for(emu.url, timeout=1, deadline=3).get_json("instance"), 3)
    assert isinstance(error, ImdsTimeout)
    assert "did not complete within" in str(error) and "3 s deadline" in str(error)


def test_trickled_headers_are_a_timeout_not_an_answer(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["trickle-headers=0.2"])
    error, _elapsed = call_bounded(lambda: client_for(emu.url, timeout=1, deadline=3).get_json("instance"), 3)
    assert isinstance(error, ImdsTimeout)
    assert "answered" not in str(error) and "0 bytes" not in str(error)
    assert "no complete status line and headers" in str(error)


def test_durations_in_messages_are_rounded(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["stall=30"])
    error, _elapsed = call_bounded(lambda: client_for(emu.url, timeout=0.7, deadline=1.9).get_json("instance"), 1.9)
    assert isinstance(error, ImdsTimeout)
    assert not re.search(r"[0-9]\.[0-9]{3,}", str(error)), str(error)
    assert "1.9 s deadline" in str(error)


# --------------------------------------------------------------------------- size: read with a cap, refuse what is larger

def test_an_endless_body_is_refused_with_bounded_memory(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["endless=30"])
    client = client_for(emu.url, timeout=10, deadline=20)
    error, peak = peak_memory(lambda: client.get_json("instance"))
    assert isinstance(error, ImdsTooLarge) and error.kind == "too_large"
    assert "more than 1 MiB" in str(error) and "limited to 1 MiB" in str(error)
    assert peak < MEMORY_BOUND, peak
    assert client.request_count == 1   # refused, not retried


def test_an_oversized_answer_is_refused_before_reading_it(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["oversize=64"])
    client = client_for(emu.url, timeout=10, deadline=20)
    error, peak = peak_memory(lambda: client.get_json("instance"))
    assert isinstance(error, ImdsTooLarge)
    assert "Content-Length %d" % (64 * MIB) in str(error) and "Nothing was gathered" in str(error)
    assert peak < MEMORY_BOUND, peak


def test_an_answer_just_under_the_limit_is_accepted(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["oversize=0.99"])
    document = client_for(emu.url).get_json("instance")
    assert set(document) == {"padding", "compute", "network"}


@pytest.mark.parametrize("category, path, fault, query", [
    ("identity", "oauth2/token", "oversize=0.1,path=/metadata/identity", {"resource": "https://vault.azure.net"}),
    ("versions", "", "oversize=0.1,path=/metadata/versions", None),
])
def test_small_categories_have_smaller_limits(imds_emulator_factory, category, path, fault, query):
    assert RESPONSE_LIMITS[category] == 64 * 1024
    emu = imds_emulator_factory(faults=[fault])
    with pytest.raises(ImdsTooLarge, match="limited to 64 KiB"):
        client_for(emu.url, api_version="2018-02-01").get_json(category, path, query=query)


def test_the_limit_holds_for_any_transport():
    """The Windows action supplies its own transport: the client checks the Response it gets."""
    class Transport(object):
        def request(self, method, url, headers, body, timeout):
            return Response(200, {"Content-Type": "application/json"}, b'{"compute": {}, "network": {}, "x": "' + b"y" * (2 * MIB) + b'"}')

    with pytest.raises(ImdsTooLarge, match=r"answered 200 with 2097[0-9]+ bytes"):
        ImdsClient(api_version="2021-02-01", transport=Transport()).get_json("instance")


def test_url_transport_reads_at_most_its_cap(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["endless=30"])
    url = emu.url + "/metadata/instance?api-version=2021-02-01"
    response = UrlTransport(max_body=100000).request("GET", url, {"Metadata": "true"}, None, 10)
    assert response.truncated and len(response.body) == 100000 and response.status == 200


def test_compressed_answers_are_refused_not_decompressed(canned_server):
    headers = [("Content-Type", "application/json"), ("Content-Encoding", "gzip")]
    server = canned_server("HTTP/1.1 200 OK", headers, gzip.compress(b'{"compute": {}, "network": {}}'))
    with pytest.raises(ImdsNotImds, match="Content-Encoding 'gzip'.*does not decompress"):
        client_for(server.url).get_json("instance")
    assert b"accept-encoding: identity" in server.requests[0].lower()


# --------------------------------------------------------------------------- shape

@pytest.mark.parametrize("depth", [100000, 40])
def test_deeply_nested_json_is_not_imds(imds_emulator_factory, depth):
    emu = imds_emulator_factory(faults=["nested=%d" % depth])
    with pytest.raises(ImdsNotImds, match="nested more than 32 levels deep") as info:
        client_for(emu.url).get_json("instance")
    assert info.value.kind == "not_imds"


def test_nesting_within_the_limit_is_accepted(imds_emulator_factory):
    emu = imds_emulator_factory(faults=["nested=20"])
    assert "compute" in client_for(emu.url).get_json("instance")


def test_a_lone_surrogate_in_a_tag_name_is_not_imds(imds_emulator_factory):
    emu = imds_emulator_factory(profile={"tags": {"env\ud800": "prod"}})
    with pytest.raises(ImdsNotImds, match=r"lone UTF-16 surrogate .* at compute/tagsList/[0-9]+/name") as info:
        client_for(emu.url).get_json("instance")
    str(info.value).encode("utf-8")   # the message itself can always be printed


@pytest.mark.parametrize("status", [204, 203])
def test_an_empty_success_answer_names_its_status(canned_server, status):
    server = canned_server("HTTP/1.1 %d Whatever" % status, [("Content-Type", "application/json")], b"")
    with pytest.raises(ImdsNotImds) as info:
        client_for(server.url).get_json("instance")
    assert "answered %d with an empty body" % status in str(info.value)
    assert "answered 200" not in str(info.value)


def test_redirects_are_not_followed_on_the_wire(canned_server):
    target = canned_server("HTTP/1.1 200 OK", [("Content-Type", "application/json")], b'{"compute": {}, "network": {}}')
    server = canned_server("HTTP/1.1 302 Found", [("Location", target.url + "/metadata/instance")], b"")
    with pytest.raises(ImdsNotImds, match="redirect"):
        client_for(server.url).get_json("instance")
    assert len(server.requests) == 1 and target.requests == []


# --------------------------------------------------------------------------- framing: where an answer ends (issue 22, item 1)

def head(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_a_leaf_cut_short_of_its_content_length_is_never_a_value(raw_server, fake_time):
    # compute/name "vm-10" cut to "vm-1": http.client hands the 4 bytes back without a word.
    server = raw_server(head("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 5") + b"vm-1")
    warnings = []
    client = client_for(server.url, timeout=1, deadline=10, sleep=fake_time.sleep, clock=fake_time.clock, warn=warnings.append)
    with pytest.raises(ImdsUnreachable) as info:
        client.get_text("instance", "compute/name")
    assert "the answer ended after 4 of the 5 bytes of its Content-Length" in str(info.value)
    assert len(server.requests) > 1          # a broken transfer is retried, as a reset is
    assert info.value.kind == "unreachable" and info.value.connected


def test_a_document_cut_short_is_refused_even_when_the_part_is_valid_json(raw_server, fake_time):
    body = b'{"compute": {"name": "vm-1"}, "network": {}}'
    server = raw_server(head("HTTP/1.1 200 OK", "Content-Type: application/json", "Content-Length: %d" % (len(body) + 40)) + body)
    client = client_for(server.url, timeout=1, deadline=5, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(ImdsUnreachable, match="ended after %d of the %d bytes" % (len(body), len(body) + 40)):
        client.get_json("instance")


def test_a_short_answer_from_any_transport_is_refused(fake_time):
    """The Windows transport and the lookups' paced one return a Response too: the client checks it, not UrlTransport."""
    class Transport(object):
        def request(self, method, url, headers, body, timeout):
            return Response(200, {"Content-Type": "text/plain", "Content-Length": "5"}, b"vm-1")

    client = ImdsClient(api_version="2021-02-01", transport=Transport(), deadline=5, sleep=fake_time.sleep, clock=fake_time.clock)
    with pytest.raises(ImdsUnreachable, match="ended after 4 of the 5 bytes"):
        client.get_text("instance", "compute/name")


@pytest.mark.parametrize("framing, why", [
    (["Content-Length: 4", "Content-Length: 5"], "Content-Length headers that disagree"),
    (["Content-Length: 4, 5"], "Content-Length headers that disagree"),
    (["Transfer-Encoding: chunked", "Content-Length: 4"], "both Transfer-Encoding and Content-Length"),
    (["Content-Length: 4", "Transfer-Encoding: chunked"], "both Transfer-Encoding and Content-Length"),
    (["Transfer-Encoding: gzip, chunked"], "Transfer-Encoding is not just chunked"),
    (["Transfer-Encoding: identity"], "Transfer-Encoding is not just chunked"),
    (["Content-Length: -5"], "Content-Length is not a number"),
    (["Content-Length: +5"], "Content-Length is not a number"),
    (["Content-Length: 5x"], "Content-Length is not a number"),
    (["Content-Length: \xb2"], "Content-Length is not a number"),     # str.isdigit() says yes, int() says no
])
def test_an_answer_whose_end_is_ambiguous_is_not_imds(raw_server, framing, why):
    chunked = any("chunked" in line for line in framing)
    body = b"5\r\nvm-10\r\n0\r\n\r\n" if chunked else b"vm-10"
    server = raw_server(head("HTTP/1.1 200 OK", "Content-Type: text/plain", *framing) + body)
    with pytest.raises(ImdsNotImds) as info:
        client_for(server.url).get_text("instance", "compute/name")
    assert why in str(info.value) and "this is not IMDS" in str(info.value)
    assert len(server.requests) == 1          # a protocol violation is not retried


def test_identical_repeated_content_lengths_are_one_length(raw_server):
    server = raw_server(head("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 5", "Content-Length: 5") + b"vm-10")
    assert client_for(server.url).get_text("instance", "compute/name") == "vm-10"


@pytest.mark.parametrize("answer", [
    b'{"compute": {"name": "vm-10"}, "network": {}}\r\n',           # HTTP/0.9: the body and nothing else
    b"ICY 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
    b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
])
def test_an_answer_without_an_http_1_status_line_is_not_imds(raw_server, answer):
    server = raw_server(answer)
    with pytest.raises(ImdsNotImds, match="does not start with an HTTP/1.x status line") as info:
        client_for(server.url).get_json("instance")
    assert "vm-10" not in str(info.value) and "ICY" not in str(info.value) and "2OO" not in str(info.value)
    assert len(server.requests) == 1


def test_an_https_endpoint_that_speaks_plain_http_is_not_imds(imds_emulator):
    url = imds_emulator.url.replace("http://", "https://")
    with pytest.raises(ImdsNotImds, match=r"TLS handshake failed \(.*IMDS itself is plain http://\)") as info:
        client_for(url).get_json("instance")
    assert info.value.attempts == 1


# --------------------------------------------------------------------------- Retry-After that asks for no pause (item 8)

@pytest.mark.parametrize("value", ["0", "-1", "NaN", "1e400", "0.001"])
def test_a_retry_after_that_asks_for_no_pause_is_no_request_storm(raw_server, value):
    body = b'{"error": "Too many requests"}'
    server = raw_server(head("HTTP/1.1 429 Too Many Requests", "Content-Type: application/json", "Retry-After: " + value,
                             "Content-Length: %d" % len(body)) + body)
    error, _elapsed = call_bounded(lambda: client_for(server.url, timeout=1, deadline=2.5).get_json("instance"), 2.5)
    assert isinstance(error, ImdsThrottled) and "HTTP 429" in str(error)
    assert len(server.requests) <= 3          # every pause at least a second: at most 1 + deadline / 1 s requests
