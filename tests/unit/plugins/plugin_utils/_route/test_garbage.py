# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Garbage route tables end in RouteError("parse") naming what is wrong, never in another exception.

Each case is a table that the parsers used to misread or crash on (ValueError, TypeError,
AttributeError, IndexError, NetmaskValueError, RecursionError). The property-based version
is test_fuzz.py.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils._route import common as _route, linux as _route_linux, windows as _route_windows
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures as fx


def _ip_json(**fields):
    return json.dumps([dict({"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "metric": 100}, **fields)])


IP_JSON = [
    (_ip_json(metric="abc"), "'ip -j route' entry 0: metric 'abc' is not a whole number from 0 to 4294967295"),
    (_ip_json(metric=1.5), "metric 1.5 is not a whole number"),
    (_ip_json(metric=-1), "metric -1 is not a whole number"),
    (_ip_json(metric=True), "metric True is not a whole number"),
    (_ip_json(metric=2 ** 32), "metric 4294967296 is not a whole number"),
    (_ip_json(dst=5), "destination 5 is not an IPv4 prefix"),
    (_ip_json(dst="abc"), "destination 'abc' is not an IPv4 prefix"),
    (_ip_json(dst="10.0.0.0/33"), "destination '10.0.0.0/33' is not an IPv4 prefix"),
    (_ip_json(gateway="abc"), "gateway 'abc' is not an IPv4 address"),
    (_ip_json(gateway=["10.0.0.1"]), "gateway ['10.0.0.1'] is not an IPv4 address"),
    (_ip_json(dev=["eth0"]), "dev ['eth0'] is not a string"),
    (_ip_json(nexthops=[1, 2]), "nexthops [1, 2] is not a list of objects"),
    (_ip_json(nexthops="eth0"), "nexthops 'eth0' is not a list of objects"),
    ('[1, "x"]', "'ip -j route' entry 0: 1 is not an object"),
    ("[" * 100000 + "]" * 100000, "cannot parse 'ip -j route' output as JSON"),
]


@pytest.mark.parametrize("text, message", IP_JSON)
def test_garbage_ip_json(text, message):
    with pytest.raises(_route.RouteError) as caught:
        _route_linux.parse_ip_json(text)
    assert caught.value.kind == "parse" and message in caught.value.message


IP_TEXT = [
    ("default via 10.0.0.1 dev eth0 metric abc\n", "'ip route' line 1: metric 'abc' is not a whole number from 0 to 4294967295"),
    ("default via 10.0.0.1 dev eth0 metric \u00b2\n", "metric '\u00b2' is not a whole number"),
    ("default dev eth0 metric 99999999999\n", "metric '99999999999' is not a whole number"),
    ("10.0.0.0/24 dev eth0\nabc dev eth0\n", "'ip route' line 2: destination 'abc' is not an IPv4 prefix"),
    ("unicast\n", "destination '' is not an IPv4 prefix"),
    ("default via abc dev eth0\n", "gateway 'abc' is not an IPv4 address"),
    ("10.0.0.0/33 dev eth0\n", "destination '10.0.0.0/33' is not an IPv4 prefix"),
    ("default metric 5\n\tnexthop via 999.1.1.1 dev eth0\n", "'ip route' line 2: gateway '999.1.1.1' is not an IPv4 address"),
]


@pytest.mark.parametrize("text, message", IP_TEXT)
def test_garbage_ip_text(text, message):
    with pytest.raises(_route.RouteError) as caught:
        _route_linux.parse_ip_text(text)
    assert caught.value.kind == "parse" and message in caught.value.message


def _route_print(row):
    return fx.ROUTE_PRINT_EN.replace("          0.0.0.0          0.0.0.0         10.0.1.1        10.0.1.10     10", row)


ROUTE_PRINT = [
    (_route_print("          0.0.0.0      255.0.255.0         10.0.1.1        10.0.1.10     10"),
     "0.0.0.0/255.0.255.0 is not an IPv4 destination and netmask"),
    (_route_print("        999.0.0.0        255.0.0.0         10.0.1.1        10.0.1.10     10"),
     "999.0.0.0/255.0.0.0 is not an IPv4 destination and netmask"),
    (_route_print("          0.0.0.0          0.0.0.0         10.0.1.1        10.0.1.999    10"), "'10.0.1.999' is not an IPv4 address"),
    (_route_print("          0.0.0.0          0.0.0.0        300.0.1.1        10.0.1.10     10"), "'300.0.1.1' is not an IPv4 address"),
    (fx.ROUTE_PRINT_EN_FIXED.replace("  169.254.169.254  255.255.255.255        10.0.1.10       1",
                                     "  169.254.169.254  255.255.256.255        10.0.1.10       1"),
     "169.254.169.254/255.255.256.255 is not an IPv4 destination and netmask"),
]


@pytest.mark.parametrize("text, message", ROUTE_PRINT)
def test_garbage_route_print(text, message):
    with pytest.raises(_route.RouteError) as caught:
        _route_windows.windows_routes(fx.route_print_data(text))
    assert caught.value.kind == "parse" and "'route print -4' row" in caught.value.message and message in caught.value.message


def _netroute(**changes):
    data = fx.netroute_data()
    data.update(changes)
    return data


NETROUTE = [
    (_netroute(interfaces=["x"]), "Get-NetRoute read, interfaces entry 0: 'x' is not an object"),
    (_netroute(interfaces=[{"InterfaceIndex": "abc"}]), "interfaces entry 0: InterfaceIndex 'abc' is not a whole number"),
    (_netroute(interfaces=[{"InterfaceAlias": "Ethernet"}]), "interfaces entry 0: no InterfaceIndex"),
    (_netroute(interfaces=[{"InterfaceIndex": 6, "InterfaceAlias": ["Ethernet"]}]), "InterfaceAlias ['Ethernet'] is not a string"),
    (_netroute(interfaces=[{"InterfaceIndex": 6, "InterfaceMetric": -3}]), "InterfaceMetric -3 is not a whole number"),
    (_netroute(addresses=[{"InterfaceIndex": 6, "IPAddress": 5}]), "addresses entry 0: IPAddress 5 is not a string"),
    (_netroute(active=[{"DestinationPrefix": 5, "InterfaceIndex": 6}]), "active entry 0: destination 5 is not an IPv4 prefix"),
    (_netroute(active=[{"DestinationPrefix": "0.0.0.0/0", "InterfaceIndex": 6, "NextHop": "nope"}]), "gateway 'nope' is not an IPv4"),
    (_netroute(active=[{"DestinationPrefix": "0.0.0.0/0", "InterfaceIndex": 6, "RouteMetric": "x"}]), "RouteMetric 'x' is not a whole"),
    (_netroute(persistent={"DestinationPrefix": "0.0.0.0/0"}), "persistent entry 0: no InterfaceIndex"),
    ({"netroute": False, "route_print": 5}, "Windows route read: route_print 5 is not a string"),
]


@pytest.mark.parametrize("data, message", NETROUTE)
def test_garbage_netroute_read(data, message):
    with pytest.raises(_route.RouteError) as caught:
        _route_windows.windows_routes(data)
    assert caught.value.kind == "parse" and message in caught.value.message


def test_change_result_that_is_not_an_object():
    assert _route_windows.change_outcome([1]) == (False, False, "the route module reported no outcome of the change")
    assert _route_windows.change_outcome({"change": {"ok": False, "error": ["x"]}}) == (False, False, "['x']")
