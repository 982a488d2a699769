# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata_route action against a fake connection (Windows and Linux)."""

from __future__ import annotations

import json

import pytest

from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import shell_loader

from ansible_collections.imds.azure.plugins.action.metadata_route import ActionModule, LINUX_PERSISTENCE_WARNING
from ansible_collections.imds.azure.plugins.plugin_utils._windows import modules as _windows_modules
from ansible_collections.imds.azure.tests.unit.fakes.action_fixtures import make_action
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures as fx
from ansible_collections.imds.azure.tests.unit.fakes.route_captures import CAPTURES
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf


class FakeConnection:
    """Answers exec_command from a handler; records the commands it was given.

    Windows: ansible-core's module execution over windows_fake.FakeWindowsConnection, whose host
    hands each run of win_metadata_route to the handler (``handler(name, params)``).
    """

    def __new__(cls, family, handler):
        if family == "powershell":
            return wf.FakeWindowsConnection(PlayContext(), host=wf.FakeWindowsHost(override=handler))
        return super().__new__(cls)

    def __init__(self, family, handler):
        # The real shell plugin: each core's ActionBase calls its own set of shell methods.
        self._shell = shell_loader.get("sh")
        self.become = None
        self.allow_executable = True
        self.transport = "ssh"
        self.handler = handler
        self.commands = []  # /bin/sh command lines

    def exec_command(self, cmd, in_data=None, sudoable=True):
        assert cmd.startswith("/bin/sh -c ") and "timeout 30 " in cmd
        self.commands.append(cmd)
        return self.handler(cmd)

    def get_option(self, name):  # pylint: disable=unused-argument
        return None


def _action(conn, args=None, check_mode=False, diff=False):
    play_context = PlayContext()
    play_context.executable = "/bin/sh"
    action = make_action(ActionModule, "imds.azure.metadata_route", conn, args, check_mode=check_mode, diff=diff,
                         play_context=play_context)
    action._get_remote_user = lambda: "admin"  # pylint: disable=protected-access
    return action


class WindowsHost:
    """The answers of win_metadata_route: the first read, then the read after one change."""

    def __init__(self, before, after=None, change=None):
        self.reads = [before, after if after is not None else before]
        self.change = change if change is not None else {"ok": True, "denied": False, "error": ""}
        self.changes = []  # the changes of each change run
        self.runs = 0

    def __call__(self, name, params):
        assert name == "win_metadata_route", name
        self.runs += 1
        if params["changes"]:
            self.changes.append(params["changes"])
            return dict(self.reads[1], change=self.change)
        return self.reads[1 if self.changes else 0]


FIXED = fx.netroute_data(active=[fx.GOOD_ACTIVE], persistent=[fx.GOOD_ACTIVE])


def test_windows_cluster_node_is_repaired_with_one_change_run():
    host = WindowsHost(fx.netroute_data(), FIXED)
    conn = FakeConnection("powershell", host)
    result = _action(conn, diff=True).run(task_vars={})
    assert result["changed"] and not result.get("failed"), result
    assert host.runs == 2 and len(host.changes) == 1  # read; change and read again
    # One New-NetRoute without -PolicyStore writes both stores; PersistentStore is refused by New-NetRoute
    assert host.changes[0] == [{"action": "add", "interface_index": 6, "metric": 1, "persistent": True, "interface_address": None,
                                "next_hop": "0.0.0.0", "store": "ActiveStore"}]  # with the module's defaults
    assert result["commands"] == ["New-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 6 -NextHop '0.0.0.0' "
                                  "-RouteMetric 1 | Out-Null"]
    assert result["interface"] == "Ethernet" and result["interface_address"] == "10.0.1.10" and result["interface_index"] == 6
    assert result["reader"] == "netroute" and result["os_family"] == "windows" and result["persisted"] is True
    assert result["route_before"] == [] and len(result["route_after"]) == 2
    assert "+active: 169.254.169.254/32 on-link dev Ethernet ifindex 6" in "+" + result["diff"]["after"]
    assert result["diff"]["before"] == ""


