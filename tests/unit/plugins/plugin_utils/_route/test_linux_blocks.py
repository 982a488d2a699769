# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Linux: what blocks IMDS traffic (routes of every type in every table the rules reach), on real tables.

Every table here is real iproute2 output captured in a network namespace (route_captures.py says
how). The lookup the planner follows is checked against the kernel's own answer ('ip route get')
captured with the same tables; the integration target route_netns runs the same cases end to end.
"""

from __future__ import annotations

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils._route import common as _route, linux as _route_linux
from ansible_collections.imds.azure.tests.unit.fakes.route_captures import CAPTURES


def _tables(name, form="json"):
    capture = CAPTURES[name]
    if form == "json":
        return _route_linux.parse_ip_json(capture["routes_json"]), _route_linux.parse_ip_rule_json(capture["rules_json"])
    return _route_linux.parse_ip_text(capture["routes_text"]), _route_linux.parse_ip_rule_text(capture["rules_text"])


def _plan(name, remove_blocks=False, metric=1, form="json"):
    every_table, rules = _tables(name, form)
    routes = _route_linux.main_routes(every_table)
    choice = _route_linux.choose_linux(routes)
    return _route_linux.linux_plan(routes, choice, metric, "present", (every_table, rules), remove_blocks)


def _blocked(name, **kwargs):
    with pytest.raises(_route.RouteError) as caught:
        _plan(name, **kwargs)
    assert caught.value.kind == "blocked"
    return caught.value.message


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_text_output_reads_as_the_json_output(name):
    json_routes, json_rules = _tables(name)
    text_routes, text_rules = _tables(name, "text")
    assert [route.describe() for route in text_routes] == [route.describe() for route in json_routes]
    assert [(rule.describe(), rule.definite, rule.uncertain, rule.action) for rule in text_rules] == [
        (rule.describe(), rule.definite, rule.uncertain, rule.action) for rule in json_rules]


_KERNEL_WORDS = {"Invalid argument": "blackhole", "No route to host": "unreachable", "Permission denied": "prohibit",
                 "Network is unreachable": "no route"}


def _kernel_answer(text):
    """'ip route get' as 'dev X', 'local' or the route type its error stands for."""
    if text.startswith("RTNETLINK answers: "):
        return _KERNEL_WORDS[text.split(": ", 1)[1]]
    words = text.split()
    return "local" if words[0] == "local" else "dev %s" % words[words.index("dev") + 1]


def _model_answer(name, source):
    every_table, rules = _tables(name)
    hit = _route_linux._first_hit(every_table, rules, _route_linux.ipaddress.IPv4Address(source), "eth0")
    if hit is None:
        return "dev eth0"
    route = hit.route if hit.route is not None else None
    if route is None:
        return hit.rule.action if hit.rule is not None else "no route"
    if route.type == "unicast":
        return "dev %s" % route.hops[0][1]
    return route.type


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_the_lookup_agrees_with_the_kernel(name):
    """The planner's lookup ends where 'ip route get' did, with and without a source address, on the table as captured."""
    assert _model_answer(name, "0.0.0.0") == _kernel_answer(CAPTURES[name]["route_get"])
    assert _model_answer(name, "198.51.100.10") == _kernel_answer(CAPTURES[name]["route_get_from"])


@pytest.mark.parametrize("name", ["cluster", "fixed", "wireguard", "marked_unreachable"])
@pytest.mark.parametrize("form", ["json", "text"])
def test_nothing_in_the_way(name, form):
    plan = _plan(name, form=form)
    expected = [] if name != "cluster" else ["ip -4 route replace 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 1 table main"]
    assert plan.commands == expected


@pytest.mark.parametrize("name, block, effect", [
    ("blackhole", "blackhole 169.254.169.254/32 table main", "drops it (connect() fails with 'Invalid argument')"),
    ("unreachable", "unreachable 169.254.169.254/32 table main", "rejects it ('No route to host')"),
    ("prohibit", "prohibit 169.254.169.254/32 table main", "rejects it ('Permission denied')"),
])
def test_a_block_route_in_main_fails_naming_it_and_stays(name, block, effect):
    message = _blocked(name)
    assert message == (
        "IMDS traffic to 169.254.169.254 would not leave through eth0: rule 32766 (from all lookup main) finds the route '%s', "
        "which %s. The module does not remove a block it did not make: remove it yourself ('ip -4 route del %s metric 0'), "
        "or set remove_blocks: true" % (block, effect, block))
    plan = _plan(name, remove_blocks=True)
    assert plan.commands == ["ip -4 route del %s metric 0" % block,
                             "ip -4 route replace 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 1 table main"]
    assert plan.actions[0] == "remove %s" % block and plan.argv[:2] == ["sh", "-c"]


def test_a_throw_route_in_main_sends_the_lookup_past_the_new_route():
    message = _blocked("throw")
    assert message.startswith(
        "IMDS traffic to 169.254.169.254 would not leave through eth0: after rule 32766 (from all lookup main) finds the route "
        "'throw 169.254.169.254/32 table main', which sends the lookup on to the next rule, no rule leads it to a route "
        "(connect() fails with 'Network is unreachable'). The module does not remove a block")
    assert _plan("throw", remove_blocks=True).commands[0] == "ip -4 route del throw 169.254.169.254/32 table main metric 0"


