# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Windows parsing and decisions of plugin_utils._route.windows (Get-NetRoute JSON and route print)."""

from __future__ import annotations


import pytest

from ansible_collections.imds.azure.plugins.plugin_utils._route import common as _route, windows as _route_windows
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures as fx


def _state(**kwargs):
    return _route_windows.windows_routes(fx.netroute_data(**kwargs))


def _rp(text, admin=True, adapters=None):
    return _route_windows.windows_routes(fx.route_print_data(text, admin, adapters))


# ------------------------------------------------------------------ reading

def test_netroute_effective_metric_and_interface_address():
    state = _state()
    assert state.reader == "netroute" and state.admin
    defaults = [r for r in state.active if r["destination"] == "0.0.0.0/0"]
    assert [(r["interface_index"], r["interface_address"], r["effective_metric"]) for r in defaults] == [
        (6, "10.0.1.10", 10), (9, "10.0.2.10", 25)]
    assert state.persistent == []


def test_netroute_single_objects_are_accepted_as_lists():
    data = fx.netroute_data()
    data["persistent"] = fx.GOOD_ACTIVE  # ConvertTo-Json of a one-element pipeline
    state = _route_windows.windows_routes(data)
    assert len(state.persistent) == 1 and state.persistent[0]["store"] == "persistent"
    assert state.persistent[0]["effective_metric"] is None


@pytest.mark.parametrize("answer", [None, "Get-NetRoute : something", {}, {"failed": True, "msg": "x"}, []])
def test_an_answer_without_the_read_is_a_parse_error(answer):
    with pytest.raises(_route.RouteError) as err:
        _route_windows.windows_routes(answer)
    assert err.value.kind == "parse"


@pytest.mark.parametrize("text", [fx.ROUTE_PRINT_EN, fx.ROUTE_PRINT_DE, fx.ROUTE_PRINT_JA])
def test_route_print_structure_in_any_language(text):
    state = _rp(text)
    assert state.reader == "route-print"
    assert [(i["index"], i["mac"]) for i in state.interfaces] == [(6, "00 0d 3a 12 34 56"), (12, "02 1a 4b 3c 2d 1e"), (1, "")]
    default = state.active[0]
    assert (default["destination"], default["gateway"], default["interface_address"], default["effective_metric"]) == (
        "0.0.0.0/0", "10.0.1.1", "10.0.1.10", 10)
    cluster = [r for r in state.active if r["destination"] == "169.254.0.0/16"][0]
    assert cluster["gateway"] == "" and cluster["interface_address"] == "169.254.1.127"  # on-link, whatever the word
    assert all(r["metric"] is None for r in state.active)


def test_route_print_persistent_sections():
    assert _rp(fx.ROUTE_PRINT_EN).persistent == []
    assert _rp(fx.ROUTE_PRINT_JA).persistent == []
    fixed = _rp(fx.ROUTE_PRINT_EN_FIXED)
    assert fixed.persistent == [_route.new_route("169.254.169.254/32", interface_address="10.0.1.10", metric=1, store="persistent")]
    german = _rp(fx.ROUTE_PRINT_DE)
    assert german.persistent[0]["interface_address"] == "169.254.1.127"
    assert [r["interface_address"] for r in _route.imds_routes(german.active)] == ["169.254.1.127"]


def test_route_print_without_routes_is_a_parse_error():
    with pytest.raises(_route.RouteError):
        _route_windows.parse_route_print("Der Befehl wurde nicht gefunden.\r\n")


# ------------------------------------------------------------------ choosing

def test_choose_default_with_lowest_effective_metric():
    choice = _route_windows.choose_windows(_state())
    assert (choice.interface, choice.interface_index, choice.interface_address, choice.gateway) == ("Ethernet", 6, "10.0.1.10", "")
    assert choice.reason == "interface of the default route with the lowest metric (10)"


def test_choose_equal_metric_picks_lowest_index_and_warns():
    defaults = [fx._netroute("0.0.0.0/0", "10.0.2.1", 9, "Ethernet 2", 0), fx._netroute("0.0.0.0/0", "10.0.1.1", 6, "Ethernet", 5)]
    data = fx.netroute_data(defaults=defaults)
    data["interfaces"] = [dict(i, InterfaceMetric=10) for i in fx.INTERFACES]
    state = _route_windows.windows_routes(data)
    # Ethernet: 5 + 10 = 15; Ethernet 2: 0 + 10 = 10 -> not a tie
    assert _route_windows.choose_windows(state).interface_index == 9
    data["active"][1]["RouteMetric"] = 0
    state = _route_windows.windows_routes(data)
    choice = _route_windows.choose_windows(state)
    assert choice.interface_index == 6
    assert "2 default routes share the lowest metric 10" in choice.reason and "picked Ethernet (ifindex 6, 10.0.1.10)" in choice.reason
    assert choice.warnings == [choice.reason]


