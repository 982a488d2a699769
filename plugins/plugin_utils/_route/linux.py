# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMDS host route on Linux: parse what ``ip`` prints, choose the interface, plan the change,
and follow the kernel's lookup of 169.254.169.254 through the policy rules and every table
they reach, so that a route or rule that blocks IMDS traffic is found before anything changes.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

Pure functions only (no I/O); route dictionaries, choices and plans are those of ``common``.

The lookup follows the kernel (net/core/fib_rules.c ``fib_rules_lookup`` and ``fib_rule_match``,
net/ipv4/fib_rules.c, net/ipv4/fib_trie.c ``fib_table_lookup``) for the flow an IMDS client
opens: TCP to 169.254.169.254 port 80 from this host (input interface ``lo``, no output
interface, TOS 0, no firewall mark). ``connect()`` looks the route up twice
(``ip_route_connect``): once without a source address, then from the source it picked, so
rules with ``from`` count for each IPv4 address of the chosen interface. Selectors whose value
is not known in advance (the source port, the user id, anything iproute2 prints that is not
listed here) may match: both outcomes are followed.
"""

from __future__ import annotations

import ipaddress
import json
import shlex

from ansible_collections.imds.azure.plugins.plugin_utils._route.common import (
    DEFAULT_PREFIX,
    IMDS_ADDRESS,
    IMDS_PREFIX,
    checked_gateway,
    checked_network,
    checked_number,
    checked_prefix,
    checked_text,
    Choice,
    format_route,
    imds_routes,
    new_route,
    parse_error,
    pick_lowest,
    Plan,
    RouteError,
    shown,
)

MAIN = "main"
LOCAL = "local"
IMDS_PORT = 80  # IMDS is plain HTTP
_IMDS = ipaddress.IPv4Address(IMDS_ADDRESS)
_ANY_SOURCE = ipaddress.IPv4Address("0.0.0.0")

# rtnetlink route types (RTN_*). The lookup ends with the error of these three, and moves on
# to the next rule after a "throw" route (fib_props in net/ipv4/fib_semantics.c).
BLOCK_TYPES = {
    "blackhole": "drops it (connect() fails with 'Invalid argument')",
    "unreachable": "rejects it ('No route to host')",
    "prohibit": "rejects it ('Permission denied')",
}
THROW = "throw"
_ADDRESS_TYPES = ("local", "broadcast", "multicast", "anycast")  # routes the kernel makes for the host's own addresses
ROUTE_TYPES = ("unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat",
               "xresolve")
# Words of 'ip route' text output that stand alone (no value follows).
_FLAG_WORDS = frozenset(["onlink", "pervasive", "linkdown", "dead", "offload", "trap", "notify", "rt_offload", "rt_trap",
                         "rt_offload_failed"])


class KernelRoute:
    """One entry of ``ip route show table all``: ``hops`` are (gateway, device) pairs."""

    __slots__ = ("type", "destination", "network", "table", "metric", "tos", "hops")

    def __init__(self, route_type, destination, table=MAIN, metric=0, tos=False, hops=(), network=None):
        self.type = route_type
        self.destination = destination
        self.network = network or ipaddress.IPv4Network(destination, strict=False)
        self.table = table
        self.metric = metric
        self.tos = tos  # a route with a TOS never carries IMDS traffic (TOS 0)
        self.hops = list(hops)

    @property
    def specific(self):
        """Made for 169.254.169.254 alone."""
        return self.destination == IMDS_PREFIX

    def describe(self):
        words = [] if self.type == "unicast" else [self.type]
        words.append(self.destination)
        for gateway, device in self.hops:
            words += ["nexthop"] if len(self.hops) > 1 else []
            words += (["via", gateway] if gateway else []) + (["dev", device] if device else [])
        words += ["table", self.table]
        if self.metric:
            words += ["metric", str(self.metric)]
        return " ".join(words)

    def delete_argv(self):
        argv = ["ip", "-4", "route", "del"] + ([] if self.type == "unicast" else [self.type]) + [self.destination]
        if len(self.hops) == 1:
            gateway, device = self.hops[0]
            argv += (["via", gateway] if gateway else []) + (["dev", device] if device else [])
        return argv + ["table", self.table, "metric", str(self.metric)]


def _checked_table(value, where):
    if value is None:
        return MAIN
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 32:
        return str(value)
    if isinstance(value, str) and value and value.isprintable() and not any(char.isspace() for char in value):
        return value
    raise parse_error(where, "table %s is not a table name or number" % shown(value))


def _json_list(text, what):
    try:
        data = json.loads(text or "[]")
    except (ValueError, RecursionError) as exc:
        raise RouteError("parse", "cannot parse '%s' output as JSON: %s" % (what, shown(str(exc), 200))) from exc
    if not isinstance(data, list):
        raise RouteError("parse", "unexpected '%s' output: not a list" % what)
    for number, item in enumerate(data):
        if not isinstance(item, dict):
            raise parse_error("'%s' entry %d" % (what, number), "%s is not an object" % shown(item))
    return data


def parse_ip_json(text):
    """Routes of every type and table from ``ip -j -4 route show table all``."""
    routes = []
    for number, item in enumerate(_json_list(text, "ip -j route")):
        where = "'ip -j route' entry %d" % number
        route_type = checked_text(item.get("type"), where, "type") or "unicast"
        dst, network = checked_network(item.get("dst"), where)
        metric = checked_number(item.get("metric"), where, "metric")
        hops = item.get("nexthops") or [item]
        if not isinstance(hops, list) or not all(isinstance(hop, dict) for hop in hops):
            raise parse_error(where, "nexthops %s is not a list of objects" % shown(hops))
        hops = [(checked_gateway(hop.get("gateway"), where), checked_text(hop.get("dev"), where, "dev")) for hop in hops]
        routes.append(KernelRoute(route_type, dst, _checked_table(item.get("table"), where), metric, "tos" in item,
                                  [hop for hop in hops if hop != ("", "")] if route_type != "unicast" else hops, network))
    return routes


def parse_ip_text(text):
    """Routes of every type and table from ``ip -4 route show table all`` (when ``-j`` is not supported)."""
    routes = []
    multipath = None
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        where = "'ip route' line %d" % number
        words = line.split()
        if words[0] == "nexthop" and multipath is not None:
            fields = _text_fields(words[1:])
            multipath.hops.append((checked_gateway(fields.get("via"), where), fields.get("dev", "")))
            continue
        route_type = "unicast"
        if words[0] in ROUTE_TYPES:
            route_type, words = words[0], words[1:] or [""]
        dst, network = checked_network(words[0], where)
        fields = _text_fields(words[1:])
        hops = [(checked_gateway(fields.get("via"), where), fields["dev"])] if "dev" in fields else []
        route = KernelRoute(route_type, dst, _checked_table(fields.get("table"), where),
                            checked_number(fields.get("metric"), where, "metric"), "tos" in fields, hops, network)
        routes.append(route)
        multipath = route if route_type == "unicast" and not hops else None  # "nexthop via ... dev ..." lines follow
    return routes


def _text_fields(words):
    fields = {}
    words = [word for word in words if word not in _FLAG_WORDS]
    for index in range(0, len(words) - 1, 2):
        fields.setdefault(words[index], words[index + 1])
    if fields.get("via") == "inet":  # "via inet 1.2.3.4"
        position = words.index("via")
        fields["via"] = words[position + 2] if position + 2 < len(words) else ""
    return fields


def main_routes(routes):
    """The unicast routes of the main table in the shape of ``common`` (one per next hop)."""
    return [new_route(route.destination, gateway=gateway, interface=device, metric=route.metric)
            for route in routes if route.type == "unicast" and route.table == MAIN for gateway, device in route.hops]


# ------------------------------------------------------------------ policy rules (ip rule)

_PROTOCOL_TCP = ("tcp", "6", "ipproto-6")
# Rule keys of 'ip -j rule' that set an attribute of the rule, not a selector.
_RULE_ATTRIBUTES = frozenset(["priority", "not", "src", "srclen", "dst", "dstlen", "protocol", "flow_from", "flow_to", "iif_detached",
                              "oif_detached", "fwmask", "uid_end", "sport_end", "dport_end", "dport_mask", "unresolved", "deleted"])
# ... and every key _rule_from_fields reads. Any other key is a selector the module does not know: it may match.
_RULE_KEYS = _RULE_ATTRIBUTES | frozenset(["tos", "fwmark", "iif", "oif", "l3mdev", "uid_start", "ipproto", "sport", "sport_start",
                                           "dport", "dport_start", "tun_id", "goto", "nop", "action", "nat_gateway", "masquerade",
                                           "table", "suppress_prefixlen", "suppress_ifgroup"])


class Rule:
    """One policy rule: how the IMDS flow meets it and what it does then."""

    __slots__ = ("priority", "words", "invert", "source", "definite", "uncertain", "action", "table", "goto", "suppress_prefixlen",
                 "suppress_ifgroup", "specific", "removable")

    def describe(self):
        return "rule %d (%s)" % (self.priority, " ".join(self.words))

    def delete_argv(self):
        return ["ip", "-4", "rule", "del", "pref", str(self.priority)] + self.words

    def matches(self, source):
        """True, False, or None when a selector whose value is not known in advance decides."""
        definite = self.definite and (self.source is None or source in self.source)
        if not self.uncertain:
            return definite != self.invert
        if self.invert:
            return None if definite else True
        return None if definite else False


def _rule_prefix(fields, key, length_key, where):
    value = fields.get(key)
    if value is None or value == "all":
        return None
    if not isinstance(value, str):
        raise parse_error(where, "%s %s is not an IPv4 prefix" % (key, shown(value)))
    if value == "0":
        value = "0.0.0.0"
    if length_key in fields:
        value = "%s/%s" % (value, checked_number(fields[length_key], where, length_key))
    return ipaddress.IPv4Network(checked_prefix(value, where), strict=False)


def _checked_mark(value, where, what):
    """A firewall mark or mask as iproute2 prints it ("0x10") or a number."""
    if isinstance(value, str) and 0 < len(value) <= 10 and value.isascii():
        try:
            value = int(value, 0)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 32:
        return value
    raise parse_error(where, "%s %s is not a number from 0 to 0xffffffff" % (what, shown(value)))


def _port_range(fields, key, where):
    if key in fields:
        port = checked_number(fields[key], where, key)
        return port, port
    return checked_number(fields.get(key + "_start"), where, key), checked_number(fields.get(key + "_end"), where, key)


def _rule_from_fields(fields, where):
    """A Rule from the keys 'ip -j rule' prints (the text parser builds the same keys)."""
    rule = Rule()
    rule.priority = checked_number(fields.get("priority"), where, "priority")
    rule.invert = "not" in fields
    rule.source = _rule_prefix(fields, "src", "srclen", where)
    destination = _rule_prefix(fields, "dst", "dstlen", where)
    words = ["not"] if rule.invert else []
    words += ["from", str(rule.source) if rule.source else "all"] + (["to", str(destination)] if destination else [])
    definite = destination is None or _IMDS in destination
    uncertain = []
    if "tos" in fields:  # printed only when not 0; IMDS traffic has TOS 0
        words += ["tos", checked_text(fields["tos"], where, "tos")]
        definite = False
    if "fwmark" in fields:  # IMDS traffic carries no firewall mark
        mark, mask = _checked_mark(fields["fwmark"], where, "fwmark"), _checked_mark(fields.get("fwmask", 0xffffffff), where, "fwmask")
        words += ["fwmark", "%#x/%#x" % (mark, mask)]
        definite = definite and not mark & mask
    for key in ("iif", "oif"):  # locally generated traffic comes in on lo and has no output interface yet
        if key in fields:
            words += [key, checked_text(fields[key], where, key)]
            definite = definite and key == "iif" and fields[key] == "lo" and "iif_detached" not in fields
    if "l3mdev" in fields:
        words += ["l3mdev"]
        definite = False
    if "uid_start" in fields:  # the user of the client
        words += ["uidrange", "%d-%d" % (checked_number(fields["uid_start"], where, "uid_start"),
                                         checked_number(fields.get("uid_end"), where, "uid_end"))]
        uncertain.append("uidrange")
    if "ipproto" in fields:
        words += ["ipproto", checked_text(fields["ipproto"], where, "ipproto")]
        definite = definite and fields["ipproto"] in _PROTOCOL_TCP
    for key in ("sport", "dport"):
        if key in fields or key + "_start" in fields:
            start, end = _port_range(fields, key, where)
            words += [key, str(start) if start == end else "%d-%d" % (start, end)]
            if key == "sport":  # the client's port is picked at connect()
                uncertain.append(key)
            elif "dport_mask" in fields:
                mask = _checked_mark(fields["dport_mask"], where, "dport_mask")
                definite = definite and IMDS_PORT & mask == start & mask
            else:
                definite = definite and start <= IMDS_PORT <= end
    if "tun_id" in fields:
        tunnel = checked_number(fields["tun_id"], where, "tun_id")
        words += ["tun_id", str(tunnel)]
        definite = definite and not tunnel
    unknown = sorted(key for key in fields if key not in _RULE_KEYS)
    for key in unknown:
        words += [key] if fields[key] is None else [key, str(fields[key])[:40]]
        uncertain.append(key)
    rule.table = rule.goto = None
    if "goto" in fields:
        rule.action = "goto"
        if fields["goto"] != "none" and "unresolved" not in fields:
            rule.goto = checked_number(fields["goto"], where, "goto")
        words += ["goto", str(fields["goto"]) if rule.goto is None else str(rule.goto)]
    elif "nop" in fields:
        rule.action = "nop"
        words.append("nop")
    elif "action" in fields:
        rule.action = checked_text(fields["action"], where, "action")
        words.append(rule.action)
    elif "nat_gateway" in fields or "masquerade" in fields:
        rule.action = "nat"
    elif "table" in fields:
        rule.action = "lookup"
        rule.table = _checked_table(fields["table"], where)
        words += ["lookup", rule.table]
    else:
        rule.action = "none"  # no table: the kernel moves on to the next rule
    rule.suppress_prefixlen = rule.suppress_ifgroup = None
    if "suppress_prefixlen" in fields:
        rule.suppress_prefixlen = checked_number(fields["suppress_prefixlen"], where, "suppress_prefixlen")
        words += ["suppress_prefixlength", str(rule.suppress_prefixlen)]
    if "suppress_ifgroup" in fields:
        group = fields["suppress_ifgroup"]
        rule.suppress_ifgroup = str(checked_number(group, where, "suppress_ifgroup")) if isinstance(group, int) else checked_text(
            group, where, "suppress_ifgroup")
        words += ["suppress_ifgroup", rule.suppress_ifgroup]
    rule.words = words
    rule.definite = definite
    rule.uncertain = uncertain
    rule.specific = destination is not None and str(destination) == IMDS_PREFIX and not rule.invert
    rule.removable = rule.specific and not unknown and (rule.action == "lookup" or rule.action in BLOCK_TYPES)
    return rule


def parse_ip_rule_json(text):
    """Rules from ``ip -j -4 rule show``, in the kernel's order."""
    return [_rule_from_fields(item, "'ip -j rule' entry %d" % number) for number, item in enumerate(_json_list(text, "ip -j rule"))]


