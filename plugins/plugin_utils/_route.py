# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing and decisions for the IMDS host route (169.254.169.254/32).

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

Pure functions only (no I/O): the ``imds.azure.metadata_route`` action runs the commands
built here over the connection (see ``_commands``), feeds their output to the parsers and
follows the plan. Everything that decides something is unit-tested with recorded outputs.

Route dictionaries use one shape for both OS families::

    {"destination": "169.254.169.254/32", "gateway": "198.51.100.1" or "" (on-link),
     "interface": "eth0" (Linux name / Windows alias), "interface_index": 6 or None,
     "interface_address": "10.0.1.10" or "" (Windows), "metric": 1 or None (unknown),
     "effective_metric": 11 or None, "store": "active" | "persistent"}
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex

from ansible_collections.imds.azure.plugins.plugin_utils._powershell import decode_result, quote

IMDS_ADDRESS = "169.254.169.254"
IMDS_PREFIX = IMDS_ADDRESS + "/32"
DEFAULT_PREFIX = "0.0.0.0/0"
LINK_LOCAL_PREFIX = "169.254.0.0/16"


class RouteError(Exception):
    """A condition the module reports as a failure. ``kind`` is a stable keyword."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _route(destination, gateway="", interface="", interface_index=None, interface_address="",
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


def _is_ipv4(text):
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _normalise_prefix(dst):
    if dst in ("default", "0.0.0.0", DEFAULT_PREFIX):
        return DEFAULT_PREFIX
    if "/" not in dst and _is_ipv4(dst):
        return dst + "/32"
    return dst


# Garbage in a route table ends in RouteError("parse"), never in a decision made on a misread table.

def _shown(value, limit=60):
    """A bounded repr of a value from the target, for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _parse_error(where, message):
    return RouteError("parse", "%s: %s" % (where, message))


def _checked_prefix(dst, where):
    """``dst`` ("default", an address or a prefix) as a normalised IPv4 prefix."""
    if isinstance(dst, str):
        prefix = _normalise_prefix(dst)
        try:
            ipaddress.IPv4Network(prefix, strict=False)
        except ValueError:
            pass
        else:
            return prefix
    raise _parse_error(where, "destination %s is not an IPv4 prefix" % _shown(dst))


def _checked_gateway(gateway, where):
    """"" (on-link) or an IPv4 address."""
    if gateway in (None, "") or (isinstance(gateway, str) and _is_ipv4(gateway)):
        return gateway or ""
    raise _parse_error(where, "gateway %s is not an IPv4 address" % _shown(gateway))


def _checked_number(value, where, what):
    """A metric or index: an integer from 0 to 2^32 - 1 (None counts as 0)."""
    if value is None:
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2 ** 32:
        return value
    raise _parse_error(where, "%s %s is not a whole number from 0 to 4294967295" % (what, _shown(value)))


def _checked_text(value, where, what):
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise _parse_error(where, "%s %s is not a string" % (what, _shown(value)))


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

    def as_dict(self):
        return {
            "interface": self.interface,
            "interface_index": self.interface_index,
            "interface_address": self.interface_address,
            "gateway": self.gateway,
            "reason": self.reason,
        }


class Plan:
    """What has to change. ``commands``: display strings of the change; ``after``: predicted routes."""

    def __init__(self, changed, actions, commands, after, script=None, argv=None):
        self.changed = changed
        self.actions = actions
        self.commands = commands
        self.after = after
        self.script = script  # Windows: the PowerShell change script
        self.argv = argv  # Linux: the change command (argv list)


def _pick_lowest(candidates, key, describe, tie_rule):
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


# --------------------------------------------------------------------------- Linux