def test_choose_explicit_interface_by_alias_index_or_address():
    state = _state()
    assert _route_windows.choose_windows(state, "ethernet 2").interface_index == 9
    assert _route_windows.choose_windows(state, "9").interface_address == "10.0.2.10"
    assert _route_windows.choose_windows(state, "10.0.2.10").interface == "Ethernet 2"
    with pytest.raises(_route.RouteError) as err:
        _route_windows.choose_windows(state, "Ethernet 7")
    assert err.value.kind == "interface"


def test_route_print_choice_and_explicit_address_only():
    state = _rp(fx.ROUTE_PRINT_DE)
    choice = _route_windows.choose_windows(state)
    assert (choice.interface_address, choice.interface_index) == ("10.0.1.10", 6)  # index from Win32_NetworkAdapterConfiguration
    assert _route_windows.choose_windows(state, "10.0.1.10").interface_address == "10.0.1.10"
    with pytest.raises(_route.RouteError) as err:
        _route_windows.choose_windows(state, "Ethernet")
    assert "IPv4 address" in err.value.message


def test_no_default_route():
    with pytest.raises(_route.RouteError) as err:
        _route_windows.choose_windows(_state(defaults=[]))
    assert err.value.kind == "no_default_route"


# ------------------------------------------------------------------ planning (NetTCPIP)

ADD_BOTH = "New-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 6 -NextHop '0.0.0.0' -RouteMetric 1 | Out-Null"
ADD_ACTIVE = ADD_BOTH.replace(" | Out-Null", " -PolicyStore ActiveStore | Out-Null")
REMOVE_GOOD_ACTIVE = ("Remove-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 6 -NextHop '0.0.0.0' -PolicyStore ActiveStore "
                      "-Confirm:$false")


def _plan(state, metric=1, persistent=True, mode="present", interface=None):
    choice = _route_windows.choose_windows(state, interface) if (mode == "present" or interface) else None
    return _route_windows.windows_plan(state, choice, metric, persistent, mode)


def test_cluster_node_without_route_gets_the_microsoft_fix():
    plan = _plan(_state())
    assert plan.changed
    # New-NetRoute refuses -PolicyStore PersistentStore; without -PolicyStore it writes both stores
    assert plan.commands == [ADD_BOTH]
    assert plan.changes == [{"action": "add", "interface_index": 6, "metric": 1, "persistent": True}]
    assert [r["store"] for r in plan.after] == ["active", "persistent"]
    assert plan.actions == ["add active: 169.254.169.254/32 on-link dev Ethernet ifindex 6 ifaddr 10.0.1.10 metric 1",
                            "add persistent: 169.254.169.254/32 on-link dev Ethernet ifindex 6 ifaddr 10.0.1.10 metric 1"]


def test_correct_route_in_both_stores_is_left_alone():
    plan = _plan(_state(active=[fx.GOOD_ACTIVE], persistent=[fx.GOOD_ACTIVE]))
    assert not plan.changed and plan.commands == [] and plan.changes is None
    assert len(plan.after) == 2


def test_active_only_route_gets_persisted_by_adding_it_to_both_stores_again():
    plan = _plan(_state(active=[fx.GOOD_ACTIVE]))
    assert plan.commands == [REMOVE_GOOD_ACTIVE, ADD_BOTH]
    assert [r["store"] for r in plan.after] == ["active", "persistent"]


def test_persistent_only_route_gets_an_active_one():
    plan = _plan(_state(persistent=[fx.GOOD_ACTIVE]))
    assert plan.commands == [ADD_ACTIVE]


def test_persistent_false_ignores_the_persistent_store():
    plan = _plan(_state(active=[fx.GOOD_ACTIVE], persistent=[fx.WRONG_ACTIVE]), persistent=False)
    assert not plan.changed
    plan = _plan(_state(), persistent=False)
    assert plan.commands == [ADD_ACTIVE]


