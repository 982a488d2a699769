# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run short commands on a target over the task's connection, each one bounded in time.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

This is the controller-side half of the pattern ``ansible.windows.win_reboot`` uses: an
action plugin runs a few small, read-only commands through
``ActionBase._low_level_execute_command`` (no module is shipped to the target), parses
their output on the controller, and runs at most one change command. Used by the
``imds.azure.metadata_route`` action; meant to be reused by any action that needs the same
(for example a Windows transport for the facts module).

A PowerShell command line is at most MAX_COMMAND_LINE characters: winrm (and ssh with the
cmd shell) hand it to cmd.exe, which stops at 8191 characters, truncating the command
silently. A longer script travels on stdin instead (base64 of its UTF-8 text, read from
``$input`` the way ansible-core's own bootstrap wrapper reads its payload); the command
line then only carries the small timeout wrapper.

Every command gets two bounds:

* on the target: POSIX commands run under ``timeout N`` (when the target has it) and
  PowerShell scripts run in a separate runspace that is stopped after N seconds. Either
  way the command exits with rc 124 and a marker on stderr when the bound is hit;
* on the controller: the call into the connection runs in a worker thread that is
  abandoned after N + GRACE seconds, because a connection can hang on its own
  (ansible.windows#838). The task then fails; the worker process ends with the task.

Usage::

    runner = CommandRunner(action, timeout=20)
    res = runner.posix(["ip", "-j", "-4", "route", "show", "table", "main"])
    res = runner.powershell("Get-NetRoute | ConvertTo-Json")
    res.rc, res.stdout, res.stderr, res.command
"""

from __future__ import annotations

import base64
import shlex
import threading

from ansible.errors import AnsibleError

TIMEOUT_RC = 124
TIMEOUT_MARKER = "imds.azure: command timed out"
CONTROLLER_GRACE = 15

# How PowerShell is started, the way ansible-core and win_reboot do it. Connections that
# already run PowerShell (winrm, psrp) pass a command containing " -EncodedCommand " as is.
_PWSH_PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "

# cmd.exe's limit is 8191 characters; keep a margin for what a connection adds.
MAX_COMMAND_LINE = 8000

# What replaces the quoted base64 body when the script comes on stdin: every input line
# joined (psrp passes stdin as lines, powershell.exe as one stream).
_STDIN_BODY = "((@($input) -join '').Trim())"

# Runs the real script (base64 of its UTF-8 text) in its own runspace so that it can be
# stopped after the timeout; prints its output and errors, exits 124 on timeout, 1 when the
# script failed. Placeholders are replaced by str.replace, never by %-formatting.
_PWSH_WRAPPER = """\
$ErrorActionPreference = 'Stop'
$imdsBody = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('@BODY@'))
$imdsPs = [PowerShell]::Create()
[void]$imdsPs.AddScript($imdsBody)
$imdsAsync = $imdsPs.BeginInvoke()
if (-not $imdsAsync.AsyncWaitHandle.WaitOne(@MILLIS@)) {
    [void]$imdsPs.BeginStop($null, $null)
    [Console]::Error.WriteLine('@MARKER@ after @SECONDS@ seconds')
    exit @TIMEOUT_RC@
}
$imdsRc = 0
try {
    foreach ($imdsItem in $imdsPs.EndInvoke($imdsAsync)) { [Console]::Out.WriteLine([string]$imdsItem) }
} catch {
    $imdsErr = $_.Exception
    if ($null -ne $imdsErr.InnerException) { $imdsErr = $imdsErr.InnerException }
    [Console]::Error.WriteLine($imdsErr.Message)
    $imdsRc = 1
}
foreach ($imdsItem in $imdsPs.Streams.Error) { [Console]::Error.WriteLine([string]$imdsItem); $imdsRc = 1 }
exit $imdsRc
"""


class CommandTimeout(AnsibleError):
    """A command did not finish within its timeout."""


class CommandResult:
    """What a command returned. ``command`` is the human-readable form (not the encoded one)."""

    def __init__(self, rc, stdout, stderr, command):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.command = command

    def __repr__(self):
        return "CommandResult(rc=%r, command=%r)" % (self.rc, self.command)


def encode_powershell(script):
    """The command line that runs ``script`` with powershell.exe (UTF-16LE base64)."""
    return _PWSH_PREFIX + base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def decode_powershell(command):
    """Inverse of encode_powershell (tests, debugging); None when not an encoded command."""
    if not command.startswith(_PWSH_PREFIX):
        return None
    return base64.b64decode(command[len(_PWSH_PREFIX):]).decode("utf-16-le")


def powershell_with_timeout(script, timeout, stdin=False):
    """Wrap ``script`` so that it is stopped (rc 124) after ``timeout`` seconds.

    With ``stdin`` the wrapper reads the script from its input instead (send
    ``stdin_payload(script)`` as the command's input).
    """
    wrapped = _PWSH_WRAPPER
    if stdin:
        wrapped = wrapped.replace("'@BODY@'", _STDIN_BODY)
    else:
        wrapped = wrapped.replace("@BODY@", base64.b64encode(script.encode("utf-8")).decode("ascii"))
    for key, value in (("@MILLIS@", str(int(timeout * 1000))), ("@SECONDS@", str(timeout)),
                       ("@MARKER@", TIMEOUT_MARKER), ("@TIMEOUT_RC@", str(TIMEOUT_RC))):
        wrapped = wrapped.replace(key, value)
    return wrapped


def stdin_payload(script):
    """The input that carries ``script`` to a wrapper built with ``stdin=True`` (one ASCII line)."""
    return (base64.b64encode(script.encode("utf-8")).decode("ascii") + "\n").encode("ascii")


def powershell_command(script, timeout):
    """(command line, input or None) that runs ``script`` bounded by ``timeout``.

    The script is inside the command line when that stays within MAX_COMMAND_LINE, else on stdin.
    """
    command = encode_powershell(powershell_with_timeout(script, timeout))
    if len(command) <= MAX_COMMAND_LINE:
        return command, None
    return encode_powershell(powershell_with_timeout(script, timeout, stdin=True)), stdin_payload(script)


def unwrap_powershell(command, in_data=None):
    """The inner script of a command built by CommandRunner.powershell (tests, debugging).

    ``in_data`` is the command's input, which carries the script of a long command.
    """
    wrapper = decode_powershell(command)
    if wrapper is None:
        return None
    marker = "FromBase64String('"
    if marker not in wrapper:
        if _STDIN_BODY not in wrapper or not in_data:
            return None
        data = in_data.decode("ascii") if isinstance(in_data, bytes) else in_data
        return base64.b64decode("".join(data.split())).decode("utf-8")
    start = wrapper.index(marker) + len(marker)
    return base64.b64decode(wrapper[start:wrapper.index("'", start)]).decode("utf-8")


def posix_with_timeout(argv, timeout, env=None):
    """A /bin/sh command line running ``argv`` under ``timeout`` when the target has it.

    ``env`` (dict) is exported first; LC_ALL=C is always set so that messages are not
    localised.
    """
    variables = {"LC_ALL": "C"}
    variables.update(env or {})
    prefix = " ".join("%s=%s" % (key, shlex.quote(str(value))) for key, value in sorted(variables.items()))
    command = " ".join(shlex.quote(str(arg)) for arg in argv)
    return ("%s; export %s; if command -v timeout >/dev/null 2>&1; then timeout %d %s; else %s; fi"
            % (prefix, " ".join(sorted(variables)), int(timeout), command, command))


class CommandRunner:
    """Runs commands for an action plugin through its connection, each bounded in time."""

    def __init__(self, action, timeout=30, grace=CONTROLLER_GRACE, sudoable=True):
        self._action = action
        self.timeout = timeout
        self.grace = grace
        self.sudoable = sudoable
        self.history = []  # CommandResult of every command run, in order

    def _execute(self, cmd, sudoable, timeout, in_data=None):
        box = {}
        kwargs = {"sudoable": sudoable}
        if in_data is not None:
            kwargs["in_data"] = in_data

        def target():
            try:
                box["result"] = self._action._low_level_execute_command(cmd, **kwargs)
            except BaseException as exc:  # pylint: disable=broad-exception-caught
                box["error"] = exc

        worker = threading.Thread(target=target, name="imds-azure-command", daemon=True)
        worker.start()
        worker.join(timeout + self.grace)
        if worker.is_alive():
            raise CommandTimeout("the connection did not return within %s seconds" % (timeout + self.grace))
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _finish(self, raw, display, check_timeout, timeout):
        result = CommandResult(raw.get("rc", 0) or 0, raw.get("stdout", "") or "", raw.get("stderr", "") or "", display)
        self.history.append(result)
        if check_timeout and result.rc == TIMEOUT_RC:
            raise CommandTimeout("command timed out after %s seconds on the target: %s" % (timeout, display))
        return result

    def posix(self, argv, env=None, check_timeout=True, timeout=None):
        """Run ``argv`` (list) with /bin/sh on a POSIX target; returns CommandResult.

        ``timeout`` (seconds) overrides the runner's timeout for this command.
        """
        timeout = self.timeout if timeout is None else timeout
        display = " ".join(shlex.quote(str(arg)) for arg in argv)
        raw = self._execute(posix_with_timeout(argv, timeout, env=env), self.sudoable, timeout)
        return self._finish(raw, display, check_timeout, timeout)

    def powershell(self, script, display=None, check_timeout=True, timeout=None):
        """Run a PowerShell script on a Windows target; returns CommandResult.

        ``timeout`` (seconds) overrides the runner's timeout for this command. Low-level
        commands cannot use become on Windows: the connection user must already have the
        rights the script needs.
        """
        timeout = self.timeout if timeout is None else timeout
        command, in_data = powershell_command(script, timeout)
        raw = self._execute(command, False, timeout, in_data)
        return self._finish(raw, display or script, check_timeout, timeout)