def test_a_throw_route_the_new_route_would_replace_is_not_defeated_silently():
    """At the throw's own metric, 'ip route replace' would end the block today's lookup meets: refused unless removed."""
    assert _blocked("throw", metric=0).startswith(
        "IMDS traffic to 169.254.169.254 is blocked now, and the new route would override the block: after rule 32766 "
        "(from all lookup main) finds the route 'throw 169.254.169.254/32 table main', which sends the lookup on to the next rule")
    assert _plan("throw", metric=0, remove_blocks=True).commands == [
        "ip -4 route del throw 169.254.169.254/32 table main metric 0",
        "ip -4 route replace 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 0 table main"]


@pytest.mark.parametrize("name, metric", [("blackhole_metric_1", 1), ("blackhole_metric_10", 10)])
def test_a_block_the_new_route_would_replace_or_override_is_not_defeated_silently(name, metric):
    """'ip route replace' with the same metric would replace the blackhole; a lower metric would win over it."""
    message = _blocked(name)
    assert message.startswith("IMDS traffic to 169.254.169.254 is blocked now, and the new route would override the block: rule 32766 "
                              "(from all lookup main) finds the route 'blackhole 169.254.169.254/32 table main metric %d'" % metric)
    assert _plan(name, remove_blocks=True).commands[0] == "ip -4 route del blackhole 169.254.169.254/32 table main metric %d" % metric


def test_a_policy_rule_sending_imds_elsewhere():
    message = _blocked("policy_rule")
    assert ("rule 100 (from all to 169.254.169.254/32 lookup 100) finds the route '169.254.169.254/32 dev clu0 table 100', "
            "which sends it through clu0. The module does not remove a block it did not make: remove it yourself "
            "('ip -4 rule del pref 100 from all to 169.254.169.254/32 lookup 100'), or set remove_blocks: true") in message
    # the rule made for IMDS goes, not the route of table 100 that other rules may lead to
    assert _plan("policy_rule", remove_blocks=True).commands[0] == "ip -4 rule del pref 100 from all to 169.254.169.254/32 lookup 100"


def test_a_rule_made_for_imds_that_looks_up_main_is_not_what_blocks():
    every_table, dummy = _tables("blackhole")
    rules = _route_linux.parse_ip_rule_text("0: from all lookup local\n100: from all to 169.254.169.254 lookup main\n"
                                            "32766: from all lookup main\n")
    routes = _route_linux.main_routes(every_table)
    plan = _route_linux.linux_plan(routes, _route_linux.choose_linux(routes), 1, "present", (every_table, rules), True)
    assert plan.commands[0] == "ip -4 route del blackhole 169.254.169.254/32 table main metric 0" and len(plan.commands) == 2


def test_a_blocking_rule_is_removed_with_its_selectors():
    message = _blocked("rule_prohibit")
    assert "rule 100 (from all to 169.254.169.254/32 prohibit) rejects it ('Permission denied')" in message
    assert _plan("rule_prohibit", remove_blocks=True).commands[0] == "ip -4 rule del pref 100 from all to 169.254.169.254/32 prohibit"


def test_a_rule_for_the_interface_address_counts_for_the_second_lookup_of_connect():
    """'ip route get' without a source passes; connect() looks up again from eth0's address, which the rule catches."""
    assert CAPTURES["source_rule"]["route_get"].startswith("169.254.169.254 dev clu0")
    message = _blocked("source_rule")
    assert ("rule 100 (from 198.51.100.10/32 lookup 100) finds the route 'unreachable 169.254.169.254/32 table 100', which rejects it "
            "('No route to host') (for traffic from 198.51.100.10)") in message
    assert _plan("source_rule", remove_blocks=True).commands[0] == "ip -4 route del unreachable 169.254.169.254/32 table 100 metric 0"


@pytest.mark.parametrize("name, what", [
    ("wide_block", "finds the route 'unreachable 169.254.0.0/16 table 100', which rejects it"),
    ("local_address", "finds the route 'local 169.254.169.254/32 dev lo table local', which keeps it on this host"),
])
def test_what_is_not_made_for_imds_alone_is_never_removed(name, what):
    for remove_blocks in (False, True):
        message = _blocked(name, remove_blocks=remove_blocks)
        assert what in message
        assert message.endswith("The module removes only routes and rules made for 169.254.169.254/32 alone: change this yourself")


def _rules(*lines):
    return _route_linux.parse_ip_rule_text("".join(line + "\n" for line in lines))


def _outcome(rules_text, routes=None):
    routes = routes if routes is not None else _tables("fixed")[0] + _route_linux.parse_ip_text(
        "blackhole 169.254.169.254 table 100\n")
    hit = _route_linux._problem(routes, _rules(*rules_text), "eth0")
    return "through eth0" if hit is None else hit.describe("eth0")


