# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IMDS host route on Windows: what the win_metadata_route module read (NetTCPIP cmdlets or
``route print``), the interface choice, and the changes it is to make (NetTCPIP or route.exe).

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

Pure functions only (no I/O); route dictionaries, choices and plans are those of ``common``.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.imds.azure.plugins.plugin_utils._route.common import (
    DEFAULT_PREFIX,
    IMDS_ADDRESS,
    IMDS_PREFIX,
    LINK_LOCAL_PREFIX,
    as_list,
    checked_gateway,
    checked_number,
    checked_prefix,
    checked_text,
    Choice,
    format_route,
    imds_routes,
    is_ipv4,
    new_route,
    parse_error,
    pick_lowest,
    Plan,
    RouteError,
    shown,
)


class WindowsRoutes:
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


def windows_routes(data):
    """A WindowsRoutes from what the win_metadata_route module returned."""
    if not isinstance(data, dict) or "netroute" not in data:
        raise RouteError("parse", "unexpected answer from the Windows route read")
    admin = bool(data.get("admin"))
    if data.get("netroute"):
        return parse_netroute(data, admin)
    table = parse_route_print(checked_text(data.get("route_print"), "Windows route read", "route_print"), admin)
    _attach_adapters(table, data.get("adapters"))
    return table


def _attach_adapters(table, adapters):
    """Give route print's interfaces their IPv4 addresses (Win32_NetworkAdapterConfiguration), for route.exe's IF."""
    by_index = dict((entry["index"], entry) for entry in table.interfaces)
    for item in as_list(adapters):
        if not isinstance(item, dict):
            continue
        try:
            index = int(item.get("InterfaceIndex"))
        except (TypeError, ValueError):
            continue
        if index not in by_index:
            by_index[index] = {"index": index, "alias": "", "mac": "", "metric": 0, "addresses": [], "address": ""}
            table.interfaces.append(by_index[index])
        entry = by_index[index]
        entry["addresses"] += [{"ip": ip, "skip": False} for ip in as_list(item.get("IPAddress")) if is_ipv4(str(ip))]
        entry["address"] = _primary_address(entry["addresses"])


def _index_of_address(table, address):
    """The interface index that owns ``address`` (None when unknown)."""
    for entry in table.interfaces:
        if any(item["ip"] == address for item in entry.get("addresses", [])):
            return entry["index"]
    return None


def _primary_address(addresses):
    """The address that identifies an interface: not APIPA (169.254/16), usable as a source."""
    def rank(address):
        ip = address["ip"]
        return (address.get("skip", False), ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(LINK_LOCAL_PREFIX))
    valid = [address for address in addresses if is_ipv4(address["ip"])]
    if not valid:
        return ""
    return sorted(valid, key=rank)[0]["ip"]


def parse_netroute(data, admin=False):
    """WindowsRoutes from the Get-NetRoute/Get-NetIPInterface/Get-NetIPAddress part of the read output."""
    def records(key):
        out = []
        for number, item in enumerate(as_list(data.get(key))):
            where = "Get-NetRoute read, %s entry %d" % (key, number)
            if not isinstance(item, dict):
                raise parse_error(where, "%s is not an object" % shown(item))
            out.append((where, item))
        return out

    def index_of(item, where):
        if item.get("InterfaceIndex") is None:
            raise parse_error(where, "no InterfaceIndex")
        return checked_number(item.get("InterfaceIndex"), where, "InterfaceIndex")

    interfaces = {}
    for where, item in records("interfaces"):
        index = index_of(item, where)
        interfaces[index] = {"index": index, "alias": checked_text(item.get("InterfaceAlias"), where, "InterfaceAlias"),
                             "metric": checked_number(item.get("InterfaceMetric"), where, "InterfaceMetric"),
                             "state": checked_text(item.get("ConnectionState"), where, "ConnectionState"), "addresses": []}
    for where, item in records("addresses"):
        index = index_of(item, where)
        entry = interfaces.setdefault(index, {"index": index, "alias": "", "metric": 0, "state": "", "addresses": []})
        entry["addresses"].append({"ip": checked_text(item.get("IPAddress"), where, "IPAddress"), "skip": bool(item.get("SkipAsSource"))})
    for entry in interfaces.values():
        entry["address"] = _primary_address(entry["addresses"])

    def convert(where, item, store):
        index = index_of(item, where)
        entry = interfaces.get(index, {})
        hop = checked_text(item.get("NextHop"), where, "NextHop")
        hop = checked_gateway("" if hop == "0.0.0.0" else hop, where)
        own = [address["ip"] for address in entry.get("addresses", [])]
        metric = checked_number(item.get("RouteMetric"), where, "RouteMetric")
        effective = metric + entry["metric"] if store == "active" and entry else None
        return new_route(checked_prefix(item.get("DestinationPrefix"), where), gateway=hop,
                         interface=checked_text(item.get("InterfaceAlias"), where, "InterfaceAlias") or entry.get("alias", ""),
                         interface_index=index, interface_address=hop if hop and hop in own else entry.get("address", ""),
                         metric=metric, effective_metric=effective, store=store)

    active = [convert(where, item, "active") for where, item in records("active")]
    persistent = [convert(where, item, "persistent") for where, item in records("persistent")]
    return WindowsRoutes("netroute", admin, active, persistent, sorted(interfaces.values(), key=lambda entry: entry["index"]))


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
        raise parse_error("'route print -4' row %s" % shown(line.strip()), "%s/%s is not an IPv4 destination and netmask"
                          % (network, mask)) from None
    return "%s/%d" % (network, prefixlen)