def parse_ip_json(text):
    """Routes from ``ip -j -4 route show table main``; multipath routes give one entry per hop."""
    try:
        data = json.loads(text or "[]")
    except (ValueError, RecursionError) as exc:
        raise RouteError("parse", "cannot parse 'ip -j route' output as JSON: %s" % _shown(str(exc), 200)) from exc
    if not isinstance(data, list):
        raise RouteError("parse", "unexpected 'ip -j route' output: not a list")
    routes = []
    for number, item in enumerate(data):
        where = "'ip -j route' entry %d" % number
        if not isinstance(item, dict):
            raise _parse_error(where, "%s is not an object" % _shown(item))
        if item.get("type", "unicast") != "unicast":
            continue
        dst = _checked_prefix(item.get("dst"), where)
        metric = _checked_number(item.get("metric"), where, "metric")
        hops = item.get("nexthops") or [item]
        if not isinstance(hops, list) or not all(isinstance(hop, dict) for hop in hops):
            raise _parse_error(where, "nexthops %s is not a list of objects" % _shown(hops))
        for hop in hops:
            routes.append(_route(dst, gateway=_checked_gateway(hop.get("gateway"), where),
                                 interface=_checked_text(hop.get("dev"), where, "dev"), metric=metric))
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
            routes.append(_route(pending[0], gateway=_checked_gateway(fields.get("via"), where), interface=fields.get("dev", ""),
                                 metric=pending[1]))
            continue
        if words[0] in _SKIP_TYPES:
            pending = None
            continue
        if words[0] == "unicast":
            words = words[1:] or [""]
        dst = _checked_prefix(words[0], where)
        fields = _text_fields(words[1:])
        metric = _checked_number(fields.get("metric"), where, "metric")
        if "dev" in fields:
            routes.append(_route(dst, gateway=_checked_gateway(fields.get("via"), where), interface=fields["dev"], metric=metric))
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
    winner, reason, warnings = _pick_lowest(defaults, key=lambda route: route["metric"],
                                            describe=lambda route: route["interface"],
                                            tie_rule="first in the kernel's table, the one the kernel uses")
    return Choice(winner["interface"], winner["gateway"], reason, warnings=warnings)


def imds_routes(routes):
    """The 169.254.169.254/32 routes among ``routes``."""
    return [route for route in routes if route["destination"] == IMDS_PREFIX]


def _linux_matches(route, choice, metric):
    return route["interface"] == choice.interface and route["gateway"] == choice.gateway and route["metric"] == metric


def linux_desired(choice, metric):
    return _route(IMDS_PREFIX, gateway=choice.gateway, interface=choice.interface, metric=metric)


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
        desired = linux_desired(choice, metric)
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


def linux_compliant(routes, choice, metric, state="present"):
    return not linux_plan(routes, choice, metric, state).changed


def classify_linux_error(stderr):
    """Keyword for a failed Linux change command (LC_ALL=C messages)."""
    text = (stderr or "").lower()
    if "operation not permitted" in text or "permission denied" in text:
        return "privilege"
    return "command"


# --------------------------------------------------------------------------- Windows

# Read-only: prints ONE line, base64 of UTF-8 JSON (so no console code page can garble it).
# Property names are quoted: tree-sitter-powershell misreads bare words in an array argument.
WINDOWS_READ_SCRIPT = r"""
$ErrorActionPreference = 'Stop'
$keep = @('0.0.0.0/0', '169.254.169.254/32', '169.254.0.0/16')
$pick = @('DestinationPrefix', 'NextHop', 'InterfaceIndex', 'InterfaceAlias', 'RouteMetric')
$principal = New-Object Security.Principal.WindowsPrincipal ([Security.Principal.WindowsIdentity]::GetCurrent())
$out = [ordered]@{
    admin = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
    netroute = $false
    active = @()
    persistent = @()
    interfaces = @()
    addresses = @()
    route_print = $null
    adapters = @()
}
if (Get-Command -Name Get-NetRoute -ErrorAction SilentlyContinue) {
    $out.netroute = $true
    $out.active = @(Get-NetRoute -AddressFamily IPv4 -PolicyStore ActiveStore -ErrorAction SilentlyContinue |
        Where-Object { $keep -contains $_.DestinationPrefix } | Select-Object -Property $pick)
    $out.persistent = @(Get-NetRoute -AddressFamily IPv4 -PolicyStore PersistentStore -ErrorAction SilentlyContinue |
        Where-Object { $keep -contains $_.DestinationPrefix } | Select-Object -Property $pick)
    $out.interfaces = @(Get-NetIPInterface -AddressFamily IPv4 -ErrorAction SilentlyContinue |
        Select-Object -Property 'InterfaceIndex', 'InterfaceAlias', 'InterfaceMetric', @{Name = 'ConnectionState'; Expression = { [string]$_.ConnectionState }})
    $out.addresses = @(Get-NetIPAddress -AddressFamily IPv4 -ErrorAction SilentlyContinue |
        Select-Object -Property 'InterfaceIndex', 'IPAddress', 'PrefixLength', @{Name = 'SkipAsSource'; Expression = { [bool]$_.SkipAsSource }})
} else {
    $out.route_print = (& route.exe print -4 | Out-String)
    $out.adapters = @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = TRUE' -ErrorAction SilentlyContinue |
        Select-Object -Property 'InterfaceIndex', @{Name = 'IPAddress'; Expression = { @($_.IPAddress) }})
}
$json = ConvertTo-Json -InputObject $out -Depth 4 -Compress
[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
""".strip()