def test_windows_correct_host_is_not_changed_and_makes_one_read():
    conn = FakeConnection("powershell", WindowsHost(FIXED))
    result = _action(conn).run(task_vars={})
    assert result["changed"] is False and result["commands"] == [] and conn.host.runs == [("win_metadata_route", {"changes": []})]


def test_windows_check_mode_reports_but_does_not_change():
    host = WindowsHost(fx.netroute_data(active=[fx.WRONG_ACTIVE]))
    conn = FakeConnection("powershell", host)
    result = _action(conn, check_mode=True).run(task_vars={})
    assert result["changed"] is True and host.changes == [] and host.runs == 1
    assert result["commands"][0].startswith("Remove-NetRoute -DestinationPrefix '169.254.169.254/32' -InterfaceIndex 12")
    assert [r["store"] for r in result["route_after"]] == ["active", "persistent"]


def test_windows_not_admin_fails_before_changing():
    host = WindowsHost(fx.netroute_data(admin=False))
    result = _action(FakeConnection("powershell", host)).run(task_vars={})
    assert result["failed"] and result["error"] == "privilege" and "Administrator" in result["msg"]
    assert host.changes == []


def test_windows_access_denied_during_change():
    host = WindowsHost(fx.netroute_data(), change={"ok": False, "denied": True, "error": "Access is denied."})
    result = _action(FakeConnection("powershell", host)).run(task_vars={})
    assert result["error"] == "privilege" and "Access is denied." in result["msg"]


def test_windows_change_that_does_not_stick_fails_verification():
    host = WindowsHost(fx.netroute_data(), fx.netroute_data())
    result = _action(FakeConnection("powershell", host)).run(task_vars={})
    assert result["failed"] and result["error"] == "verify"


def test_windows_route_print_fallback_german():
    fixed = fx.route_print_data(fx.ROUTE_PRINT_EN_FIXED)
    host = WindowsHost(fx.route_print_data(fx.ROUTE_PRINT_DE), fixed)
    result = _action(FakeConnection("powershell", host)).run(task_vars={})
    assert result["changed"] and result["reader"] == "route-print", result
    assert [change["action"] for change in host.changes[0]] == ["route_delete", "route_add"]
    assert result["commands"] == ["route.exe delete 169.254.169.254 mask 255.255.255.255",
                                  "route.exe -p add 169.254.169.254 mask 255.255.255.255 10.0.1.10 metric 1 IF 6"]


def test_windows_failed_route_module_is_a_command_error():
    result = _action(FakeConnection("powershell", lambda name, params: {"failed": True, "msg": "Get-NetRoute : boom"})).run(task_vars={})
    assert result["failed"] and result["error"] == "command" and result["msg"] == "reading the routes failed (Get-NetRoute : boom)"


def test_windows_timeout_is_reported(monkeypatch):
    monkeypatch.setattr(_windows_modules, "MODULE_SLACK", 0)
    conn = FakeConnection("powershell", lambda name, params: wf.HANG)
    try:
        result = _action(conn, {"timeout": 1}).run(task_vars={})
    finally:
        conn.host.release()
    assert result["failed"] and result["error"] == "timeout"


def test_windows_equal_metric_warns_with_the_choice():
    defaults = [fx._netroute("0.0.0.0/0", "10.0.1.1", 6, "Ethernet", 5), fx._netroute("0.0.0.0/0", "10.0.2.1", 9, "Ethernet 2", 0)]
    data = fx.netroute_data(defaults=defaults, active=[fx.GOOD_ACTIVE], persistent=[fx.GOOD_ACTIVE])
    result = _action(FakeConnection("powershell", WindowsHost(data))).run(task_vars={})
    assert result["changed"] is False and "picked Ethernet (ifindex 6" in result["warnings"][0]


# ------------------------------------------------------------------ Linux

