# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypothesis strategies for route tables as targets print them, valid and broken.

Each table is built from the pieces real output has (iproute2's ``ip -j``/``ip`` route output,
``route print -4`` blocks, the read script's Get-NetRoute JSON; see route_fixtures.py for
recorded examples), with every piece sometimes replaced by something else: another JSON
type, an out-of-range number, a near-address such as ``999.1.1.1``, arbitrary text.
"""

from __future__ import annotations

import ipaddress
import json

from hypothesis import strategies as st

from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures as fx
from ansible_collections.imds.azure.tests.unit.fakes.route_captures import CAPTURES

IPV4 = st.one_of(st.sampled_from(["0.0.0.0", "169.254.169.254", "169.254.0.0", "10.0.0.1", "10.0.1.10", "198.51.100.1", "127.0.0.1"]),
                 st.ip_addresses(v=4).map(str))
NEAR_IPV4 = st.tuples(*[st.integers(0, 999)] * 4).map(lambda parts: ".".join(str(part) for part in parts))
WORD = st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
ADDRESS = st.one_of(IPV4, IPV4, IPV4, IPV4, NEAR_IPV4, st.sampled_from(["", "default", "abc", "fe80::1", "10.0.0.0/24", "1.2.3"]), WORD)
VALID_PREFIX = st.one_of(st.sampled_from(["default", "169.254.169.254", "169.254.169.254/32", "0.0.0.0/0", "169.254.0.0/16"]),
                         st.builds("{}/{}".format, IPV4, st.integers(0, 32)))
PREFIX = st.one_of(VALID_PREFIX, VALID_PREFIX, VALID_PREFIX, ADDRESS, st.builds("{}/{}".format, NEAR_IPV4, st.integers(-1, 40)))
VALID_NETMASK = st.integers(0, 32).map(lambda bits: str(ipaddress.IPv4Network("0.0.0.0/%d" % bits).netmask))
NETMASK = st.one_of(VALID_NETMASK, VALID_NETMASK, NEAR_IPV4, IPV4)
DEVICE = st.one_of(st.sampled_from(["eth0", "eth1", "clu0", "Ethernet", "Ethernet 2"]), WORD)
METRIC = st.one_of(st.sampled_from([0, 1, 5, 100, 9999, 2 ** 32 - 1]), st.integers(0, 2 ** 32 - 1))
NUMBER = st.one_of(METRIC, METRIC, METRIC, st.integers(-5, 2 ** 33), st.floats(), st.booleans(), st.none(),
                   st.sampled_from(["0", "100", "abc", "\u00b2", "\u0663", "1e3", "-1", "99999999999"]))
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), WORD)
ANY_JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(WORD, inner, max_size=2)),
                        max_leaves=3)


def sometimes_anything(strategy):
    """Mostly ``strategy``, sometimes any JSON value."""
    return st.one_of(strategy, strategy, strategy, strategy, strategy, ANY_JSON)


# ------------------------------------------------------------------ Linux: ip -j -4 route show table all

_VALID_HOP = st.fixed_dictionaries({"gateway": st.one_of(st.just(""), IPV4), "dev": DEVICE}, optional={"weight": st.integers(1, 9)})
_HOP = st.fixed_dictionaries({}, optional={"gateway": sometimes_anything(ADDRESS), "dev": sometimes_anything(DEVICE),
                                           "weight": ANY_JSON, "flags": ANY_JSON})
# What a working iproute2 prints ...
_TYPE = st.sampled_from(["unicast", "blackhole", "unreachable", "prohibit", "throw", "local", "broadcast"])
_TABLE = st.sampled_from(["main", "local", "default", "100", "51820"])
_VALID_ENTRY = st.fixed_dictionaries({"dst": VALID_PREFIX, "dev": DEVICE}, optional={
    "gateway": IPV4, "metric": METRIC, "type": _TYPE, "table": _TABLE, "protocol": st.sampled_from(["dhcp", "kernel"]),
    "nexthops": st.lists(_VALID_HOP, min_size=1, max_size=3), "flags": st.just([]), "tos": st.just("0x10"),
})
# ... and entries where any field may be anything.
_ENTRY = st.fixed_dictionaries({}, optional={
    "dst": sometimes_anything(PREFIX), "gateway": sometimes_anything(ADDRESS), "dev": sometimes_anything(DEVICE),
    "metric": sometimes_anything(NUMBER), "type": sometimes_anything(_TYPE), "table": sometimes_anything(_TABLE),
    "nexthops": sometimes_anything(st.lists(_HOP, max_size=3)), "flags": ANY_JSON,
})
IP_JSON = st.one_of(
    st.lists(_VALID_ENTRY, max_size=6).map(json.dumps),
    st.lists(st.one_of(_VALID_ENTRY, _VALID_ENTRY, _ENTRY, ANY_JSON), max_size=6).map(json.dumps),
    ANY_JSON.map(json.dumps),
    st.text(max_size=80),
)

# Often a real table of tests/unit/fakes/route_captures.py, whose default route leads somewhere.
IP_JSON_OR_CAPTURED = st.one_of(st.sampled_from([capture["routes_json"] for capture in CAPTURES.values()]), IP_JSON)

# ------------------------------------------------------------------ Linux: ip -4 route show table all

_KEYWORD = st.sampled_from(["default", "via", "dev", "metric", "proto", "scope", "link", "src", "nexthop", "unicast", "blackhole",
                            "unreachable", "prohibit", "throw", "local", "inet", "inet6", "onlink", "linkdown", "weight", "table",
                            "main", "dhcp", "tos"])
_TOKEN = st.one_of(_KEYWORD, _KEYWORD, ADDRESS, PREFIX, DEVICE, NUMBER.map(str))
_LINE = st.tuples(st.sampled_from(["", "", "\t"]), st.lists(_TOKEN, max_size=10)).map(lambda parts: parts[0] + " ".join(parts[1]))
_VALID_LINE = st.builds("{} {}dev {}{}".format, VALID_PREFIX, st.one_of(st.just(""), IPV4.map("via {} ".format)),
                        st.sampled_from(["eth0", "eth1", "clu0"]), st.one_of(st.just(""), METRIC.map(" metric {}".format)))
_REAL_LINES = (fx.IP_TEXT_TWO_DEFAULTS + fx.IP_TEXT_MULTIPATH + "".join(capture["routes_text"] for capture in CAPTURES.values())).splitlines()
IP_TEXT = st.one_of(
    st.lists(st.one_of(_VALID_LINE, st.sampled_from(_REAL_LINES)), max_size=10).map("\n".join),
    st.lists(st.one_of(_VALID_LINE, _LINE, st.sampled_from(_REAL_LINES)), max_size=10).map("\n".join),
    st.text(max_size=120),
)

# ------------------------------------------------------------------ Linux: ip -j -4 rule show / ip -4 rule show

_SELECTOR = st.sampled_from(["not", "src", "dst", "tos", "fwmark", "iif", "oif", "l3mdev", "uidrange", "ipproto", "sport", "dport",
                             "tun_id", "dscp"])
_RULE_VALUES = {
    "not": st.none(), "src": st.one_of(st.just("all"), IPV4), "dst": IPV4, "tos": st.just("0x10"),
    "fwmark": st.sampled_from(["0", "0x1", "0x80000"]), "iif": st.sampled_from(["lo", "eth0"]), "oif": DEVICE, "l3mdev": st.none(),
    "uidrange": st.just((0, 1000)), "ipproto": st.sampled_from(["tcp", "udp", "ipproto-6"]), "sport": st.integers(0, 65535),
    "dport": st.sampled_from([80, 443]), "tun_id": st.integers(0, 9), "dscp": WORD,
}


def _valid_rule(priority, selectors, draw_action):
    rule = {"priority": priority, "src": "all"}
    rule.update(selectors)
    if "uidrange" in rule:
        rule["uid_start"], rule["uid_end"] = rule.pop("uidrange")
    rule.update(draw_action)
    return rule


_ACTION = st.one_of(st.fixed_dictionaries({"table": _TABLE}), st.just({"action": "prohibit"}), st.just({"action": "blackhole"}),
                    st.builds(lambda target: {"goto": target}, st.integers(0, 40000)), st.just({"nop": None}),
                    st.fixed_dictionaries({"table": _TABLE, "suppress_prefixlen": st.integers(0, 32)}))
_VALID_RULE = st.builds(_valid_rule, st.integers(0, 40000),
                        st.dictionaries(_SELECTOR, st.none(), max_size=3).flatmap(
                            lambda keys: st.fixed_dictionaries(dict((key, _RULE_VALUES[key]) for key in keys))),
                        _ACTION)
_RULE = st.dictionaries(st.one_of(_SELECTOR, st.sampled_from(["priority", "table", "action", "goto", "srclen", "dstlen", "fwmask",
                                                              "uid_start", "uid_end", "sport_start", "dport_end", "suppress_ifgroup"])),
                        sometimes_anything(st.one_of(NUMBER, ADDRESS, _TABLE)), max_size=5)
_REAL_RULES = [json.loads(capture["rules_json"]) for capture in CAPTURES.values()]
IP_RULE_JSON = st.one_of(
    st.sampled_from(_REAL_RULES).map(json.dumps),
    st.lists(_VALID_RULE, max_size=6).map(lambda rules: json.dumps(sorted(rules, key=lambda rule: rule["priority"]))),
    st.tuples(st.sampled_from(_REAL_RULES), st.lists(_VALID_RULE, max_size=3)).map(
        lambda parts: json.dumps(sorted(parts[0] + parts[1], key=lambda rule: rule["priority"]))),
    st.lists(st.one_of(_VALID_RULE, _RULE, ANY_JSON), max_size=5).map(json.dumps),
    st.text(max_size=80),
)
_RULE_WORD = st.sampled_from(["from", "to", "all", "not", "lookup", "table", "main", "goto", "nop", "iif", "lo", "[detached]",
                              "fwmark", "0x1/0xff", "uidrange", "1-2", "dport", "80", "sport", "1-9", "prohibit", "suppress_prefixlength"])
_REAL_RULE_LINES = "".join(capture["rules_text"] for capture in CAPTURES.values()).splitlines()
IP_RULE_TEXT = st.one_of(
    st.lists(st.sampled_from(_REAL_RULE_LINES), max_size=6).map("\n".join),
    st.lists(st.one_of(st.sampled_from(_REAL_RULE_LINES), st.builds("{}:\t{}".format, NUMBER, st.lists(
        st.one_of(_RULE_WORD, _RULE_WORD, ADDRESS, NUMBER.map(str)), max_size=8).map(" ".join))), max_size=6).map("\n".join),
    st.text(max_size=120),
)

# ------------------------------------------------------------------ Windows: route print -4 (the route.exe fallback)

_ON_LINK = st.sampled_from(["On-link", "Auf Verbindung", "\u30ea\u30f3\u30af\u4e0a"])
_METRIC_COLUMN = st.one_of(st.integers(0, 10 ** 12).map(str), st.sampled_from(["", "abc", "\u0663"]))
_ACTIVE_ROW = st.builds("  {}  {}  {}  {}  {}".format, ADDRESS, NETMASK, st.one_of(ADDRESS, _ON_LINK), ADDRESS, _METRIC_COLUMN)
_VALID_ACTIVE_ROW = st.builds("  {}  {}  {}  {}  {}".format, IPV4, VALID_NETMASK,
                              st.one_of(IPV4, _ON_LINK), IPV4, st.integers(0, 9999))
_PERSISTENT_ROW = st.builds("  {}  {}  {}  {}".format, ADDRESS, NETMASK, st.one_of(ADDRESS, _ON_LINK), _METRIC_COLUMN)
_MAC = st.lists(st.integers(0, 255).map("{:02x}".format), max_size=8).map(" ".join)
_INTERFACE_ROW = st.builds("{:>3}...{} ......{}".format, st.one_of(st.integers(0, 10 ** 11), WORD), _MAC, WORD)
_ROW = st.one_of(_VALID_ACTIVE_ROW, _ACTIVE_ROW, _PERSISTENT_ROW, _INTERFACE_ROW, WORD,
                 st.sampled_from(["None", "Active Routes:", "Persistent Routes:", "Interface List", "="]))
_SEPARATOR = "=" * 75
_REAL_ROUTE_PRINT = (fx.ROUTE_PRINT_EN_FIXED + fx.ROUTE_PRINT_DE + fx.ROUTE_PRINT_JA).splitlines()
ROUTE_PRINT = st.one_of(
    # structure: blocks between separators
    st.lists(st.lists(_ROW, max_size=6), max_size=5).map(lambda blocks: "\n".join("\n".join([_SEPARATOR] + rows) for rows in blocks)),
    # a recorded table with some lines replaced
    st.lists(st.tuples(st.integers(0, len(_REAL_ROUTE_PRINT) - 1), _ROW), max_size=4).map(
        lambda changes: "\n".join(dict(list(enumerate(_REAL_ROUTE_PRINT)) + changes).values())),
    st.text(max_size=120),
)

# ------------------------------------------------------------------ Windows: Get-NetRoute / Get-NetIPInterface / Get-NetIPAddress

_NETROUTE = st.fixed_dictionaries({}, optional={
    "DestinationPrefix": sometimes_anything(PREFIX), "NextHop": sometimes_anything(ADDRESS),
    "InterfaceIndex": sometimes_anything(st.one_of(st.sampled_from([1, 6, 9, 12]), NUMBER)),
    "InterfaceAlias": sometimes_anything(DEVICE), "RouteMetric": sometimes_anything(NUMBER),
})
_INTERFACE = st.fixed_dictionaries({}, optional={
    "InterfaceIndex": sometimes_anything(st.one_of(st.sampled_from([1, 6, 9, 12]), NUMBER)), "InterfaceAlias": sometimes_anything(DEVICE),
    "InterfaceMetric": sometimes_anything(NUMBER), "ConnectionState": sometimes_anything(st.sampled_from(["Connected", "Disconnected"])),
})
_ADDRESS = st.fixed_dictionaries({}, optional={
    "InterfaceIndex": sometimes_anything(st.one_of(st.sampled_from([1, 6, 9, 12]), NUMBER)), "IPAddress": sometimes_anything(ADDRESS),
    "PrefixLength": ANY_JSON, "SkipAsSource": ANY_JSON,
})


_VALID_NETROUTE = st.fixed_dictionaries({
    "DestinationPrefix": VALID_PREFIX, "NextHop": st.one_of(st.just("0.0.0.0"), IPV4), "InterfaceIndex": st.sampled_from([1, 6, 9, 12]),
    "InterfaceAlias": DEVICE, "RouteMetric": METRIC,
})


def _records(record, recorded):
    """A list of records (sometimes the recorded ones, a single record or anything), as ConvertTo-Json may print them."""
    return st.one_of(st.lists(record, max_size=5), st.just(recorded), st.just(recorded), record, ANY_JSON)


NETROUTE_READ = st.fixed_dictionaries({
    "admin": st.one_of(st.booleans(), ANY_JSON),
    "netroute": st.just(True),
    "active": _records(st.one_of(_VALID_NETROUTE, _VALID_NETROUTE, _NETROUTE), fx.DEFAULTS + [fx.CLUSTER_16, fx.WRONG_ACTIVE]),
    "persistent": _records(st.one_of(_VALID_NETROUTE, _NETROUTE), [fx.GOOD_ACTIVE]),
    "interfaces": _records(_INTERFACE, fx.INTERFACES),
    "addresses": _records(_ADDRESS, fx.ADDRESSES),
})
VALID_NETROUTE_READ = st.fixed_dictionaries({
    "admin": st.booleans(), "netroute": st.just(True),
    "active": st.lists(_VALID_NETROUTE, max_size=6).map(lambda routes: fx.DEFAULTS + routes), "persistent": st.lists(_VALID_NETROUTE, max_size=3),
    "interfaces": st.just(fx.INTERFACES), "addresses": st.just(fx.ADDRESSES),
})
ROUTE_PRINT_READ = st.fixed_dictionaries({"admin": st.booleans(), "netroute": st.just(False),
                                          "route_print": st.one_of(ROUTE_PRINT, ROUTE_PRINT, ANY_JSON)})
# What the win_metadata_route module returns (its JSON result), or something else entirely.
WINDOWS_READ_OUTPUT = st.one_of(VALID_NETROUTE_READ, NETROUTE_READ, ROUTE_PRINT_READ, ANY_JSON)