# What 'ip rule' text output holds after "PREF:": word -> the 'ip -j rule' key it sets (None: a flag word).
_RULE_TEXT_WORDS = {
    "not": None, "from": "src", "to": "dst", "tos": "tos", "dsfield": "tos", "fwmark": "fwmark", "iif": "iif", "oif": "oif",
    "lookup": "table", "table": "table", "uidrange": "uidrange", "ipproto": "ipproto", "sport": "sport", "dport": "dport",
    "tun_id": "tun_id", "goto": "goto", "nop": None, "suppress_prefixlength": "suppress_prefixlen", "suppress_ifgroup": "suppress_ifgroup",
    "realms": "flow_to", "proto": "protocol", "protocol": "protocol", "map-to": "nat_gateway", "masquerade": None,
    "[detached]": None, "[unresolved]": None,
}


def parse_ip_rule_text(text):
    """Rules from ``ip -4 rule show`` (when ``-j`` is not supported)."""
    rules = []
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        where = "'ip rule' line %d" % number
        priority, colon, rest = line.partition(":")
        if not colon:
            raise parse_error(where, "%s does not start with a priority and ':'" % shown(line))
        fields = {"priority": priority}
        words = rest.split()
        index = 0
        while index < len(words):
            word = words[index]
            if word in BLOCK_TYPES:
                fields["action"] = word
                index += 1
                continue
            if word not in _RULE_TEXT_WORDS:
                raise parse_error(where, "unexpected word %s" % shown(word))
            key = _RULE_TEXT_WORDS[word]
            if key is None:
                fields[{"[detached]": ("oif_detached" if "oif" in fields else "iif_detached"),
                        "[unresolved]": "unresolved", "masquerade": "masquerade"}.get(word, word)] = None
                index += 1
                continue
            if index + 1 >= len(words):
                raise parse_error(where, "%s has no value" % shown(word))
            _rule_text_value(fields, key, words[index + 1], where)
            index += 2
        rules.append(_rule_from_fields(fields, where))
    return rules