class WindowsState:
    """Everything read from a Windows host."""

    def __init__(self, reader, admin, active, persistent, interfaces=None):
        self.reader = reader  # "netroute" | "route-print"
        self.admin = admin
        self.active = active
        self.persistent = persistent
        self.interfaces = interfaces or []  # dicts: index, alias, addresses (list), metric

    @property
    def routes(self):
        return self.active + self.persistent


def decode_windows_read(stdout):
    """Decode the read script's output (its last line) into a WindowsState."""
    try:
        data = decode_result(stdout)
    except ValueError as exc:
        raise RouteError("parse", "cannot decode the Windows route read output: %s" % _shown(str(exc), 200)) from exc
    if data is None:
        raise RouteError("parse", "the Windows route read command printed nothing")
    if not isinstance(data, dict):
        raise RouteError("parse", "unexpected Windows route read output")
    admin = bool(data.get("admin"))
    if data.get("netroute"):
        return parse_netroute(data, admin)
    state = parse_route_print(_checked_text(data.get("route_print"), "Windows route read", "route_print"), admin)
    _attach_adapters(state, data.get("adapters"))
    return state


def _attach_adapters(state, adapters):
    """Give route print's interfaces their IPv4 addresses (Win32_NetworkAdapterConfiguration), for route.exe's IF."""
    by_index = dict((entry["index"], entry) for entry in state.interfaces)
    for item in _as_list(adapters):
        if not isinstance(item, dict):
            continue
        try:
            index = int(item.get("InterfaceIndex"))
        except (TypeError, ValueError):
            continue
        if index not in by_index:
            by_index[index] = {"index": index, "alias": "", "mac": "", "metric": 0, "addresses": [], "address": ""}
            state.interfaces.append(by_index[index])
        entry = by_index[index]
        entry["addresses"] += [{"ip": ip, "skip": False} for ip in _as_list(item.get("IPAddress")) if _is_ipv4(str(ip))]
        entry["address"] = _primary_address(entry["addresses"])


def _index_of_address(state, address):
    """The interface index that owns ``address`` (None when unknown)."""
    for entry in state.interfaces:
        if any(item["ip"] == address for item in entry.get("addresses", [])):
            return entry["index"]
    return None


def _primary_address(addresses):
    """The address that identifies an interface: not APIPA (169.254/16), usable as a source."""
    def rank(address):
        ip = address["ip"]
        return (address.get("skip", False), ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(LINK_LOCAL_PREFIX))
    valid = [address for address in addresses if _is_ipv4(address["ip"])]
    if not valid:
        return ""
    return sorted(valid, key=rank)[0]["ip"]