def test_wrong_interface_is_replaced_in_both_stores():
    plan = _plan(_state(active=[fx.WRONG_ACTIVE], persistent=[fx.WRONG_ACTIVE]))
    assert plan.commands == [
        "Remove-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 12 -NextHop '0.0.0.0' -PolicyStore ActiveStore -Confirm:$false",
        "Remove-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 12 -NextHop '0.0.0.0' -PolicyStore PersistentStore -Confirm:$false",
        ADD_BOTH]


def test_wrong_metric_is_replaced():
    drift = dict(fx.GOOD_ACTIVE, RouteMetric=25)
    plan = _plan(_state(active=[drift], persistent=[fx.GOOD_ACTIVE]))
    assert plan.commands == [
        "Remove-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 6 -NextHop '0.0.0.0' -PolicyStore ActiveStore -Confirm:$false",
        ADD_ACTIVE]


def test_extra_route_on_another_interface_is_removed_and_good_one_kept():
    plan = _plan(_state(active=[fx.GOOD_ACTIVE, fx.WRONG_ACTIVE], persistent=[fx.GOOD_ACTIVE]))
    assert plan.commands == [
        "Remove-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 12 -NextHop '0.0.0.0' -PolicyStore ActiveStore -Confirm:$false"]


def test_dhcp_route_via_gateway_on_the_primary_nic_is_kept():
    plan = _plan(_state(active=[fx.DHCP_ACTIVE, fx.GOOD_ACTIVE], persistent=[fx.GOOD_ACTIVE]))
    assert not plan.changed
    plan = _plan(_state(active=[fx.DHCP_ACTIVE]))
    assert plan.commands == [ADD_BOTH]


def test_route_added_with_route_exe_and_own_address_counts_as_on_link():
    microsoft = fx._netroute("169.254.169.254/32", "10.0.1.10", 6, "Ethernet", 1)
    plan = _plan(_state(active=[fx.GOOD_ACTIVE], persistent=[microsoft]))
    assert not plan.changed


def test_absent_removes_from_both_stores():
    plan = _plan(_state(active=[fx.GOOD_ACTIVE], persistent=[fx.GOOD_ACTIVE]), mode="absent")
    assert [c.split("-PolicyStore ")[1] for c in plan.commands] == ["ActiveStore -Confirm:$false", "PersistentStore -Confirm:$false"]
    assert plan.after == []
    assert not _plan(_state(), mode="absent").changed


def test_the_change_outcome_is_read_from_the_module_result():
    answer = dict(fx.netroute_data(), change={"ok": False, "denied": True, "error": "Zugriff verweigert"})
    assert _route_windows.change_outcome(answer) == (False, True, "Zugriff verweigert")
    assert _route_windows.change_outcome(fx.netroute_data())[0] is False  # no outcome: not a success
    assert _route_windows.change_outcome({"change": {"ok": False, "error": ["x"]}}) == (False, False, "['x']")


# ------------------------------------------------------------------ what blocks IMDS traffic on Windows

LOOPBACK_ACTIVE = fx._netroute("169.254.169.254/32", "0.0.0.0", 1, "Loopback Pseudo-Interface 1", 1)


def _blocked(state, **kwargs):
    with pytest.raises(_route.RouteError) as caught:
        _plan(state, **kwargs)
    assert caught.value.kind == "blocked"
    return caught.value.message


def test_a_route_through_the_loopback_interface_is_a_block_the_module_never_removes():
    """Until now the plan removed it as a route "on another interface"."""
    message = _blocked(_state(active=[LOOPBACK_ACTIVE], persistent=[LOOPBACK_ACTIVE]))
    assert message == ("the route 'active: 169.254.169.254/32 on-link dev Loopback Pseudo-Interface 1 ifindex 1 ifaddr 127.0.0.1 "
                       "metric 1 effective-metric 76' sends IMDS traffic to the loopback interface, which blocks it. The module does "
                       "not remove a block it did not make: remove it yourself (Remove-NetRoute -DestinationPrefix "
                       "'169.254.169.254/32' -InterfaceIndex 1 -NextHop '0.0.0.0' -PolicyStore ActiveStore -Confirm:$false)")
    # only the stores the task looks at count; state absent removes what it is told to
    assert "PolicyStore PersistentStore" in _blocked(_state(persistent=[LOOPBACK_ACTIVE]))
    assert _plan(_state(persistent=[LOOPBACK_ACTIVE]), persistent=False).commands == [ADD_ACTIVE]
    assert _plan(_state(active=[LOOPBACK_ACTIVE]), mode="absent").changed