def _rule_text_value(fields, key, value, where):
    if key in ("src", "dst") and "/" in value:
        fields[key], fields[key + "len"] = value.split("/", 1)
    elif key == "fwmark" and "/" in value:
        fields["fwmark"], fields["fwmask"] = value.split("/", 1)
    elif key == "table" and value == "[l3mdev-table]":
        fields["l3mdev"] = None
    elif key == "uidrange":
        start, dash, end = value.partition("-")
        if not dash:
            raise parse_error(where, "uidrange %s is not a range" % shown(value))
        fields["uid_start"], fields["uid_end"] = start, end
    elif key in ("sport", "dport") and "-" in value:
        fields[key + "_start"], fields[key + "_end"] = value.split("-", 1)
    else:
        fields[key] = value


# ------------------------------------------------------------------ the kernel's lookup of 169.254.169.254

class _Hit:
    """Where one lookup of 169.254.169.254 ends, when that is not through the chosen interface.

    ``rule`` and ``route``: the rule that ended it and the route it found (None: the rule itself
    ended it; both None: no rule is left). ``throws``: the (rule, throw route) pairs passed before.
    """

    __slots__ = ("source", "rule", "route", "throws")

    def __init__(self, source, rule=None, route=None, throws=()):
        self.source = source
        self.rule = rule
        self.route = route
        self.throws = throws

    def behind_throw(self, rule, route):
        return _Hit(self.source, self.rule, self.route, ((rule, route),) + self.throws)

    def blocking(self):
        """The block made for 169.254.169.254/32 alone that ends the lookup here (None when there is none)."""
        if self.route is not None:
            return self.route if self.route.specific and self.route.type in BLOCK_TYPES else None
        if self.rule is not None:
            return self.rule if self.rule.removable and self.rule.action in BLOCK_TYPES else None
        return self._specific_throw()

    def removable(self):
        """What remove_blocks may remove to clear this lookup: a route or rule made for 169.254.169.254/32 alone (None: nothing).

        A rule made for it that sends the lookup to another table goes rather than the route it finds there, which
        other rules may lead to."""
        route = self.route
        if self.rule is not None and self.rule.removable and (route is None or self.rule.table != MAIN):
            return self.rule
        if route is not None and route.specific and route.type not in _ADDRESS_TYPES and (route.type != "unicast" or route.table != MAIN):
            return route
        if self.rule is not None and self.rule.removable:
            return self.rule
        return self._specific_throw()

    def _specific_throw(self):
        for dummy, route in reversed(self.throws):
            if route.specific:
                return route
        return None

    def describe(self, interface):
        if self.route is not None:
            found = "%s finds the route '%s', which " % (self.rule.describe(), self.route.describe())
            if self.route.type in BLOCK_TYPES:
                what = found + BLOCK_TYPES[self.route.type]
            elif self.route.type == "local":
                what = found + "keeps it on this host (169.254.169.254 is an address of this host)"
            elif self.route.type == "unicast":
                devices = sorted(set(device for dummy, device in self.route.hops if device != interface))
                what = found + "sends it through %s" % (", ".join(devices) or "no interface")
            else:
                what = found + "is of type %s" % self.route.type
        elif self.rule is not None:
            effect = BLOCK_TYPES.get(self.rule.action) or "has the action %r, which the module cannot follow" % self.rule.action
            what = "%s %s" % (self.rule.describe(), effect)
        else:
            what = "no rule leads it to a route (connect() fails with 'Network is unreachable')"
        throws = ["%s finds the route '%s', which sends the lookup on to the next rule" % (rule.describe(), route.describe())
                  for rule, route in self.throws]
        if throws:
            what = "after %s, %s" % ("; then ".join(throws), what)
        if self.source != _ANY_SOURCE:
            what += " (for traffic from %s)" % self.source
        return what


