# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMDS host route (169.254.169.254/32): what Linux and Windows share.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

Pure functions only (no I/O). ``linux`` and ``windows`` of this package parse what each OS
prints and plan the change; the ``imds.azure.metadata_route`` action runs their commands over
the connection (``_commands``, Windows: the win_metadata_route module) and follows the plan. This module holds the route shape, the
checks of values read from a target, the choice and plan objects and their wording.

Route dictionaries use one shape for both OS families::

    {"destination": "169.254.169.254/32", "gateway": "198.51.100.1" or "" (on-link),
     "interface": "eth0" (Linux name / Windows alias), "interface_index": 6 or None,
     "interface_address": "10.0.1.10" or "" (Windows), "metric": 1 or None (unknown),
     "effective_metric": 11 or None, "store": "active" | "persistent"}
"""

from __future__ import annotations

import ipaddress

from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure

IMDS_ADDRESS = "169.254.169.254"
IMDS_PREFIX = IMDS_ADDRESS + "/32"
DEFAULT_PREFIX = "0.0.0.0/0"
LINK_LOCAL_PREFIX = "169.254.0.0/16"


class RouteError(ActionFailure):
    """A condition the module reports as a failure. ``kind`` is a stable keyword (the result's imds_error)."""

    def __init__(self, kind, message):
        super(RouteError, self).__init__(message, kind)


def new_route(destination, gateway="", interface="", interface_index=None, interface_address="",
              metric=None, effective_metric=None, store="active"):
    return {
        "destination": destination,
        "gateway": gateway or "",
        "interface": interface or "",
        "interface_index": interface_index,
        "interface_address": interface_address or "",
        "metric": metric,
        "effective_metric": effective_metric,
        "store": store,
    }


def is_ipv4(text):
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _normalise_prefix(dst):
    if dst in ("default", "0.0.0.0", DEFAULT_PREFIX):
        return DEFAULT_PREFIX
    if "/" not in dst and is_ipv4(dst):
        return dst + "/32"
    return dst


# Garbage in a route table ends in RouteError("parse"), never in a decision made on a misread table.

def shown(value, limit=60):
    """A bounded repr of a value from the target, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def parse_error(where, message):
    return RouteError("parse", "%s: %s" % (where, message))


def checked_network(dst, where):
    """``dst`` ("default", an address or a prefix) as a normalised IPv4 prefix and its network."""
    if isinstance(dst, str):
        prefix = _normalise_prefix(dst)
        try:
            return prefix, ipaddress.IPv4Network(prefix, strict=False)
        except ValueError:
            pass
    raise parse_error(where, "destination %s is not an IPv4 prefix" % shown(dst))


def checked_prefix(dst, where):
    """``dst`` ("default", an address or a prefix) as a normalised IPv4 prefix."""
    return checked_network(dst, where)[0]


def checked_gateway(gateway, where):
    """"" (on-link) or an IPv4 address."""
    if gateway in (None, "") or (isinstance(gateway, str) and is_ipv4(gateway)):
        return gateway or ""
    raise parse_error(where, "gateway %s is not an IPv4 address" % shown(gateway))


def checked_number(value, where, what):
    """A metric or index: an integer from 0 to 2^32 - 1 (None counts as 0)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 32:
        return value
    raise parse_error(where, "%s %s is not a whole number from 0 to 4294967295" % (what, shown(value)))


def checked_text(value, where, what):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise parse_error(where, "%s %s is not a string" % (what, shown(value)))


def format_route(route):
    """One human-readable line for a route (diffs, messages)."""
    parts = [route["destination"]]
    parts.append("via %s" % route["gateway"] if route["gateway"] else "on-link")
    if route["interface"]:
        parts.append("dev %s" % route["interface"])
    if route["interface_index"] is not None:
        parts.append("ifindex %s" % route["interface_index"])
    if route["interface_address"]:
        parts.append("ifaddr %s" % route["interface_address"])
    if route["metric"] is not None:
        parts.append("metric %s" % route["metric"])
    if route["effective_metric"] is not None:
        parts.append("effective-metric %s" % route["effective_metric"])
    return "%s: %s" % (route["store"], " ".join(parts))


def format_routes(routes):
    return "".join(format_route(route) + "\n" for route in routes)


class Choice:
    """The interface the IMDS route must use, and why."""

    def __init__(self, interface, gateway, reason, interface_index=None, interface_address="", warnings=()):
        self.interface = interface
        self.gateway = gateway
        self.reason = reason
        self.interface_index = interface_index
        self.interface_address = interface_address
        self.warnings = list(warnings)


class Plan:
    """What has to change. ``commands``: display strings of the change; ``after``: predicted routes."""

    def __init__(self, changed, actions, commands, after, changes=None, argv=None):
        self.changed = changed
        self.actions = actions
        self.commands = commands
        self.after = after
        self.changes = changes  # Windows: the win_metadata_route module's changes
        self.argv = argv  # Linux: the change command (argv list)


def pick_lowest(candidates, key, describe, tie_rule):
    """Lowest-metric candidate; (winner, reason, warnings). candidates keep the OS's order."""
    if not candidates:
        raise RouteError("no_default_route", "no IPv4 default route (0.0.0.0/0) found: cannot tell which interface leads to IMDS; "
                                             "set the interface option")
    best = min(key(candidate) for candidate in candidates)
    tied = [candidate for candidate in candidates if key(candidate) == best]
    winner = tied[0]
    if len(tied) == 1:
        return winner, "interface of the default route with the lowest metric (%s)" % best, []
    names = ", ".join(describe(candidate) for candidate in tied)
    reason = ("%d default routes share the lowest metric %s (%s); picked %s (%s); set the interface option to choose"
              % (len(tied), best, names, describe(winner), tie_rule))
    return winner, reason, [reason]


def imds_routes(routes):
    """The 169.254.169.254/32 routes among ``routes``."""
    return [route for route in routes if route["destination"] == IMDS_PREFIX]