def _route_print_address(text, line, on_link_word=False):
    """An address column of ``route print``; the gateway column may instead hold the localised word for on-link."""
    if is_ipv4(text):
        return text
    if on_link_word and not _IPV4_LIKE.match(text):
        return ""
    raise parse_error("'route print -4' row %s" % shown(line.strip()), "%s is not an IPv4 address" % shown(text))


def parse_route_print(text, admin=False):
    """WindowsRoutes from ``route print -4``, by structure only (headings are localised).

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
                active.append(new_route(_mask_to_prefix(destination, mask, line), gateway=_route_print_address(gateway, line, True),
                                        interface_address=_route_print_address(address, line), effective_metric=int(metric),
                                        store="active"))
            continue
        if active_block is not None and number > active_block and not persistent:
            for line in block:
                row = _PERSISTENT_ROW.match(line)
                if row:
                    destination, mask, gateway, metric = row.groups()
                    gateway = _route_print_address(gateway, line, True)
                    persistent.append(new_route(_mask_to_prefix(destination, mask, line), gateway="" if gateway == "0.0.0.0" else gateway,
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
    return WindowsRoutes("route-print", admin, active, persistent, interfaces)


def choose_windows(table, interface=None):
    """Which interface the IMDS route must use on Windows (Microsoft's failover-cluster fix)."""
    choice = _choose_windows(table, interface)
    if choice.interface_index is None and choice.interface_address:
        choice.interface_index = _index_of_address(table, choice.interface_address)  # route print shows addresses only
    return choice


def _choose_windows(table, interface):
    if interface:
        wanted = str(interface).strip()
        for entry in table.interfaces:
            if wanted.lower() == entry["alias"].lower() or wanted == str(entry["index"]) or \
                    any(wanted == address["ip"] for address in entry["addresses"]):
                address = wanted if is_ipv4(wanted) else entry.get("address", "")
                if not address and table.reader == "route-print":
                    break
                return Choice(entry["alias"], "", "set by the interface option", interface_index=entry["index"],
                              interface_address=address)
        if is_ipv4(wanted) and any(route["interface_address"] == wanted for route in table.active):
            return Choice("", "", "set by the interface option", interface_address=wanted)
        if table.reader == "route-print":
            raise RouteError("interface", "interface %r not found; without the NetTCPIP cmdlets give the interface's IPv4 address" % wanted)
        raise RouteError("interface", "interface %r not found (give an interface alias, index or IPv4 address)" % wanted)
    defaults = [route for route in table.active if route["destination"] == DEFAULT_PREFIX]

    def key(route):
        return route["effective_metric"] if route["effective_metric"] is not None else route["metric"] or 0

    ordered = sorted(defaults, key=lambda route: route["interface_index"] if route["interface_index"] is not None else 0)
    winner, reason, warnings = pick_lowest(ordered, key=key, describe=_windows_name,
                                           tie_rule="lowest interface index")
    if not winner["interface_address"]:
        raise RouteError("interface", "the default route's interface %s has no IPv4 address" % _windows_name(winner))
    return Choice(winner["interface"], "", reason, interface_index=winner["interface_index"],
                  interface_address=winner["interface_address"], warnings=warnings)


def _windows_name(route):
    if route["interface"]:
        return "%s (ifindex %s, %s)" % (route["interface"], route["interface_index"], route["interface_address"])
    return route["interface_address"]


def _windows_same_interface(route, choice, table):
    if table.reader == "netroute" and choice.interface_index is not None:
        return route["interface_index"] == choice.interface_index
    return bool(route["interface_address"]) and route["interface_address"] == choice.interface_address


def _on_link(route):
    """No next hop, or the interface's own address as next hop (how "route add ... <own address>" is stored)."""
    return not route["gateway"] or route["gateway"] == route["interface_address"]


def _windows_matches(route, choice, metric, table):
    """On-link out of the chosen interface with the wanted metric (unknown metric: not compared)."""
    return (_on_link(route) and _windows_same_interface(route, choice, table)
            and (route["metric"] is None or route["metric"] == metric))


_POLICY_STORES = {"active": "ActiveStore", "persistent": "PersistentStore"}


def windows_desired(choice, metric, store):
    return new_route(IMDS_PREFIX, interface=choice.interface, interface_index=choice.interface_index,
                     interface_address=choice.interface_address, metric=metric, store=store)


def _netroute_remove(route):
    """(display, change) of Remove-NetRoute for one route of one store."""
    change = {"action": "remove", "interface_index": route["interface_index"], "next_hop": route["gateway"] or "0.0.0.0",
              "store": _POLICY_STORES[route["store"]]}
    return ("Remove-NetRoute -DestinationPrefix '%s' -InterfaceIndex %d -NextHop '%s' -PolicyStore %s -Confirm:$false"
            % (IMDS_PREFIX, change["interface_index"], change["next_hop"], change["store"])), change


def _netroute_add(choice, metric, stores):
    """(display, change) of New-NetRoute for the active store alone, or for both stores.

    Microsoft's New-NetRoute reference (NetTCPIP, Windows Server 2016 to 2022): PersistentStore
    "cannot be used"; "by default, a route is saved in both stores. Use this parameter only
    when you need to create a route in just the ActiveStore." So a persistent route is never
    created on its own.
    """
    change = {"action": "add", "interface_index": choice.interface_index, "metric": metric, "persistent": "persistent" in stores}
    command = "New-NetRoute -DestinationPrefix '%s' -InterfaceIndex %d -NextHop '0.0.0.0' -RouteMetric %d" % (
        IMDS_PREFIX, choice.interface_index, metric)
    if not change["persistent"]:
        command += " -PolicyStore ActiveStore"
    return command + " | Out-Null", change


ROUTE_EXE_METRICS = (1, 9999)  # Microsoft's route command reference: "metric ... ranging from 1 to 9999"


def _route_exe_commands(table, choice, metric, persistent, remove, add):
    """(display, change) of the route.exe commands for a plan (no NetTCPIP module); RouteError when
    route.exe cannot do it.

    route.exe deletes by destination and ``delete`` acts on the persistent entries too
    (Microsoft's route reference: -p "is ignored for all other commands, which always
    affect the appropriate persistent routes"). So with ``persistent: false`` nothing may be
    deleted while a persistent entry exists. A route is bound to its interface with
    ``IF <index>`` (Microsoft's failover-cluster guidance: a persistent route without it
    is dropped when cluster addresses move).
    """
    persistent_entries = imds_routes(table.persistent)
    if remove and not persistent and persistent_entries:
        raise RouteError("route_exe", "without the NetTCPIP cmdlets this host can only be changed with route.exe, whose 'delete' "
                                      "also removes the persistent route (%s); set persistent: true or remove it yourself"
                         % "; ".join(format_route(route) for route in persistent_entries))
    commands = []
    if remove:
        commands.append(("route.exe delete %s mask 255.255.255.255" % IMDS_ADDRESS, {"action": "route_delete"}))
    if add:
        if not ROUTE_EXE_METRICS[0] <= metric <= ROUTE_EXE_METRICS[1]:
            raise RouteError("config", "metric %d cannot be set without the NetTCPIP cmdlets: route.exe accepts %d to %d"
                             % (metric, ROUTE_EXE_METRICS[0], ROUTE_EXE_METRICS[1]))
        if choice.interface_index is None:
            raise RouteError("interface", "cannot tell the interface index of %s, which route.exe needs to bind the route "
                                          "(IF <index>)" % choice.interface_address)
        commands.append(("route.exe %sadd %s mask 255.255.255.255 %s metric %d IF %d"
                         % ("-p " if persistent else "", IMDS_ADDRESS, choice.interface_address, metric, choice.interface_index),
                         {"action": "route_add", "interface_address": choice.interface_address, "metric": metric,
                          "interface_index": choice.interface_index, "persistent": bool(persistent)}))
    return commands


_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


def _on_loopback(route):
    return any(is_ipv4(address) and ipaddress.IPv4Address(address) in _LOOPBACK for address in (route["interface_address"], route["gateway"]))


def _refuse_blocks(table, current):
    """A Windows route table has no blackhole types; what blocks IMDS there is 169.254.169.254 being an
    address of the host (its traffic stays on the host), or a route to it through the loopback
    interface (a deliberate block). The module never removes either (RouteError "blocked")."""
    owners = ["%s (ifindex %s)" % (entry["alias"], entry["index"]) for entry in table.interfaces
              if any(address["ip"] == IMDS_ADDRESS for address in entry.get("addresses", []))]
    owners += [_windows_name(route) for route in current if route["interface_address"] == IMDS_ADDRESS]
    if owners:
        raise RouteError("blocked", "169.254.169.254 is an address of this host (%s), so IMDS traffic would stay on the host: "
                                    "remove that address (the module does not change addresses)" % owners[0])
    for route in current:
        if _on_loopback(route):
            remove = _netroute_remove(route)[0] if table.reader == "netroute" else "route.exe delete %s mask 255.255.255.255" % IMDS_ADDRESS
            raise RouteError("blocked", "the route '%s' sends IMDS traffic to the loopback interface, which blocks it. The module "
                                        "does not remove a block it did not make: remove it yourself (%s)" % (format_route(route), remove))


def windows_plan(table, choice, metric, persistent=True, state="present"):
    """Plan for Windows. ``choice`` may be None when ``state`` is absent.

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
    stores = [("active", table.active)]
    if persistent:
        stores.append(("persistent", table.persistent))
    if state == "present":
        _refuse_blocks(table, [route for dummy, routes in stores for route in imds_routes(routes)])
    remove, add, after, actions = [], [], [], []
    for store, routes in stores:
        current = imds_routes(routes)
        if state == "absent":
            gone = [route for route in current if choice is None or _windows_same_interface(route, choice, table)]
            remove += gone
            after += [route for route in current if route not in gone]
            continue
        good = [route for route in current if _windows_matches(route, choice, metric, table)]
        same_if = [route for route in current if _windows_same_interface(route, choice, table)]
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
        active_good = [route for route in imds_routes(table.active) if _windows_matches(route, choice, metric, table)]
        remove += active_good
        add = ["active", "persistent"]
    if not remove and not add:
        return Plan(False, [], [], after)
    if table.reader != "netroute" and state != "absent":
        # route.exe deletes by destination and cannot add next to an existing entry:
        # delete every entry, then add the route again.
        remove = imds_routes(table.active) + (imds_routes(table.persistent) if persistent else [])
        add = ["active"] + (["persistent"] if persistent else [])
        after = [windows_desired(choice, metric, store) for store in add]
    actions += ["remove %s" % format_route(route) for route in remove]
    actions += ["add %s" % format_route(windows_desired(choice, metric, store)) for store in add]
    if table.reader == "netroute":
        if add and choice.interface_index is None:
            raise RouteError("interface", "interface index unknown for %s" % choice.interface_address)
        steps = [_netroute_remove(route) for route in remove] + ([_netroute_add(choice, metric, add)] if add else [])
    else:
        steps = _route_exe_commands(table, choice, metric, persistent, remove, add)
    return Plan(True, actions, [display for display, change in steps], after, changes=[change for display, change in steps])


def change_outcome(data):
    """(ok, denied, error) of the changes, from what the win_metadata_route module returned."""
    change = data.get("change") if isinstance(data, dict) else None
    if not isinstance(change, dict):
        return False, False, "the route module reported no outcome of the change"
    error = change.get("error") or ""
    return bool(change.get("ok")), bool(change.get("denied")), error if isinstance(error, str) else shown(error, 500)
