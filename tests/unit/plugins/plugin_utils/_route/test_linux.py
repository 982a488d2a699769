# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linux parsing and decisions of plugin_utils._route.linux."""

from __future__ import annotations

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils._route import common as _route, linux as _route_linux
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures as fx


def _json(text):
    return _route_linux.main_routes(_route_linux.parse_ip_json(text))


def _text(text):
    return _route_linux.main_routes(_route_linux.parse_ip_text(text))


def test_parse_ip_json_normalises_default_and_host_routes():
    routes = _json(fx.IP_JSON_AZURE)
    assert routes[0]["destination"] == "0.0.0.0/0"
    assert routes[0]["gateway"] == "10.0.0.1" and routes[0]["interface"] == "eth0" and routes[0]["metric"] == 100
    imds = _route.imds_routes(routes)
    assert len(imds) == 1 and imds[0]["metric"] == 100 and imds[0]["gateway"] == "10.0.0.1"


def test_parse_ip_json_metric_absent_means_zero_and_skips_special_types():
    text = '[{"dst":"169.254.169.254","dev":"clu0","scope":"link","flags":[]},{"type":"blackhole","dst":"203.0.113.0/24","flags":[]}]'
    routes = _json(text)
    assert routes == [_route.new_route("169.254.169.254/32", interface="clu0", metric=0)]


def test_parse_ip_json_multipath_gives_one_route_per_hop():
    text = ('[{"dst":"default","protocol":"static","metric":20,"flags":[],"nexthops":['
            '{"gateway":"198.51.100.1","dev":"eth0","weight":1,"flags":[]},{"gateway":"203.0.113.1","dev":"eth1","weight":1,"flags":[]}]}]')
    routes = _json(text)
    assert [(r["interface"], r["gateway"], r["metric"]) for r in routes] == [("eth0", "198.51.100.1", 20), ("eth1", "203.0.113.1", 20)]


def test_parse_ip_json_rejects_garbage():
    with pytest.raises(_route.RouteError) as err:
        _json("Option \"-j\" is unknown")
    assert err.value.kind == "parse"


def test_parse_ip_text_matches_json_shape():
    routes = _text(fx.IP_TEXT_TWO_DEFAULTS)
    defaults = [r for r in routes if r["destination"] == "0.0.0.0/0"]
    assert [(r["interface"], r["gateway"], r["metric"]) for r in defaults] == [("eth0", "10.0.0.1", 100), ("eth1", "10.1.0.1", 100)]
    assert _route.imds_routes(routes) == [_route.new_route("169.254.169.254/32", interface="clu0", metric=5)]
    assert not any(r["destination"] == "203.0.113.0/24" for r in routes)  # unreachable skipped


def test_parse_ip_text_multipath():
    routes = _text(fx.IP_TEXT_MULTIPATH)
    assert [(r["destination"], r["interface"], r["gateway"], r["metric"]) for r in routes[:2]] == [
        ("0.0.0.0/0", "eth0", "198.51.100.1", 20), ("0.0.0.0/0", "eth1", "203.0.113.1", 20)]


def test_parse_ip_route_get():
    assert _route_linux.parse_ip_route_get("169.254.169.254 dev clu0 src 169.254.1.1 uid 0 \n    cache \n") == ("clu0", "")
    assert _route_linux.parse_ip_route_get("169.254.169.254 via 10.0.0.1 dev eth0 src 10.0.0.4 uid 0\n") == ("eth0", "10.0.0.1")
    assert _route_linux.parse_ip_route_get("") == (None, None)


def test_choose_lowest_metric_default():
    routes = _json(fx.IP_JSON_CAPTURED)
    choice = _route_linux.choose_linux(routes)
    assert (choice.interface, choice.gateway, choice.warnings) == ("eth0", "10.0.0.1", [])
    assert "lowest metric (100)" in choice.reason


def test_choose_equal_metric_picks_first_and_says_so():
    choice = _route_linux.choose_linux(_text(fx.IP_TEXT_TWO_DEFAULTS))
    assert choice.interface == "eth0"
    assert "2 default routes share the lowest metric 100 (eth0, eth1); picked eth0" in choice.reason
    assert "set the interface option" in choice.reason and choice.warnings == [choice.reason]


def test_choose_explicit_interface():
    routes = _text(fx.IP_TEXT_TWO_DEFAULTS)
    choice = _route_linux.choose_linux(routes, "eth1")
    assert (choice.interface, choice.gateway) == ("eth1", "10.1.0.1")
    onlink = _route_linux.choose_linux(routes, "clu0")
    assert (onlink.interface, onlink.gateway) == ("clu0", "")
    with pytest.raises(_route.RouteError) as err:
        _route_linux.choose_linux(routes, "eth9")
    assert err.value.kind == "interface"


