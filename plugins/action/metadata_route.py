# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action for imds.azure.metadata_route: check and repair the 169.254.169.254/32 route.

Linux: short read-only commands run over the connection (``plugin_utils._commands``), their
output is parsed on the controller (``plugin_utils._route`` package) and at most one change command
runs; the routes are then read again to confirm the change. Windows: the PowerShell module
``imds.azure.win_metadata_route`` reads the routes; the plan is made here; one more run makes
the planned changes and reads the routes again (``plugin_utils._windows.modules``).
"""

from __future__ import annotations

from ansible_collections.imds.azure.plugins.plugin_utils._route import common as _route, linux as _route_linux, windows as _route_windows
from ansible_collections.imds.azure.plugins.plugin_utils._windows import controller as _windows
from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionModuleBase
from ansible_collections.imds.azure.plugins.plugin_utils._commands import CommandRunner
from ansible_collections.imds.azure.plugins.plugin_utils._windows.modules import ROUTE_MODULE, WindowsModules, failure_text

ARGUMENT_SPEC = {
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
    "interface": {"type": "str"},
    "metric": {"type": "int", "default": 1},
    "persistent": {"type": "bool"},  # Windows: true when not set; Linux: warn only when set to true
    "remove_blocks": {"type": "bool", "default": False},
    "timeout": {"type": "int", "default": 30},
}

# (JSON command, text command for iproute2 without -j, JSON parser, text parser)
LINUX_ROUTES_READ = (["ip", "-j", "-4", "route", "show", "table", "all"], ["ip", "-4", "route", "show", "table", "all"],
                     _route_linux.parse_ip_json, _route_linux.parse_ip_text)
LINUX_RULES_READ = (["ip", "-j", "-4", "rule", "show"], ["ip", "-4", "rule", "show"],
                    _route_linux.parse_ip_rule_json, _route_linux.parse_ip_rule_text)
# A kernel without policy routing (CONFIG_IP_MULTIPLE_TABLES) looks in the local table, then in main.
LINUX_RULES_WITHOUT_POLICY_ROUTING = "0: from all lookup local\n32766: from all lookup main\n"

LINUX_PERSISTENCE_WARNING = ("the route was changed in the running kernel only: Linux has no distribution-independent "
                             "persistent route store; persist it in the network configuration (netplan, NetworkManager, "
                             "systemd-networkd, ifcfg) or run this task at boot")


class ActionModule(ActionModuleBase):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        if "imds_error" in result:
            # Deprecated alias, removed in 1.0.0. It keeps the keywords of 0.1.0: "argument" for invalid options.
            result["error"] = "argument" if result["imds_error"] == "config" else result["imds_error"]
        return result

    def _main(self, module, task_vars):
        args = module.params
        if args["metric"] < 0 or args["metric"] > 9999:
            module.fail_json(msg="metric must be between 0 and 9999", imds_error="config")
        if args["timeout"] < 1:
            module.fail_json(msg="timeout must be at least 1 second", imds_error="config")
        persistent = args["persistent"]
        if persistent is None:
            args["persistent"] = True
        if _windows.is_windows(self):
            module.exit_json(**self._run_windows(WindowsModules(self, task_vars), args))
        module.exit_json(**self._run_posix(CommandRunner(self, timeout=args["timeout"]), args, warn_not_persisted=persistent is True))

    # ------------------------------------------------------------------ helpers

    def _report(self, os_family, reader, args, choice, plan, before, after, persisted):
        out = {
            "changed": plan.changed,
            "os_family": os_family,
            "reader": reader,
            "route_before": before,
            "route_after": after,
            "interface": choice.interface if choice else None,
            "interface_index": choice.interface_index if choice else None,
            "interface_address": choice.interface_address if choice else None,
            "gateway": choice.gateway if choice else None,
            "interface_reason": choice.reason if choice else "",
            "actions": plan.actions,
            "commands": plan.commands,
            "persisted": persisted,
        }
        warnings = list(choice.warnings) if choice else []
        if warnings:
            out["warnings"] = warnings
        if self._task.diff:
            out["diff"] = {
                "before_header": "routes to %s (before)" % _route.IMDS_PREFIX,
                "after_header": "routes to %s (after)" % _route.IMDS_PREFIX,
                "before": _route.format_routes(before),
                "after": _route.format_routes(after),
            }
        return out

    # ------------------------------------------------------------------ Linux

    def _posix_read(self, runner, read, unsupported=None):
        """(reader, parsed) of one read: the JSON command, or the text one when iproute2 has no -j or its JSON does not parse.
        ``unsupported``: the text to parse when the kernel does not support what is read."""
        json_argv, text_argv, parse_json, parse_text = read
        res = runner.posix(json_argv)
        json_error = None
        if res.rc == 0 and res.stdout.strip().startswith("["):
            try:
                return "ip-json", parse_json(res.stdout)
            except _route.RouteError as exc:
                json_error = exc
        res = runner.posix(text_argv)
        if res.rc == 127:
            raise _route.RouteError("unsupported_os", "the 'ip' command (iproute2) was not found on the target")
        if res.rc != 0 and unsupported is not None and "not supported" in res.stderr.lower():
            return "ip-text", parse_text(unsupported)
        if res.rc != 0:
            raise _route.RouteError("command", "'%s' failed (rc %s): %s" % (res.command, res.rc, res.stderr.strip()))
        try:
            return "ip-text", parse_text(res.stdout)
        except _route.RouteError as exc:
            if json_error is None:
                raise
            raise _route.RouteError("parse", "%s; the 'ip -j' output did not parse either: %s" % (exc.message, json_error.message)) from exc

    def _posix_state(self, runner, args):
        """(reader, main table routes, (routes of every table, rules) or None for state absent)."""
        reader, every_table = self._posix_read(runner, LINUX_ROUTES_READ)
        path = None
        if args["state"] == "present":
            path = (every_table, self._posix_read(runner, LINUX_RULES_READ, LINUX_RULES_WITHOUT_POLICY_ROUTING)[1])
        return reader, _route_linux.main_routes(every_table), path

    def _posix_effective(self, runner):
        res = runner.posix(["ip", "-4", "route", "get", _route.IMDS_ADDRESS])
        if res.rc != 0:
            return {"interface": None, "gateway": None, "error": res.stderr.strip()}
        dev, gateway = _route_linux.parse_ip_route_get(res.stdout)
        return {"interface": dev, "gateway": gateway, "error": ""}

    def _run_posix(self, runner, args, warn_not_persisted):
        ident = runner.posix(["sh", "-c", "uname -s; id -u"])
        lines = ident.stdout.split()
        system = lines[0] if lines else ""
        if system != "Linux":
            raise _route.RouteError("unsupported_os", "unsupported operating system %r: this module handles Linux and Windows%s"
                                    % (system, "" if system else " ('uname -s' said: %s)" % ident.stderr.strip()))
        euid = lines[1] if len(lines) > 1 else "?"
        reader, routes, path = self._posix_state(runner, args)
        effective_before = self._posix_effective(runner)
        if args["state"] == "absent":
            choice = _route.Choice(args["interface"], "", "set by the interface option") if args["interface"] else None
        else:
            choice = _route_linux.choose_linux(routes, args["interface"])
        plan = _route_linux.linux_plan(routes, choice, args["metric"], args["state"], path, args["remove_blocks"])
        before = _route.imds_routes(routes)
        after = plan.after
        effective_after = effective_before
        if plan.changed and not self._task.check_mode:
            res = runner.posix(plan.argv)
            if res.rc != 0:
                if _route_linux.classify_linux_error(res.stderr) == "privilege":
                    hint = ("it ran as root without CAP_NET_ADMIN (container or capability bounding set?)" if euid == "0"
                            else "it ran with euid %s; use become: true" % euid)
                    raise _route.RouteError("privilege", "changing routes needs root or CAP_NET_ADMIN: %s. '%s' said: %s"
                                            % (hint, res.command, res.stderr.strip()))
                raise _route.RouteError("command", "'%s' failed (rc %s): %s" % (res.command, res.rc, res.stderr.strip()))
            reader, routes, path = self._posix_state(runner, args)
            effective_after = self._posix_effective(runner)
            after = _route.imds_routes(routes)
            if _route_linux.linux_plan(routes, choice, args["metric"], args["state"], path, args["remove_blocks"]).changed:
                raise _route.RouteError("verify", "the route change ran but the routes are still not as wanted: %s"
                                        % "; ".join(_route.format_route(route) for route in after))
        if args["state"] == "present" and not (plan.changed and self._task.check_mode) and effective_after["interface"] != choice.interface:
            # The kernel's own answer: what the module read and planned must agree with it.
            raise _route.RouteError("verify", "'ip -4 route get %s' gives %s, not a route through %s" % (
                _route.IMDS_ADDRESS, "the error %r" % effective_after["error"] if effective_after["error"] else "dev %s"
                % effective_after["interface"], choice.interface))
        out = self._report("linux", reader, args, choice, plan, before, after, persisted=False)
        out["effective_before"] = effective_before
        out["effective_after"] = effective_after
        if plan.changed and warn_not_persisted and args["state"] == "present" and not self._task.check_mode:
            out.setdefault("warnings", []).append(LINUX_PERSISTENCE_WARNING)
        return out

    # ------------------------------------------------------------------ Windows

    def _windows_routes(self, modules, args, changes=()):
        """Run win_metadata_route (making ``changes`` first); (its result, the routes it read)."""
        data = modules.run(ROUTE_MODULE, {"changes": list(changes)}, limit=args["timeout"])
        if data.get("failed"):
            raise _route.RouteError("command", "%s failed (%s)" % ("the route change" if changes else "reading the routes",
                                                                   failure_text(data)))
        return data, _route_windows.windows_routes(data)

    def _run_windows(self, modules, args):
        dummy, table = self._windows_routes(modules, args)
        if args["state"] == "absent":
            choice = _route_windows.choose_windows(table, args["interface"]) if args["interface"] else None
        else:
            choice = _route_windows.choose_windows(table, args["interface"])
        plan = _route_windows.windows_plan(table, choice, args["metric"], args["persistent"], state=args["state"])
        stores = ("active", "persistent") if args["persistent"] else ("active",)
        before = [route for route in _route.imds_routes(table.routes) if route["store"] in stores]
        after = plan.after
        if plan.changed and not self._task.check_mode:
            if not table.admin:
                raise _route.RouteError("privilege", "changing routes needs an elevated session: the connection user is not running "
                                                     "as Administrator (member of Administrators, not filtered by UAC)")
            data, table = self._windows_routes(modules, args, plan.changes)
            ok, denied, error = _route_windows.change_outcome(data)
            if denied:
                raise _route.RouteError("privilege", "access denied while changing routes (run as Administrator): %s" % error)
            if not ok:
                raise _route.RouteError("command", "the route change failed: %s" % error)
            after = [route for route in _route.imds_routes(table.routes) if route["store"] in stores]
            if _route_windows.windows_plan(table, choice, args["metric"], args["persistent"], state=args["state"]).changed:
                raise _route.RouteError("verify", "the route change ran but the routes are still not as wanted: %s"
                                        % "; ".join(_route.format_route(route) for route in after))
        return self._report("windows", table.reader, args, choice, plan, before, after, persisted=args["persistent"])
