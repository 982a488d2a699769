# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the collection's PowerShell modules on a Windows target from an action plugin.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

The Windows side of the collection is three small PowerShell modules (plugins/modules/*.ps1,
``#AnsibleRequires -CSharpUtil Ansible.Basic``), run the way every Windows module runs: the
action plugin calls ``ActionBase._execute_module`` and ansible-core builds the payload (its
bootstrap and exec wrapper, with the module and its arguments as JSON data), sends it over the
connection, handles the shell, ``become`` and signed execution, and parses the module's JSON::

    modules = WindowsModules(action, task_vars)
    result = modules.run(REQUEST_MODULE, {"url": ..., ...}, limit=65, secret=True)

``secret`` runs marks the module run ``no_log`` (an IMDS answer may hold a token or user data):
ansible-core then keeps its output out of ``-vvvvv`` on 2.18 and later. winrm and psrp of
ansible-core 2.16 and 2.17 print every command's output at that verbosity whatever ``no_log``
says, so the task warns once there (``OUTPUT_SHOWN_WARNING``).
"""

from __future__ import annotations

from ansible.module_utils.compat.version import LooseVersion
from ansible.release import __version__ as CORE_VERSION
from ansible.utils.display import Display

from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure
from ansible_collections.imds.azure.plugins.plugin_utils._commands import CommandTimeout, run_bounded

display = Display()

REQUEST_MODULE = "imds.azure.win_metadata_request"
HOST_MODULE = "imds.azure.win_metadata_host"
ROUTE_MODULE = "imds.azure.win_metadata_route"

# Seconds a module run may take beyond its own work before the controller stops waiting for the
# connection: starting PowerShell, compiling Ansible.Basic, the connection's round trips
# (a connection can hang on its own: ansible.windows#838).
MODULE_SLACK = 60

OUTPUT_SHOWN_WARNING = ("ansible-core %s prints the output of every Windows module at verbosity 5 (-vvvvv) over winrm "
                        "and psrp whatever no_log says: the IMDS answers of this task (they can hold tokens and user data) "
                        "are in that output; ansible-core 2.18 and later keep it out")


class RemoteModuleError(ActionFailure):
    """A module run on the target did not give the module's answer.

    ``kind`` is ``command`` (PowerShell could not run it: constrained language mode, cmd.exe's
    limit, a module error...) or ``timeout`` (the connection did not return).
    """

    kind = "command"


def prints_output_regardless(connection):
    """True for the connections that print module output at -vvvvv ignoring no_log (winrm, psrp before 2.18)."""
    transport = str(getattr(connection, "transport", "")).rsplit(".", 1)[-1]
    return transport in ("winrm", "psrp") and LooseVersion(CORE_VERSION) < LooseVersion("2.18")


def failure_text(result, limit=300):
    """The module result's message and the start of its standard error, on one line (never its output)."""
    text = " ".join(str(result.get("msg") or "no message").split())
    stderr = " ".join(str(result.get("module_stderr") or "").split())
    if stderr and stderr not in text:
        text += ": " + stderr
    return text[:limit]


class WindowsModules(object):
    """The collection's PowerShell modules for one task on a Windows target."""

    def __init__(self, action, task_vars=None):
        self._action = action
        self._task_vars = task_vars or {}
        self._warned = False

    def run(self, name, args, limit, secret=False):
        """The result of module ``name`` with ``args``; RemoteModuleError(kind timeout) when the
        connection does not return within ``limit`` + MODULE_SLACK seconds. ``secret``: no_log."""
        action = self._action
        if secret and not self._warned and display.verbosity >= 5 and prints_output_regardless(action._connection):
            self._warned = True
            display.warning(OUTPUT_SHOWN_WARNING % CORE_VERSION)
        contexts = [action._play_context, getattr(action._connection, "_play_context", None), action._task]
        saved = [(item, item.no_log) for item in contexts if item is not None]
        if secret:
            for item, dummy in saved:
                item.no_log = True
        try:
            return run_bounded(lambda: action._execute_module(module_name=name, module_args=dict(args), task_vars=self._task_vars),
                               limit + MODULE_SLACK)
        except CommandTimeout as exc:
            raise RemoteModuleError("%s did not return from the connection: %s" % (name, exc), kind="timeout")
        finally:
            for item, value in saved:
                item.no_log = value