def parse_netroute(data, admin=False):
    """WindowsState from the Get-NetRoute/Get-NetIPInterface/Get-NetIPAddress part of the read output."""
    def records(key):
        out = []
        for number, item in enumerate(_as_list(data.get(key))):
            where = "Get-NetRoute read, %s entry %d" % (key, number)
            if not isinstance(item, dict):
                raise _parse_error(where, "%s is not an object" % _shown(item))
            out.append((where, item))
        return out

    def index_of(item, where):
        if item.get("InterfaceIndex") is None:
            raise _parse_error(where, "no InterfaceIndex")
        return _checked_number(item.get("InterfaceIndex"), where, "InterfaceIndex")

    interfaces = {}
    for where, item in records("interfaces"):
        index = index_of(item, where)
        interfaces[index] = {"index": index, "alias": _checked_text(item.get("InterfaceAlias"), where, "InterfaceAlias"),
                             "metric": _checked_number(item.get("InterfaceMetric"), where, "InterfaceMetric"),
                             "state": _checked_text(item.get("ConnectionState"), where, "ConnectionState"), "addresses": []}
    for where, item in records("addresses"):
        index = index_of(item, where)
        entry = interfaces.setdefault(index, {"index": index, "alias": "", "metric": 0, "state": "", "addresses": []})
        entry["addresses"].append({"ip": _checked_text(item.get("IPAddress"), where, "IPAddress"), "skip": bool(item.get("SkipAsSource"))})
    for entry in interfaces.values():
        entry["address"] = _primary_address(entry["addresses"])

    def convert(where, item, store):
        index = index_of(item, where)
        entry = interfaces.get(index, {})
        hop = _checked_text(item.get("NextHop"), where, "NextHop")
        hop = _checked_gateway("" if hop == "0.0.0.0" else hop, where)
        own = [address["ip"] for address in entry.get("addresses", [])]
        metric = _checked_number(item.get("RouteMetric"), where, "RouteMetric")
        effective = metric + entry["metric"] if store == "active" and entry else None
        return _route(_checked_prefix(item.get("DestinationPrefix"), where), gateway=hop,
                      interface=_checked_text(item.get("InterfaceAlias"), where, "InterfaceAlias") or entry.get("alias", ""),
                      interface_index=index, interface_address=hop if hop and hop in own else entry.get("address", ""),
                      metric=metric, effective_metric=effective, store=store)

    active = [convert(where, item, "active") for where, item in records("active")]
    persistent = [convert(where, item, "persistent") for where, item in records("persistent")]
    return WindowsState("netroute", admin, active, persistent, sorted(interfaces.values(), key=lambda entry: entry["index"]))


_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_ACTIVE_ROW = re.compile(r"^\s*(%s)\s+(%s)\s+(\S.*?)\s+(%s)\s+([0-9]{1,10})\s*$" % (_IPV4, _IPV4, _IPV4))
_PERSISTENT_ROW = re.compile(r"^\s*(%s)\s+(%s)\s+(\S.*?)\s+([0-9]{1,10})\s*$" % (_IPV4, _IPV4))
_INTERFACE_ROW = re.compile(r"^\s*([0-9]{1,10})\s*\.\.\.((?:[0-9a-fA-F]{2}[ -]?)*)\s*\.*\s*(.*)$")
_IPV4_LIKE = re.compile(r"^%s$" % _IPV4)
_SEPARATOR = re.compile(r"^\s*={10,}\s*$")


def _mask_to_prefix(network, mask, line):
    try:
        prefixlen = ipaddress.IPv4Network("%s/%s" % (network, mask), strict=False).prefixlen
    except ValueError:
        raise _parse_error("'route print -4' row %s" % _shown(line.strip()), "%s/%s is not an IPv4 destination and netmask"
                           % (network, mask)) from None
    return "%s/%d" % (network, prefixlen)


def _route_print_address(text, line, on_link_word=False):
    """An address column of ``route print``; the gateway column may instead hold the localised word for on-link."""
    if _is_ipv4(text):
        return text
    if on_link_word and not _IPV4_LIKE.match(text):
        return ""
    raise _parse_error("'route print -4' row %s" % _shown(line.strip()), "%s is not an IPv4 address" % _shown(text))


