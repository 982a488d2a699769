# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based fuzzing of the metadata_route action end to end, over a fake connection.

Whatever the target's ``ip`` commands print or the Windows route module returns, the task ends with a
result, or fails with ``msg`` and one of the module's documented ``error`` keywords.
"""

from __future__ import annotations

from hypothesis import event, given, settings, strategies as st

from ansible_collections.imds.azure.tests.unit.plugins.action.test_metadata_route import FakeConnection, LinuxHost, WindowsHost, _action
from ansible_collections.imds.azure.tests.unit.fakes import route_strategies as rs

# A whole task per example: a fifth of the profile's examples (the parsers get the full count in plugin_utils/_route/test_fuzz.py).
TASKS = settings(max_examples=max(20, settings().max_examples // 5))
# RETURN of plugins/modules/metadata_route.py
ERROR_KINDS = ("no_default_route", "interface", "privilege", "unsupported_os", "timeout", "command", "parse", "verify", "config",
               "route_exe", "blocked")
ARGS = st.fixed_dictionaries({}, optional={"interface": st.sampled_from(["eth0", "Ethernet", "6", "10.0.1.10", "nope"]),
                                           "state": st.sampled_from(["present", "absent"]), "persistent": st.booleans(),
                                           "remove_blocks": st.booleans()})


def _check(result):
    if result.get("failed"):
        assert result["imds_error"] in ERROR_KINDS and isinstance(result["msg"], str) and result["msg"], result
        event("failed: %s" % result["imds_error"])
    else:
        event("changed" if result["changed"] else "ok")


@TASKS
@given(rs.IP_JSON_OR_CAPTURED, rs.IP_TEXT, rs.IP_JSON_OR_CAPTURED, rs.IP_RULE_JSON, rs.IP_RULE_TEXT, st.sampled_from([0, 2]), rs.WORD, ARGS, st.booleans())
def test_linux(before, text, after, rules_json, rules_text, change_rc, change_err, args, check_mode):
    host = LinuxHost(before, after_json=after, routes_text=text, rules_json=rules_json, rules_text=rules_text, change_rc=change_rc,
                     change_err=change_err.encode())
    _check(_action(FakeConnection("sh", host), args, check_mode=check_mode).run(task_vars={}))


def _object(value):
    """A module's result is always a JSON object (Ansible.Basic); what is in it is anything."""
    return value if isinstance(value, dict) else {"value": value}


CHANGE_OUTPUT = st.one_of(st.sampled_from([{"ok": True, "denied": False, "error": ""}, {"ok": False, "denied": True, "error": "denied"}]),
                          rs.ANY_JSON)


@TASKS
@given(rs.WINDOWS_READ_OUTPUT, rs.WINDOWS_READ_OUTPUT, CHANGE_OUTPUT, ARGS, st.booleans())
def test_windows(before, after, change, args, check_mode):
    host = WindowsHost(_object(before), _object(after), change=change)
    _check(_action(FakeConnection("powershell", host), args, check_mode=check_mode).run(task_vars={}))