def _select(routes, table):
    """The route of ``table`` the kernel picks for 169.254.169.254: longest prefix, then lowest metric, then first."""
    best = None
    for route in routes:
        if route.table != table or route.tos or _IMDS not in route.network:
            continue
        if best is None or route.network.prefixlen > best.network.prefixlen or (
                route.network.prefixlen == best.network.prefixlen and route.metric < best.metric):
            best = route
    return best


def _suppressed(rule, route):
    """fib4_rule_suppress: the rule's answer is dropped for a short prefix or an interface group (every interface is assumed
    to be in group 0, "default", unless the module is told otherwise)."""
    if rule.suppress_prefixlen is not None and route.network.prefixlen <= rule.suppress_prefixlen:
        return True
    return rule.suppress_ifgroup in ("0", "default") and bool(route.hops)


def _through(route, interface):
    return route.type == "unicast" and bool(route.hops) and all(device == interface for dummy, device in route.hops)


def _first_hit(routes, rules, source, interface):
    """The first way the lookup from ``source`` can end other than through ``interface`` (None: there is none).

    Rules are walked from the last to the first, so that each rule's outcome is known for the rules
    that continue to it or jump to it (goto only jumps forward): linear in the number of rules.
    """
    first_index = {}
    for index, rule in enumerate(rules):
        first_index.setdefault(rule.priority, index)
    later = [None] * (len(rules) + 1)
    later[len(rules)] = _Hit(source)
    for index in reversed(range(len(rules))):
        rule = rules[index]
        match = rule.matches(source)
        if match is False:
            later[index] = later[index + 1]
            continue
        if rule.action == "goto":
            target = first_index.get(rule.goto)
            applied = later[target] if target is not None and target > index else later[index + 1]
        elif rule.action in ("nop", "none"):
            applied = later[index + 1]
        elif rule.action != "lookup":
            applied = _Hit(source, rule)
        else:
            route = _select(routes, rule.table)
            if route is None or (route.type not in BLOCK_TYPES and route.type != THROW and _suppressed(rule, route)):
                applied = later[index + 1]
            elif route.type == THROW:
                applied = later[index + 1] and later[index + 1].behind_throw(rule, route)
            else:
                applied = None if _through(route, interface) else _Hit(source, rule, route)
        later[index] = applied if applied is not None or match else later[index + 1]
    return later[0]