class LinuxHost:
    """A Linux target: the route table before and after the change, the rules, and 'ip route get' as the kernel answers it."""

    def __init__(self, routes_json, after_json=None, system="Linux", change_rc=0, change_err=b"", routes_text=None,
                 rules_json=fx.IP_RULE_JSON_DEFAULT, rules_text=None):
        self.routes = [routes_json, after_json or routes_json]
        self.routes_text = routes_text  # what 'ip -4 route show table all' prints (the fallback reader)
        self.rules_json = rules_json
        self.rules_text = rules_text
        self.system = system
        self.change_rc = change_rc
        self.change_err = change_err
        self.changes = []

    def __call__(self, cmd):
        if "uname -s" in cmd:
            return 0, ("%s\n0\n" % self.system).encode(), b""
        if "ip -j -4 route show table all" in cmd:
            return 0, self.routes[1 if self.changes else 0].encode(), b""
        if "ip -4 route show table all" in cmd and self.routes_text is not None:
            return 0, self.routes_text.encode(), b""
        if "ip -j -4 rule show" in cmd:
            return 0, self.rules_json.encode(), b""
        if "ip -4 rule show" in cmd and self.rules_text is not None:
            return 0, self.rules_text.encode(), b""
        if "ip -4 route get" in cmd:
            return 0, ("169.254.169.254 dev %s src 10.0.0.4 uid 0\n" % self._imds_device()).encode(), b""
        self.changes.append(cmd)
        return self.change_rc, b"", self.change_err

    def _imds_device(self):
        """The device of the lowest-metric 169.254.169.254 route in the table as it is now (clu0's /16 without one)."""
        try:
            routes = [route for route in json.loads(self.routes[1 if self.changes else 0])
                      if isinstance(route, dict) and route.get("dst") == "169.254.169.254" and "type" not in route]
            return min(routes, key=lambda route: route.get("metric", 0))["dev"]
        except (ValueError, TypeError, KeyError, AttributeError):
            return "clu0"


FIXED_JSON = json.dumps(json.loads(fx.IP_JSON_CAPTURED) + [
    {"dst": "169.254.169.254", "gateway": "10.0.0.1", "dev": "eth0", "metric": 1, "flags": []}])


def test_linux_repair_runs_ip_route_replace_and_rereads():
    host = LinuxHost(fx.IP_JSON_CAPTURED, FIXED_JSON)
    conn = FakeConnection("sh", host)
    result = _action(conn).run(task_vars={})
    assert result["changed"] and not result.get("failed"), result
    assert len(host.changes) == 1
    assert "timeout 30 ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1 table main" in host.changes[0]
    assert "LC_ALL=C" in host.changes[0]
    assert result["effective_before"]["interface"] == "clu0" and result["effective_after"]["interface"] == "eth0"
    # persistent is not set: nothing to warn about on Linux, where routes are never persisted
    assert result["persisted"] is False and "warnings" not in result


def test_linux_warns_that_the_route_is_not_persisted_only_when_asked_to_persist_it():
    result = _action(FakeConnection("sh", LinuxHost(fx.IP_JSON_CAPTURED, FIXED_JSON)), {"persistent": True}).run(task_vars={})
    assert result["changed"] and result["warnings"] == [LINUX_PERSISTENCE_WARNING]
    result = _action(FakeConnection("sh", LinuxHost(fx.IP_JSON_CAPTURED, FIXED_JSON)), {"persistent": False}).run(task_vars={})
    assert result["changed"] and "warnings" not in result


def test_linux_idempotent_and_check_mode():
    host = LinuxHost(FIXED_JSON)
    assert _action(FakeConnection("sh", host)).run(task_vars={})["changed"] is False
    host = LinuxHost(fx.IP_JSON_CAPTURED)
    result = _action(FakeConnection("sh", host), check_mode=True).run(task_vars={})
    assert result["changed"] is True and host.changes == []
    assert result["commands"] == ["ip -4 route replace 169.254.169.254/32 via 10.0.0.1 dev eth0 metric 1 table main"]
    # Nothing was changed, so nothing was changed "in the running kernel only".
    assert not any("running kernel" in warning for warning in result.get("warnings", []))


def test_linux_permission_error():
    host = LinuxHost(fx.IP_JSON_CAPTURED, change_rc=2, change_err=b"RTNETLINK answers: Operation not permitted\n")
    result = _action(FakeConnection("sh", host)).run(task_vars={})
    assert result["error"] == "privilege" and "without CAP_NET_ADMIN" in result["msg"]