def parse_route_print(text, admin=False):
    """WindowsState from ``route print -4``, by structure only (headings are localised).

    The output is blocks between ``=====`` lines. The interface list rows look like
    ``12...00 15 5d 01 02 03 ......Description``. Active route rows have five columns
    (destination, mask, gateway, interface address, metric); the gateway column is an
    address or a localised word for on-link (which may contain spaces). Persistent route
    rows have four (destination, mask, gateway, metric); when there are none the block
    holds one localised word ("None", "Keine", ...). The persistent block is the first
    block after the active block that is not an interface list; the metric shown for
    active routes is the effective one (route + interface metric).
    """
    blocks = [[]]
    for line in (text or "").splitlines():
        if _SEPARATOR.match(line):
            blocks.append([])
        else:
            blocks[-1].append(line)
    interfaces = []
    active, persistent = [], []
    active_block = None
    for number, block in enumerate(blocks):
        rows = [(_ACTIVE_ROW.match(line), line) for line in block]
        rows = [(row, line) for row, line in rows if row]
        if rows and active_block is None:
            active_block = number
            for row, line in rows:
                destination, mask, gateway, address, metric = row.groups()
                active.append(_route(_mask_to_prefix(destination, mask, line), gateway=_route_print_address(gateway, line, True),
                                     interface_address=_route_print_address(address, line), effective_metric=int(metric),
                                     store="active"))
            continue
        if active_block is not None and number > active_block and not persistent:
            for line in block:
                row = _PERSISTENT_ROW.match(line)
                if row:
                    destination, mask, gateway, metric = row.groups()
                    gateway = _route_print_address(gateway, line, True)
                    persistent.append(_route(_mask_to_prefix(destination, mask, line), gateway="" if gateway == "0.0.0.0" else gateway,
                                             metric=int(metric), store="persistent"))
            if persistent:
                break
        for line in block:
            row = _INTERFACE_ROW.match(line)
            if row and active_block is None:
                interfaces.append({"index": int(row.group(1)), "alias": row.group(3).strip(), "mac": row.group(2).strip(),
                                   "metric": 0, "addresses": [], "address": ""})
    if active_block is None:
        raise RouteError("parse", "no IPv4 route rows found in 'route print -4' output")
    for route in persistent:
        # A persistent on-link route is stored with the interface address as its gateway.
        local = {item["interface_address"] for item in active}
        if route["gateway"] in local:
            route["interface_address"] = route["gateway"]
            route["gateway"] = ""
    return WindowsState("route-print", admin, active, persistent, interfaces)


def choose_windows(state, interface=None):
    """Which interface the IMDS route must use on Windows (Microsoft's failover-cluster fix)."""
    choice = _choose_windows(state, interface)
    if choice.interface_index is None and choice.interface_address:
        choice.interface_index = _index_of_address(state, choice.interface_address)  # route print shows addresses only
    return choice


def _choose_windows(state, interface):
    if interface:
        wanted = str(interface).strip()
        for entry in state.interfaces:
            if wanted.lower() == entry["alias"].lower() or wanted == str(entry["index"]) or \
                    any(wanted == address["ip"] for address in entry["addresses"]):
                address = wanted if _is_ipv4(wanted) else entry.get("address", "")
                if not address and state.reader == "route-print":
                    break
                return Choice(entry["alias"], "", "set by the interface option", interface_index=entry["index"],
                              interface_address=address)
        if _is_ipv4(wanted) and any(route["interface_address"] == wanted for route in state.active):
            return Choice("", "", "set by the interface option", interface_address=wanted)
        if state.reader == "route-print":
            raise RouteError("interface", "interface %r not found; without the NetTCPIP cmdlets give the interface's IPv4 address" % wanted)
        raise RouteError("interface", "interface %r not found (give an interface alias, index or IPv4 address)" % wanted)
    defaults = [route for route in state.active if route["destination"] == DEFAULT_PREFIX]

    def key(route):
        return route["effective_metric"] if route["effective_metric"] is not None else route["metric"] or 0

    ordered = sorted(defaults, key=lambda route: route["interface_index"] if route["interface_index"] is not None else 0)
    winner, reason, warnings = _pick_lowest(ordered, key=key, describe=_windows_name,
                                            tie_rule="lowest interface index")
    if not winner["interface_address"]:
        raise RouteError("interface", "the default route's interface %s has no IPv4 address" % _windows_name(winner))
    return Choice(winner["interface"], "", reason, interface_index=winner["interface_index"],
                  interface_address=winner["interface_address"], warnings=warnings)


def _windows_name(route):
    if route["interface"]:
        return "%s (ifindex %s, %s)" % (route["interface"], route["interface_index"], route["interface_address"])
    return route["interface_address"]


def _windows_same_interface(route, choice, state):
    if state.reader == "netroute" and choice.interface_index is not None:
        return route["interface_index"] == choice.interface_index
    return bool(route["interface_address"]) and route["interface_address"] == choice.interface_address