def _sources(routes, interface):
    """The source addresses connect() looks the route up with: none yet, then one of the interface's addresses."""
    own = sorted(set(route.network.network_address for route in routes if route.type == "local" and route.table == LOCAL
                     and route.network.prefixlen == 32 and any(device == interface for dummy, device in route.hops)))
    return [_ANY_SOURCE] + own


def _problem(routes, rules, interface):
    covering = [route for route in routes if _IMDS in route.network]  # a host's table may be large; few routes cover IMDS
    for source in _sources(routes, interface):
        hit = _first_hit(covering, rules, source, interface)
        if hit is not None:
            return hit
    return None


def _after_change(routes, after, replaces, metric):
    """The table once the main table's 169.254.169.254/32 routes are ``after``; ``ip route replace``
    also replaces a route of another type with the same metric."""
    kept = [route for route in routes if not (route.table == MAIN and route.specific and (
        route.type == "unicast" or (replaces and route.metric == metric and not route.tos)))]
    return kept + [KernelRoute("unicast", IMDS_PREFIX, MAIN, route["metric"], hops=[(route["gateway"], route["interface"])])
                   for route in after]


def clear_path(routes, rules, choice, metric, after, replaces, remove_blocks):
    """What must also go so that IMDS traffic leaves through ``choice.interface`` once the main table's
    169.254.169.254/32 routes are ``after``: the routes and rules to remove, in that order.

    Fails (RouteError "blocked") when the lookup of 169.254.169.254 would still end elsewhere: in a
    blackhole, unreachable, prohibit or throw route, a rule of those types, a route through another
    interface or an address of the host. It also fails when the lookup ends today in such a block made
    for 169.254.169.254/32 alone, which the new route would override. With ``remove_blocks`` it removes
    the routes and rules made for 169.254.169.254/32 alone instead; never anything wider.
    """
    removed = []
    while True:  # each turn removes one more of the routes and rules, or ends
        left_routes = [route for route in routes if route not in removed]
        left_rules = [rule for rule in rules if rule not in removed]
        hit = _problem(_after_change(left_routes, after, replaces, metric), left_rules, choice.interface)
        if hit is not None:
            what = "IMDS traffic to 169.254.169.254 would not leave through %s: %s" % (choice.interface, hit.describe(choice.interface))
        else:
            hit = _problem(left_routes, left_rules, choice.interface)
            if hit is None or hit.blocking() is None:
                return removed
            what = "IMDS traffic to 169.254.169.254 is blocked now, and the new route would override the block: %s" % (
                hit.describe(choice.interface))
        item = hit.removable()
        if item is None:
            raise RouteError("blocked", "%s. The module removes only routes and rules made for 169.254.169.254/32 alone: "
                                        "change this yourself" % what)
        if not remove_blocks:
            raise RouteError("blocked", "%s. The module does not remove a block it did not make: remove it yourself ('%s'), "
                                        "or set remove_blocks: true" % (what, " ".join(item.delete_argv())))
        removed.append(item)