def test_unsupported_posix_os():
    result = _action(FakeConnection("sh", LinuxHost("[]", system="FreeBSD"))).run(task_vars={})
    assert result["error"] == "unsupported_os" and "FreeBSD" in result["msg"]


@pytest.mark.parametrize("args, message", [
    ({"metric": 10000}, "metric must be between 0 and 9999"),
    ({"timeout": 0}, "timeout must be at least 1 second"),
])
def test_out_of_range_options_fail_with_a_keyword_and_no_command(args, message):
    conn = FakeConnection("sh", LinuxHost("[]"))
    result = _action(conn, args).run(task_vars={})
    assert result["failed"] and result["msg"] == message and result["imds_error"] == "config"
    assert result["error"] == "argument"   # the deprecated alias keeps the keyword of 0.2.0 until its removal in 1.0.0
    assert conn.commands == []


def test_linux_no_default_route():
    result = _action(FakeConnection("sh", LinuxHost("[]"))).run(task_vars={})
    assert result["error"] == "no_default_route"


@pytest.mark.parametrize("args, message", [({"metric": -1}, "metric"), ({"timeout": 0}, "timeout")])
def test_argument_bounds(args, message):
    result = _action(FakeConnection("sh", LinuxHost(FIXED_JSON)), args=args).run(task_vars={})
    assert result["failed"] and message in result["msg"]


# ------------------------------------------------------------------ garbage route tables, end to end