def test_no_default_route_is_a_clear_error():
    routes = _text("10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.4\n")
    with pytest.raises(_route.RouteError) as err:
        _route_linux.choose_linux(routes)
    assert err.value.kind == "no_default_route" and "no IPv4 default route" in err.value.message


def _plan(text_or_routes, metric=1, state="present", interface=None):
    routes = text_or_routes if isinstance(text_or_routes, list) else _json(text_or_routes)
    choice = _route_linux.choose_linux(routes, interface) if state == "present" else (
        _route.Choice(interface, "", "x") if interface else None)
    return routes, _route_linux.linux_plan(routes, choice, metric, state)


def test_missing_route_is_added_via_default_gateway():
    dummy, plan = _plan(fx.IP_JSON_CAPTURED)
    assert plan.changed
    assert plan.argv == ["ip", "-4", "route", "replace", "169.254.169.254/32", "via", "10.0.0.1", "dev", "eth0",
                         "metric", "1", "table", "main"]
    assert plan.commands == ["ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1 table main"]
    assert plan.after == [_route.new_route("169.254.169.254/32", gateway="10.0.0.1", interface="eth0", metric=1)]


def test_dhcp_route_with_other_metric_is_kept_and_correct_route_added():
    routes, plan = _plan(fx.IP_JSON_AZURE)
    assert plan.changed and plan.commands == ["ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1 table main"]
    assert len(plan.after) == 2  # the DHCP route (metric 100, same NIC) stays
    # with metric 100 the DHCP route is already the wanted one: nothing to do
    dummy, plan100 = _plan(routes, metric=100)
    assert not plan100.changed and plan100.commands == []


def test_correct_route_is_left_alone():
    routes = _json(fx.IP_JSON_CAPTURED) + [_route.new_route("169.254.169.254/32", "10.0.0.1", "eth0", metric=1)]
    dummy, plan = _plan(routes)
    assert not plan.changed and plan.argv is None and plan.after == _route.imds_routes(routes)
    assert not _route_linux.linux_plan(routes, _route_linux.choose_linux(routes), 1).changed


def test_wrong_interface_same_metric_is_replaced_in_place():
    routes = _json(fx.IP_JSON_CAPTURED) + [_route.new_route("169.254.169.254/32", "", "clu0", metric=1)]
    dummy, plan = _plan(routes)
    assert plan.commands == ["ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1 table main"]
    assert plan.actions[0].startswith("replace active: 169.254.169.254/32 on-link dev clu0 metric 1")


def test_wrong_interface_other_metric_is_deleted_after_the_replace():
    routes = _text(fx.IP_TEXT_TWO_DEFAULTS)
    dummy, plan = _plan(routes, interface="eth0")
    assert plan.commands == [
        "ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1 table main",
        "ip -4 route del 169.254.169.254/32 dev clu0 metric 5 table main",
    ]
    assert plan.argv == ["sh", "-c", " && ".join(plan.commands)]


def test_right_interface_wrong_gateway_same_metric_is_replaced():
    routes = _json(fx.IP_JSON_CAPTURED) + [_route.new_route("169.254.169.254/32", "10.0.0.99", "eth0", metric=1)]
    dummy, plan = _plan(routes)
    assert plan.changed and plan.commands[0].startswith("ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0")


def test_on_link_interface_without_default_route():
    routes = _text(fx.IP_TEXT_TWO_DEFAULTS)
    routes = [r for r in routes if r["destination"] != "169.254.169.254/32"]
    dummy, plan = _plan(routes, interface="clu0")
    assert plan.commands == ["ip -4 route replace 169.254.169.254/32 dev clu0 scope link metric 1 table main"]


def test_absent_removes_all_or_only_the_given_interface():
    routes = _json(fx.IP_JSON_AZURE) + [_route.new_route("169.254.169.254/32", "", "clu0", metric=5)]
    dummy, plan = _plan(routes, state="absent")
    assert plan.commands == ["ip -4 route del 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 100 table main",
                             "ip -4 route del 169.254.169.254/32 dev clu0 metric 5 table main"]
    assert plan.after == []
    dummy, only = _plan(routes, state="absent", interface="clu0")
    assert only.commands == ["ip -4 route del 169.254.169.254/32 dev clu0 metric 5 table main"]
    dummy, nothing = _plan(fx.IP_JSON_CAPTURED, state="absent")
    assert not nothing.changed


def test_privilege_errors_are_recognised():
    assert _route_linux.classify_linux_error("RTNETLINK answers: Operation not permitted\n") == "privilege"
    assert _route_linux.classify_linux_error("Error: Nexthop has invalid gateway.\n") == "command"


def test_format_route():
    line = _route.format_route(_route.new_route("169.254.169.254/32", "10.0.0.1", "eth0", metric=1))
    assert line == "active: 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1"