def parse_ip_route_get(text):
    """(device, gateway) from ``ip -4 route get 169.254.169.254``; (None, None) when absent."""
    words = (text or "").split()
    fields = {}
    for index, word in enumerate(words[:-1]):
        if word in ("dev", "via") and word not in fields:
            fields[word] = words[index + 1]
    if "dev" not in fields:
        return None, None
    return fields["dev"], fields.get("via", "")


def choose_linux(routes, interface=None):
    """Which interface (and gateway) the IMDS route must use on Linux."""
    defaults = [route for route in routes if route["destination"] == DEFAULT_PREFIX]
    if interface:
        own = [route for route in defaults if route["interface"] == interface]
        if own:
            best = min(own, key=lambda route: route["metric"])
            return Choice(interface, best["gateway"], "set by the interface option; gateway of its default route")
        if not any(route["interface"] == interface for route in routes):
            raise RouteError("interface", "interface %r has no IPv4 route in the main table (is it up and addressed?)" % interface)
        return Choice(interface, "", "set by the interface option; it has no default route, so the route is on-link")
    winner, reason, warnings = pick_lowest(defaults, key=lambda route: route["metric"],
                                           describe=lambda route: route["interface"],
                                           tie_rule="first in the kernel's table, the one the kernel uses")
    return Choice(winner["interface"], winner["gateway"], reason, warnings=warnings)