GARBAGE_JSON = json.dumps([{"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "metric": "abc"}])


def test_linux_garbage_tables_fail_with_the_parse_kind():
    host = LinuxHost(GARBAGE_JSON, routes_text="default via 10.0.0.1 dev eth0 metric abc\n")
    result = _action(FakeConnection("sh", host)).run(task_vars={})
    assert result["failed"] and result["error"] == "parse" and host.changes == []
    assert result["msg"] == ("'ip route' line 1: metric 'abc' is not a whole number from 0 to 4294967295; the 'ip -j' output did not "
                             "parse either: 'ip -j route' entry 0: metric 'abc' is not a whole number from 0 to 4294967295")


def test_linux_garbage_json_falls_back_to_the_text_table():
    host = LinuxHost(GARBAGE_JSON, routes_text=fx.IP_TEXT_TWO_DEFAULTS)
    result = _action(FakeConnection("sh", host), check_mode=True).run(task_vars={})
    assert not result.get("failed") and result["reader"] == "ip-text" and result["interface"] == "eth0"


def test_windows_garbage_read_fails_with_the_parse_kind():
    data = fx.netroute_data(active=[{"DestinationPrefix": "169.254.169.254/32", "InterfaceIndex": "six", "NextHop": "0.0.0.0"}])
    host = WindowsHost(data)
    result = _action(FakeConnection("powershell", host)).run(task_vars={})
    assert result["failed"] and result["error"] == "parse" and host.changes == []
    assert "Get-NetRoute read, active entry 3: InterfaceIndex 'six' is not a whole number" in result["msg"]


def test_windows_garbage_route_print_fails_with_the_parse_kind():
    text = fx.ROUTE_PRINT_EN.replace("255.255.255.0         On-link", "255.0.255.0           On-link")
    result = _action(FakeConnection("powershell", WindowsHost(fx.route_print_data(text)))).run(task_vars={})
    assert result["failed"] and result["error"] == "parse" and "is not an IPv4 destination and netmask" in result["msg"]


# ------------------------------------------------------------------ what blocks IMDS traffic (Linux)

def _captured(name, after=None, **kwargs):
    """A host whose tables are the captured ones; after a change, those of capture ``after``."""
    capture = CAPTURES[name]
    return LinuxHost(capture["routes_json"], after_json=CAPTURES[after]["routes_json"] if after else None,
                     rules_json=capture["rules_json"], **kwargs)


def test_linux_block_fails_before_any_change_and_names_it():
    host = _captured("blackhole")
    result = _action(FakeConnection("sh", host)).run(task_vars={})
    assert result["failed"] and result["imds_error"] == "blocked" and host.changes == []
    assert "finds the route 'blackhole 169.254.169.254/32 table main', which drops it" in result["msg"]
    assert "set remove_blocks: true" in result["msg"]


def test_linux_remove_blocks_removes_the_block_then_adds_the_route_in_one_command():
    host = _captured("blackhole", after="fixed")
    result = _action(FakeConnection("sh", host), {"remove_blocks": True}, diff=True).run(task_vars={})
    assert result["changed"] and not result.get("failed"), result
    assert len(host.changes) == 1 and ("ip -4 route del blackhole 169.254.169.254/32 table main metric 0 && "
                                       "ip -4 route replace 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 1 table main") in host.changes[0]
    assert result["actions"][0] == "remove blackhole 169.254.169.254/32 table main"


def test_linux_remove_blocks_in_check_mode_reports_and_changes_nothing():
    host = _captured("policy_rule")
    result = _action(FakeConnection("sh", host), {"remove_blocks": True}, check_mode=True).run(task_vars={})
    assert result["changed"] and host.changes == []
    assert result["commands"] == ["ip -4 rule del pref 100 from all to 169.254.169.254/32 lookup 100",
                                  "ip -4 route replace 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 1 table main"]


def test_linux_a_correct_route_behind_a_block_is_not_ok():
    """The main table is already right; the rule in front of it is not."""
    capture = CAPTURES["rule_prohibit"]
    fixed = CAPTURES["fixed"]["routes_json"]
    result = _action(FakeConnection("sh", LinuxHost(fixed, rules_json=capture["rules_json"]))).run(task_vars={})
    assert result["failed"] and result["imds_error"] == "blocked" and "rule 100 (from all to 169.254.169.254/32 prohibit)" in result["msg"]


class KernelDisagrees(LinuxHost):
    """'ip route get' answers something the tables the module read do not explain."""

    def __call__(self, cmd):
        if "ip -4 route get" in cmd:
            return 2, b"", b"RTNETLINK answers: Permission denied\n"
        return super(KernelDisagrees, self).__call__(cmd)


@pytest.mark.parametrize("before, after", [("fixed", None), ("cluster", "fixed")])
def test_linux_the_kernel_has_the_last_word(before, after):
    host = KernelDisagrees(CAPTURES[before]["routes_json"], after_json=CAPTURES[after]["routes_json"] if after else None)
    result = _action(FakeConnection("sh", host)).run(task_vars={})
    assert result["failed"] and result["imds_error"] == "verify"
    assert result["msg"] == ("'ip -4 route get 169.254.169.254' gives the error 'RTNETLINK answers: Permission denied', "
                             "not a route through eth0")


def test_linux_rules_are_read_as_text_without_ip_json():
    capture = CAPTURES["rule_prohibit"]
    host = LinuxHost(CAPTURES["fixed"]["routes_json"], rules_json="Option \"-j\" is unknown", rules_text=capture["rules_text"])
    result = _action(FakeConnection("sh", host)).run(task_vars={})
    assert result["imds_error"] == "blocked" and "rule 100 (from all to 169.254.169.254/32 prohibit)" in result["msg"]


class NoPolicyRouting(LinuxHost):
    """A kernel built without CONFIG_IP_MULTIPLE_TABLES."""

    def __call__(self, cmd):
        if "rule show" in cmd:
            return 2, b"", b"RTNETLINK answers: Operation not supported\n"
        return super(NoPolicyRouting, self).__call__(cmd)


def test_linux_kernel_without_policy_routing_looks_up_local_then_main():
    host = NoPolicyRouting(CAPTURES["cluster"]["routes_json"], after_json=CAPTURES["fixed"]["routes_json"])
    result = _action(FakeConnection("sh", host)).run(task_vars={})
    assert result["changed"] and not result.get("failed"), result
    host = NoPolicyRouting(CAPTURES["blackhole"]["routes_json"])
    assert _action(FakeConnection("sh", host)).run(task_vars={})["imds_error"] == "blocked"


def test_linux_absent_reads_no_rules():
    conn = FakeConnection("sh", _captured("blackhole"))
    result = _action(conn, {"state": "absent"}).run(task_vars={})
    assert not result.get("failed") and not any("rule show" in command for command in conn.commands)