def test_imds_address_on_an_interface_of_the_host():
    data = fx.netroute_data()
    data["addresses"] = fx.ADDRESSES + [{"InterfaceIndex": 9, "IPAddress": "169.254.169.254", "PrefixLength": 32, "SkipAsSource": True}]
    message = _blocked(_route_windows.windows_routes(data))
    assert message == ("169.254.169.254 is an address of this host (Ethernet 2 (ifindex 9)), so IMDS traffic would stay on the host: "
                       "remove that address (the module does not change addresses)")


def test_route_print_loopback_route_and_local_address():
    row = "  169.254.169.254  255.255.255.255         On-link         %s    331\n"
    before = "===========================================================================\nPersistent Routes:"
    assert "route.exe delete 169.254.169.254 mask 255.255.255.255" in _blocked(
        _rp(fx.ROUTE_PRINT_EN.replace(before, row % "127.0.0.1" + before)))
    assert "is an address of this host (169.254.169.254)" in _blocked(
        _rp(fx.ROUTE_PRINT_EN.replace(before, row % "169.254.169.254" + before)))


# ------------------------------------------------------------------ planning (route.exe fallback)

def test_route_print_cluster_node_gets_route_exe_fix():
    plan = _plan(_rp(fx.ROUTE_PRINT_EN))
    assert plan.commands == ["route.exe -p add 169.254.169.254 mask 255.255.255.255 10.0.1.10 metric 1 IF 6"]
    assert plan.changes == [{"action": "route_add", "interface_address": "10.0.1.10", "metric": 1, "interface_index": 6,
                             "persistent": True}]


def test_route_print_fixed_host_is_idempotent():
    assert not _plan(_rp(fx.ROUTE_PRINT_EN_FIXED)).changed


def test_route_print_german_wrong_interface_is_deleted_and_re_added():
    plan = _plan(_rp(fx.ROUTE_PRINT_DE))
    assert plan.commands == ["route.exe delete 169.254.169.254 mask 255.255.255.255",
                             "route.exe -p add 169.254.169.254 mask 255.255.255.255 10.0.1.10 metric 1 IF 6"]
    assert len(plan.actions) == 4  # 1 active + 1 persistent removed, 2 added


def test_route_print_persistent_false_adds_without_p():
    plan = _plan(_rp(fx.ROUTE_PRINT_JA), persistent=False)
    assert plan.commands == ["route.exe add 169.254.169.254 mask 255.255.255.255 10.0.1.10 metric 1 IF 6"]


def test_route_print_persistent_false_never_deletes_the_persistent_entry():
    """route.exe's delete removes persistent entries too: with persistent false that is refused, clearly."""
    with pytest.raises(_route.RouteError) as err:
        _plan(_rp(fx.ROUTE_PRINT_DE), persistent=False)
    assert err.value.kind == "route_exe" and "persistent: true" in err.value.message
    with pytest.raises(_route.RouteError):
        _plan(_rp(fx.ROUTE_PRINT_DE), persistent=False, mode="absent")
    # nothing persistent to lose: delete and add as usual
    plan = _plan(_rp(fx.ROUTE_PRINT_DE.replace("  169.254.169.254  255.255.255.255    169.254.1.127       1\n", "")), persistent=False)
    assert plan.commands[0] == "route.exe delete 169.254.169.254 mask 255.255.255.255"


def test_route_print_metric_zero_is_refused_before_route_exe_runs():
    with pytest.raises(_route.RouteError) as err:
        _plan(_rp(fx.ROUTE_PRINT_EN), metric=0)
    assert err.value.kind == "config" and "1 to 9999" in err.value.message
    assert _plan(_state(), metric=0).commands == [ADD_BOTH.replace("RouteMetric 1", "RouteMetric 0")]  # New-NetRoute takes 0


def test_route_print_route_is_bound_to_its_interface():
    plan = _plan(_rp(fx.ROUTE_PRINT_EN))
    assert plan.commands[-1].endswith(" IF 6")
    with pytest.raises(_route.RouteError) as err:
        _plan(_rp(fx.ROUTE_PRINT_EN, adapters=[]))
    assert err.value.kind == "interface" and "IF <index>" in err.value.message