def _linux_matches(route, choice, metric):
    return route["interface"] == choice.interface and route["gateway"] == choice.gateway and route["metric"] == metric


def _linux_desired(choice, metric):
    return new_route(IMDS_PREFIX, gateway=choice.gateway, interface=choice.interface, metric=metric)


def _linux_del_argv(route):
    argv = ["ip", "-4", "route", "del", IMDS_PREFIX]
    if route["gateway"]:
        argv += ["via", route["gateway"]]
    argv += ["dev", route["interface"], "metric", str(route["metric"] or 0), "table", "main"]
    return argv


def linux_plan(routes, choice, metric, state="present", path=None, remove_blocks=False):
    """Plan for Linux; ``choice`` may be None when state is absent.

    present: the desired route must exist. The kernel keys IPv4 routes by destination and
    metric, so ``ip route replace`` overwrites a route with the same metric whatever its
    device or gateway. Routes through other interfaces are deleted. Routes through the
    chosen interface with another metric (for example the one Azure's DHCP installs) lead
    to the same NIC and are left alone. With ``path`` (the routes of every table and the
    rules), the lookup of 169.254.169.254 must then lead through the chosen interface
    (``clear_path``); the blocks ``remove_blocks`` lets it remove go first.
    """
    current = imds_routes(routes)
    steps = []
    actions = []
    if state == "absent":
        remove = [route for route in current if choice is None or route["interface"] == choice.interface]
        after = [route for route in current if route not in remove]
        steps = [_linux_del_argv(route) for route in remove]
        actions = ["remove %s" % format_route(route) for route in remove]
    else:
        desired = _linux_desired(choice, metric)
        same_key = [route for route in current if route["metric"] == metric]
        good = [route for route in same_key if _linux_matches(route, choice, metric)]
        others = [route for route in current if route["metric"] != metric]
        stale = [route for route in others if route["interface"] != choice.interface]
        kept = [route for route in others if route["interface"] == choice.interface]
        if not (len(same_key) == 1 and good):
            replace = ["ip", "-4", "route", "replace", IMDS_PREFIX]
            if choice.gateway:
                replace += ["via", choice.gateway]
            replace += ["dev", choice.interface]
            if not choice.gateway:
                replace += ["scope", "link"]
            replace += ["metric", str(metric), "table", "main"]
            steps.append(replace)
            actions += ["replace %s" % format_route(route) for route in same_key if route not in good]
            actions.append("add %s" % format_route(desired))
        for route in stale:
            steps.append(_linux_del_argv(route))
            actions.append("remove %s" % format_route(route))
        after = [desired] + kept if steps else current
        if path is not None:
            blocks = clear_path(path[0], path[1], choice, metric, after, bool(steps) and steps[0][3] == "replace", remove_blocks)
            steps = [block.delete_argv() for block in blocks] + steps
            actions = ["remove %s" % block.describe() for block in blocks] + actions
    if not steps:
        return Plan(False, [], [], current)
    commands = [" ".join(shlex.quote(arg) for arg in argv) for argv in steps]
    argv = steps[0] if len(steps) == 1 else ["sh", "-c", " && ".join(commands)]
    return Plan(True, actions, commands, after, argv=argv)


def classify_linux_error(stderr):
    """Keyword for a failed Linux change command (LC_ALL=C messages)."""
    text = (stderr or "").lower()
    if "operation not permitted" in text or "permission denied" in text:
        return "privilege"
    return "command"