@pytest.mark.parametrize("selectors, blocked", [
    ("from all", True),
    ("not from all", False),
    ("from all to 169.254.0.0/16", True),
    ("from all to 10.0.0.0/8", False),
    ("not from all to 10.0.0.0/8", True),
    ("from all iif lo", True),
    ("from all iif eth0", False),
    ("from all iif lo [detached]", False),
    ("from all oif eth0", False),
    ("from all fwmark 0x1", False),
    ("from all fwmark 0/0xff", True),
    ("from all tos 0x10", False),
    ("from all ipproto tcp", True),
    ("from all ipproto udp", False),
    ("from all dport 80", True),
    ("from all dport 443", False),
    ("from all dport 1-1024", True),
    ("from all sport 1024-65000", True),  # the client's port is not known in advance
    ("not from all sport 1024-65000", True),
    ("from all uidrange 1000-2000", True),  # nor the client's user
    ("from all tun_id 5", False),
    ("from 198.51.100.10", True),  # connect()'s second lookup comes from eth0's address
    ("from 203.0.113.0/24", False),
    ("not from 198.51.100.10", True),  # the first lookup has no source address yet
])
def test_which_rules_the_imds_flow_meets(selectors, blocked):
    """The rules of fib_rule_match (net/core/fib_rules.c) and fib4_rule_match, for TCP from this host to port 80."""
    outcome = _outcome(["0: from all lookup local", "100: %s lookup 100" % selectors, "32766: from all lookup main"])
    assert (outcome != "through eth0") == blocked, outcome


def test_goto_nop_suppress_and_unresolved_rules_are_followed_like_the_kernel():
    assert _outcome(["0: from all lookup local", "50: from all goto 200", "100: from all lookup 100", "200: from all lookup main"]) \
        == "through eth0"
    assert _outcome(["0: from all lookup local", "50: from all goto 150 [unresolved]", "100: from all lookup 100",
                     "200: from all lookup main"]) != "through eth0"
    assert _outcome(["0: from all nop", "100: from all lookup main suppress_prefixlength 32", "200: from all lookup main"]) \
        == "through eth0"
    routes = _tables("fixed")[0] + _route_linux.parse_ip_text("default dev clu0 table 51820\n")
    assert "sends it through clu0" in _outcome(["0: from all lookup local", "100: from all lookup main suppress_prefixlength 32",
                                                "200: from all lookup 51820", "32766: from all lookup main"], routes)
    assert "no rule leads it to a route" in _outcome(["0: from all lookup local"])
    assert _outcome(["0: from all lookup local", "100: from all lookup [l3mdev-table]", "32766: from all lookup main"]) == "through eth0"


def test_selectors_iproute2_may_print_later_count_as_matching():
    every_table, dummy = _tables("fixed")
    rules = _route_linux.parse_ip_rule_json('[{"priority":0,"src":"all","table":"local"},'
                                            '{"priority":100,"src":"all","dscp":"12","table":"100"},'
                                            '{"priority":32766,"src":"all","table":"main"}]')
    assert rules[1].uncertain == ["dscp"] and not rules[1].removable
    hit = _route_linux._problem(every_table + _route_linux.parse_ip_text("prohibit 169.254.169.254 table 100\n"), rules, "eth0")
    assert hit.describe("eth0").startswith("rule 100 (from all dscp 12 lookup 100) finds the route 'prohibit")


@pytest.mark.parametrize("line, message", [
    ("100 from all lookup main", "'ip rule' line 1: '100 from all lookup main' does not start with a priority and ':'"),
    ("100: from all lookup", "'ip rule' line 1: 'lookup' has no value"),
    ("100: from all frobnicate 1 lookup main", "'ip rule' line 1: unexpected word 'frobnicate'"),
    ("x: from all lookup main", "'ip rule' line 1: priority 'x' is not a whole number"),
    ("100: from all to 1.2.3 lookup main", "destination '1.2.3' is not an IPv4 prefix"),
    ("100: from all fwmark 0xzz lookup main", "fwmark '0xzz' is not a number from 0 to 0xffffffff"),
    ("100: from all uidrange 5 lookup main", "uidrange '5' is not a range"),
])
def test_garbage_rule_text(line, message):
    with pytest.raises(_route.RouteError) as caught:
        _route_linux.parse_ip_rule_text(line + "\n")
    assert caught.value.kind == "parse" and message in caught.value.message


@pytest.mark.parametrize("text, message", [
    ("{}", "unexpected 'ip -j rule' output: not a list"),
    ("[1]", "'ip -j rule' entry 0: 1 is not an object"),
    ('[{"priority":-1,"src":"all","table":"main"}]', "priority -1 is not a whole number"),
    ('[{"priority":1,"src":["all"],"table":"main"}]', "src ['all'] is not an IPv4 prefix"),
    ('[{"priority":1,"src":"all","table":"main main"}]', "table 'main main' is not a table name or number"),
    ('[{"priority":1,"src":"all","dport_start":"x","table":"main"}]', "dport 'x' is not a whole number"),
])
def test_garbage_rule_json(text, message):
    with pytest.raises(_route.RouteError) as caught:
        _route_linux.parse_ip_rule_json(text)
    assert caught.value.kind == "parse" and message in caught.value.message
