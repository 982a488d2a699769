# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the metadata_route action end to end, over a fake connection.

Whatever the target's ``ip`` commands or the Windows read script print, the task ends with a
result, or fails with ``msg`` and one of the module's documented ``error`` keywords.
"""

from __future__ import annotations

from hypothesis import event, given, settings, strategies as st

from ansible_collections.imds.azure.plugins.plugin_utils import _route_windows
from ansible_collections.imds.azure.tests.unit.plugins.action.test_metadata_route import FakeConnection, LinuxHost, WindowsHost, _action
from ansible_collections.imds.azure.tests.unit.fakes import route_strategies as rs

# A whole task per example: a fifth of the profile's examples (the parsers get the full count in test__route_fuzz.py).
TASKS = settings(max_examples=max(20, settings().max_examples // 5))
# RETURN of plugins/modules/metadata_route.py
ERROR_KINDS = ("no_default_route", "interface", "privilege", "unsupported_os", "timeout", "command", "parse", "verify", "argument",
               "route_exe", "blocked")
ARGS = st.fixed_dictionaries({}, optional={"interface": st.sampled_from(["eth0", "Ethernet", "6", "10.0.1.10", "nope"]),
                                           "state": st.sampled_from(["present", "absent"]), "persistent": st.booleans(),
                                           "remove_blocks": st.booleans()})


def _check(result):
    if result.get("failed"):
        assert result["error"] in ERROR_KINDS and isinstance(result["msg"], str) and result["msg"], result
        event("failed: %s" % result["error"])
    else:
        event("changed" if result["changed"] else "ok")


@TASKS
@given(rs.IP_JSON_OR_CAPTURED, rs.IP_TEXT, rs.IP_JSON_OR_CAPTURED, rs.IP_RULE_JSON, rs.IP_RULE_TEXT, st.sampled_from([0, 2]), rs.WORD, ARGS, st.booleans())
def test_linux(before, text, after, rules_json, rules_text, change_rc, change_err, args, check_mode):
    host = LinuxHost(before, after_json=after, routes_text=text, rules_json=rules_json, rules_text=rules_text, change_rc=change_rc,
                     change_err=change_err.encode())
    _check(_action(FakeConnection("sh", host), args, check_mode=check_mode).run(task_vars={}))


class RawWindowsHost(WindowsHost):
    """Prints what it is given for the reads and the change, instead of encoding documents."""

    def __call__(self, script):
        if script == _route_windows.WINDOWS_READ_SCRIPT:
            return 0, self.reads[1 if self.changes else 0].encode(), b""
        self.changes.append(script)
        return self.change


CHANGE_OUTPUT = st.one_of(st.sampled_from([{"ok": True, "denied": False, "error": ""}, {"ok": False, "denied": True, "error": "denied"}]),
                          rs.ANY_JSON).map(rs.fx.encode)


@TASKS
@given(rs.WINDOWS_READ_OUTPUT, rs.WINDOWS_READ_OUTPUT, st.sampled_from([0, 1]), st.one_of(CHANGE_OUTPUT, rs.WORD), ARGS, st.booleans())
def test_windows(before, after, change_rc, change_out, args, check_mode):
    host = RawWindowsHost(before, after, change=(change_rc, change_out.encode(), b""))
    _check(_action(FakeConnection("powershell", host), args, check_mode=check_mode).run(task_vars={}))
