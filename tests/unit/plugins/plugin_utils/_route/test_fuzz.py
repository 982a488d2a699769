# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the route parsers and of the decisions taken on what they read.

Whatever a target prints, the result is either routes of the documented shape, on which
choosing the interface and planning the change end in a plan or in RouteError with a
documented kind, or RouteError("parse"). Never another exception. Examples per property:
the "ci" profile of tests/unit/conftest.py (make test), more with ``make fuzz``.
"""

from __future__ import annotations

import ipaddress

from hypothesis import event, given, strategies as st

from ansible_collections.imds.azure.plugins.plugin_utils._route import common as _route, linux as _route_linux, windows as _route_windows
from ansible_collections.imds.azure.tests.unit.fakes import route_strategies as rs

# The documented error keywords of imds.azure.metadata_route that decisions (not commands) can end in:
# route.exe takes no metric 0 ("config") and cannot spare a persistent route it must delete ("route_exe").
# On Linux the way to IMDS may be blocked ("blocked").
DECISION_KINDS = ("no_default_route", "interface", "config", "route_exe", "blocked")
OPTION_INTERFACE = st.one_of(st.none(), st.sampled_from(["eth0", "Ethernet", "6", "10.0.1.10", "clu0"]), rs.WORD)
METRIC = st.integers(0, 9999)


def _parsed(parse, *args):
    """The parser's routes, or None after RouteError("parse")."""
    try:
        parsed = parse(*args)
    except _route.RouteError as exc:
        assert exc.kind == "parse" and exc.message, exc
        event("parse error")
        return None
    event("parsed")
    return parsed


def _check_route(route):
    ipaddress.IPv4Network(route["destination"], strict=False)
    assert route["destination"] == _route.DEFAULT_PREFIX or "/" in route["destination"]
    assert route["gateway"] == "" or ipaddress.IPv4Address(route["gateway"])
    assert isinstance(route["interface"], str) and isinstance(route["interface_address"], str)
    for key in ("interface_index", "metric", "effective_metric"):
        assert route[key] is None or (isinstance(route[key], int) and not isinstance(route[key], bool) and route[key] >= 0), route
    assert route["store"] in ("active", "persistent")
    _route.format_route(route)


def _decide_linux(every_table, interface, metric, state, rules=None, remove_blocks=False):
    routes = _route_linux.main_routes(every_table)
    for route in routes:
        _check_route(route)
        assert isinstance(route["metric"], int)
    for route in every_table:
        assert isinstance(route.describe(), str) and all(isinstance(arg, str) for arg in route.delete_argv())
    try:
        if state == "present":
            choice = _route_linux.choose_linux(routes, interface)
        else:
            choice = _route.Choice(interface, "", "set by the interface option") if interface else None
        rules = _route_linux.parse_ip_rule_json(rs.fx.IP_RULE_JSON_DEFAULT) if rules is None else rules
        plan = _route_linux.linux_plan(routes, choice, metric, state, (every_table, rules), remove_blocks)
    except _route.RouteError as exc:
        assert exc.kind in DECISION_KINDS, exc
        event("error %s" % exc.kind)
        return
    event("plan, changed=%s" % plan.changed)
    assert plan.changed == bool(plan.argv) and all(isinstance(arg, str) for arg in plan.argv or [])
    _route.format_routes(plan.after)


def _decide_windows(state, interface, metric, persistent, mode):
    for route in state.routes:
        _check_route(route)
    for entry in state.interfaces:
        assert isinstance(entry["index"], int) and isinstance(entry["alias"], str)
        assert all(isinstance(address["ip"], str) for address in entry["addresses"])
    try:
        choice = _route_windows.choose_windows(state, interface) if mode == "present" or interface else None
        plan = _route_windows.windows_plan(state, choice, metric, persistent, mode)
    except _route.RouteError as exc:
        assert exc.kind in DECISION_KINDS, exc
        event("error %s" % exc.kind)
        return
    event("plan, changed=%s" % plan.changed)
    assert plan.changed == bool(plan.changes)
    _route.format_routes(plan.after)


@given(rs.IP_JSON, OPTION_INTERFACE, METRIC, st.sampled_from(["present", "absent"]))
def test_ip_json(text, interface, metric, state):
    routes = _parsed(_route_linux.parse_ip_json, text)
    if routes is not None:
        _decide_linux(routes, interface, metric, state)


@given(rs.IP_TEXT, OPTION_INTERFACE, METRIC, st.sampled_from(["present", "absent"]))
def test_ip_text(text, interface, metric, state):
    routes = _parsed(_route_linux.parse_ip_text, text)
    if routes is not None:
        _decide_linux(routes, interface, metric, state)


@given(rs.IP_JSON_OR_CAPTURED, st.one_of(rs.IP_RULE_JSON, rs.IP_RULE_TEXT), OPTION_INTERFACE, METRIC, st.booleans())
def test_ip_rules_and_every_table(routes_text, rules_text, interface, metric, remove_blocks):
    """Rules as 'ip -j rule' or 'ip rule' print them, with routes of every type and table: a plan, or a documented error."""
    rules = _parsed(_route_linux.parse_ip_rule_json if rules_text.lstrip().startswith("[") else _route_linux.parse_ip_rule_text,
                    rules_text)
    every_table = _parsed(_route_linux.parse_ip_json, routes_text)
    if rules is not None and every_table is not None:
        for rule in rules:
            assert rule.matches(_route_linux.ipaddress.IPv4Address("198.51.100.10")) in (True, False, None)
            assert all(isinstance(word, str) for word in rule.delete_argv())
        _decide_linux(every_table, interface, metric, "present", rules, remove_blocks)


@given(st.text(max_size=120))
def test_ip_route_get(text):
    device, gateway = _route_linux.parse_ip_route_get(text)
    assert (device, gateway) == (None, None) or (isinstance(device, str) and isinstance(gateway, str))


@given(rs.WINDOWS_READ_OUTPUT, OPTION_INTERFACE, METRIC, st.booleans(), st.sampled_from(["present", "absent"]))
def test_windows_read(answer, interface, metric, persistent, mode):
    state = _parsed(_route_windows.windows_routes, answer)
    if state is not None:
        assert state.reader in ("netroute", "route-print")
        _decide_windows(state, interface, metric, persistent, mode)


@given(rs.ROUTE_PRINT, OPTION_INTERFACE, METRIC, st.booleans())
def test_route_print(text, interface, metric, persistent):
    state = _parsed(_route_windows.parse_route_print, text)
    if state is not None:
        _decide_windows(state, interface, metric, persistent, "present")


@given(st.one_of(rs.ANY_JSON, st.fixed_dictionaries({"change": rs.ANY_JSON})))
def test_windows_change_result(answer):
    ok, denied, error = _route_windows.change_outcome(answer)
    assert isinstance(ok, bool) and isinstance(denied, bool) and isinstance(error, str)
