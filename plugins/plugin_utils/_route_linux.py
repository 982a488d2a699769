# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMDS host route on Linux: parse what ``ip`` prints, choose the interface, plan the change.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

Pure functions only (no I/O); route dictionaries, choices and plans are those of ``_route``.
"""

from __future__ import annotations

import json
import shlex

from ansible_collections.imds.azure.plugins.plugin_utils._route import (
    DEFAULT_PREFIX,
    IMDS_PREFIX,
    checked_gateway,
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


def parse_ip_json(text):
    """Routes from ``ip -j -4 route show table main``; multipath routes give one entry per hop."""
    try:
        data = json.loads(text or "[]")
    except (ValueError, RecursionError) as exc:
        raise RouteError("parse", "cannot parse 'ip -j route' output as JSON: %s" % shown(str(exc), 200)) from exc
    if not isinstance(data, list):
        raise RouteError("parse", "unexpected 'ip -j route' output: not a list")
    routes = []
    for number, item in enumerate(data):
        where = "'ip -j route' entry %d" % number
        if not isinstance(item, dict):
            raise parse_error(where, "%s is not an object" % shown(item))
        if item.get("type", "unicast") != "unicast":
            continue
        dst = checked_prefix(item.get("dst"), where)
        metric = checked_number(item.get("metric"), where, "metric")
        hops = item.get("nexthops") or [item]
        if not isinstance(hops, list) or not all(isinstance(hop, dict) for hop in hops):
            raise parse_error(where, "nexthops %s is not a list of objects" % shown(hops))
        for hop in hops:
            routes.append(new_route(dst, gateway=checked_gateway(hop.get("gateway"), where),
                                    interface=checked_text(hop.get("dev"), where, "dev"), metric=metric))
    return routes


_SKIP_TYPES = ("unreachable", "blackhole", "prohibit", "throw", "broadcast", "local", "anycast", "multicast", "nat")


def parse_ip_text(text):
    """Routes from ``ip -4 route show table main`` (fallback when ``-j`` is not supported)."""
    routes = []
    pending = None
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        where = "'ip route' line %d" % number
        words = line.split()
        if words[0] == "nexthop" and pending is not None:
            fields = _text_fields(words[1:])
            routes.append(new_route(pending[0], gateway=checked_gateway(fields.get("via"), where), interface=fields.get("dev", ""),
                                    metric=pending[1]))
            continue
        if words[0] in _SKIP_TYPES:
            pending = None
            continue
        if words[0] == "unicast":
            words = words[1:] or [""]
        dst = checked_prefix(words[0], where)
        fields = _text_fields(words[1:])
        metric = checked_number(fields.get("metric"), where, "metric")
        if "dev" in fields:
            routes.append(new_route(dst, gateway=checked_gateway(fields.get("via"), where), interface=fields["dev"], metric=metric))
            pending = None
        else:
            pending = (dst, metric)  # multipath: "nexthop via ... dev ..." lines follow
    return routes


def _text_fields(words):
    fields = {}
    index = 0
    while index < len(words):
        if index + 1 < len(words):
            fields.setdefault(words[index], words[index + 1])
            index += 2
        else:
            index += 1
    if "via" in fields and fields["via"] == "inet":  # "via inet 1.2.3.4"
        position = words.index("via")
        fields["via"] = words[position + 2] if position + 2 < len(words) else ""
    return fields


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


def linux_plan(routes, choice, metric, state="present"):
    """Plan for Linux; ``choice`` may be None when state is absent.

    present: the desired route must exist. The kernel keys IPv4 routes by destination and
    metric, so ``ip route replace`` overwrites a route with the same metric whatever its
    device or gateway. Routes through other interfaces are deleted. Routes through the
    chosen interface with another metric (for example the one Azure's DHCP installs) lead
    to the same NIC and are left alone.
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
        after = [desired] + kept
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