def _on_link(route):
    """No next hop, or the interface's own address as next hop (how "route add ... <own address>" is stored)."""
    return not route["gateway"] or route["gateway"] == route["interface_address"]


def _windows_matches(route, choice, metric, state):
    """On-link out of the chosen interface with the wanted metric (unknown metric: not compared)."""
    return (_on_link(route) and _windows_same_interface(route, choice, state)
            and (route["metric"] is None or route["metric"] == metric))


_POLICY_STORES = {"active": "ActiveStore", "persistent": "PersistentStore"}


def windows_desired(choice, metric, store):
    return _route(IMDS_PREFIX, interface=choice.interface, interface_index=choice.interface_index,
                  interface_address=choice.interface_address, metric=metric, store=store)


def _netroute_remove(route):
    return ("Remove-NetRoute -DestinationPrefix %s -InterfaceIndex %d -NextHop %s -PolicyStore %s -Confirm:$false"
            % (quote(IMDS_PREFIX), route["interface_index"], quote(route["gateway"] or "0.0.0.0"),
               _POLICY_STORES[route["store"]]))


def _netroute_add(choice, metric, stores):
    """New-NetRoute for the active store alone, or for both stores.

    Microsoft's New-NetRoute reference (NetTCPIP, Windows Server 2016 to 2022): PersistentStore
    "cannot be used"; "by default, a route is saved in both stores. Use this parameter only
    when you need to create a route in just the ActiveStore." So a persistent route is never
    created on its own.
    """
    command = "New-NetRoute -DestinationPrefix %s -InterfaceIndex %d -NextHop '0.0.0.0' -RouteMetric %d" % (
        quote(IMDS_PREFIX), choice.interface_index, metric)
    if "persistent" not in stores:
        command += " -PolicyStore ActiveStore"
    return command + " | Out-Null"


ROUTE_EXE_METRICS = (1, 9999)  # Microsoft's route command reference: "metric ... ranging from 1 to 9999"


def _route_exe_commands(state, choice, metric, persistent, remove, add):
    """route.exe commands for a plan (no NetTCPIP module); RouteError when route.exe cannot do it.

    route.exe deletes by destination and ``delete`` acts on the persistent entries too
    (Microsoft's route reference: -p "is ignored for all other commands, which always
    affect the appropriate persistent routes"). So with ``persistent: false`` nothing may be
    deleted while a persistent entry exists. A route is bound to its interface with
    ``IF <index>`` (Microsoft's failover-cluster guidance: a persistent route without it
    is dropped when cluster addresses move).
    """
    persistent_entries = imds_routes(state.persistent)
    if remove and not persistent and persistent_entries:
        raise RouteError("route_exe", "without the NetTCPIP cmdlets this host can only be changed with route.exe, whose 'delete' "
                                      "also removes the persistent route (%s); set persistent: true or remove it yourself"
                         % "; ".join(format_route(route) for route in persistent_entries))
    commands = []
    if remove:
        commands.append("route.exe delete %s mask 255.255.255.255" % IMDS_ADDRESS)
    if add:
        if not ROUTE_EXE_METRICS[0] <= metric <= ROUTE_EXE_METRICS[1]:
            raise RouteError("argument", "metric %d cannot be set without the NetTCPIP cmdlets: route.exe accepts %d to %d"
                             % (metric, ROUTE_EXE_METRICS[0], ROUTE_EXE_METRICS[1]))
        if choice.interface_index is None:
            raise RouteError("interface", "cannot tell the interface index of %s, which route.exe needs to bind the route "
                                          "(IF <index>)" % choice.interface_address)
        commands.append("route.exe %sadd %s mask 255.255.255.255 %s metric %d IF %d"
                        % ("-p " if persistent else "", IMDS_ADDRESS, choice.interface_address, metric, choice.interface_index))
    return commands


def windows_plan(state, choice, metric, persistent=True, mode="present"):
    """Plan for Windows. ``choice`` may be None when ``mode`` is absent.

    Active and persistent stores are checked separately; with ``persistent`` false the
    persistent store is neither checked nor changed. present: each store must hold the
    on-link route out of the chosen interface with the wanted metric (an on-link route on
    that interface with another metric is replaced: same key for Windows); routes through
    other interfaces are removed; routes through the chosen interface via a gateway (the
    route Azure's DHCP installs) lead to the same NIC and are left alone.

    New-NetRoute writes the persistent store only together with the active one, so a
    missing persistent route next to a correct active one is added by replacing the
    active one.
    """
    stores = [("active", state.active)]
    if persistent:
        stores.append(("persistent", state.persistent))
    remove, add, after, actions = [], [], [], []
    for store, routes in stores:
        current = imds_routes(routes)
        if mode == "absent":
            gone = [route for route in current if choice is None or _windows_same_interface(route, choice, state)]
            remove += gone
            after += [route for route in current if route not in gone]
            continue
        good = [route for route in current if _windows_matches(route, choice, metric, state)]
        same_if = [route for route in current if _windows_same_interface(route, choice, state)]
        kept = [route for route in same_if if not _on_link(route)]
        wrong = [route for route in current if route not in good and route not in kept]
        after += kept
        if len(good) == 1 and not wrong:
            after += good
            continue
        remove += [route for route in current if route not in kept]
        if len(good) != 1:
            add.append(store)
            after.append(windows_desired(choice, metric, store))
        else:
            remove.remove(good[0])
            after += good
    if add == ["persistent"]:
        active_good = [route for route in imds_routes(state.active) if _windows_matches(route, choice, metric, state)]
        remove += active_good
        add = ["active", "persistent"]
    if not remove and not add:
        return Plan(False, [], [], after)
    if state.reader != "netroute" and mode != "absent":
        # route.exe deletes by destination and cannot add next to an existing entry:
        # delete every entry, then add the route again.
        remove = imds_routes(state.active) + (imds_routes(state.persistent) if persistent else [])
        add = ["active"] + (["persistent"] if persistent else [])
        after = [windows_desired(choice, metric, store) for store in add]
    actions += ["remove %s" % format_route(route) for route in remove]
    actions += ["add %s" % format_route(windows_desired(choice, metric, store)) for store in add]
    if state.reader == "netroute":
        if add and choice.interface_index is None:
            raise RouteError("interface", "interface index unknown for %s" % choice.interface_address)
        commands = [_netroute_remove(route) for route in remove] + ([_netroute_add(choice, metric, add)] if add else [])
        script = _NETROUTE_CHANGE.replace("@COMMANDS@", "\n    ".join(commands))
    else:
        commands = _route_exe_commands(state, choice, metric, persistent, remove, add)
        script = _ROUTE_EXE_CHANGE.replace("@COMMANDS@", "\n".join(
            "$lines += @(& %s 2>&1 | Out-String); $codes += $LASTEXITCODE" % command for command in commands))
    return Plan(True, actions, commands, after, script=script)


# The change runs as one script. Errors are reported as JSON with a language-independent
# "denied" flag (CIM status AccessDenied / HRESULT E_ACCESSDENIED / UnauthorizedAccess).
_NETROUTE_CHANGE = r"""
$ErrorActionPreference = 'Stop'
$result = [ordered]@{ ok = $true; denied = $false; error = '' }
try {
    @COMMANDS@
} catch {
    $e = $_.Exception
    $code = ''
    if ($e.PSObject.Properties['NativeErrorCode']) { $code = [string]$e.NativeErrorCode }
    $result.ok = $false
    $result.denied = ($code -eq 'AccessDenied') -or ($e.HResult -eq -2147024891) -or ($e -is [UnauthorizedAccessException])
    $result.error = $e.Message
}
$json = ConvertTo-Json -InputObject $result -Compress
[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
""".strip()

_ROUTE_EXE_CHANGE = r"""
$lines = @(); $codes = @()
@COMMANDS@
$bad = @($codes | Where-Object { $_ -ne 0 })
$result = [ordered]@{ ok = ($bad.Count -eq 0); denied = $false; error = ($lines -join "`n") }
$json = ConvertTo-Json -InputObject $result -Compress
[Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
""".strip()


def decode_windows_change(stdout):
    """(ok, denied, error) from a change script's output (its last line)."""
    try:
        data = decode_result(stdout)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return False, False, "unexpected output from the change command: %r" % (stdout or "")[:500]
    error = data.get("error") or ""
    return bool(data.get("ok")), bool(data.get("denied")), error if isinstance(error, str) else _shown(error, 500)
