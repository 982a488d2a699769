# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run short commands on a target over the task's connection, each one bounded in time.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

This is the controller-side half of the pattern ``ansible.windows.win_reboot`` uses: an
action plugin runs a few small, read-only commands through
``ActionBase._low_level_execute_command`` (no module is shipped to the target), parses
their output on the controller, and runs at most one change command. Used by the
``imds.azure.metadata_route`` action and by the Windows transport of the IMDS client.

Every command gets two bounds:

* on the target: POSIX commands run under ``timeout N`` (when the target has it) and
  PowerShell scripts run in a separate runspace that is stopped after N seconds;
* on the controller: the call into the connection runs in a worker thread that is
  abandoned after N + GRACE seconds, because a connection can hang on its own
  (ansible.windows#838). The task then fails; the worker process ends with the task.

How a PowerShell script travels (one design for winrm, psrp and ssh on every supported
ansible-core; docs/docsite/rst/windows.rst has the table):

* The command line is always the same short bootstrap (BOOTSTRAP_COMMAND, about 400
  characters). winrm on ansible-core 2.16 to 2.18 and ssh on 2.16/2.17 wrap every command
  in ``powershell -EncodedCommand`` once more (about 8/3 of its length) and winrm and ssh
  with the cmd shell hand it to cmd.exe, which refuses more than 8,191 characters; the
  bootstrap stays near 1,200 characters after that.
* Everything else travels on the command's input, which no connection prints at any
  verbosity: the stage-two script (timeout wrapper, the real script, a fresh 64-byte key).
  The bootstrap reads ``$input`` joined, so it works however the input arrives (lines for
  powershell.exe and psrp on 2.19+, one string for psrp on 2.16 to 2.18).
* The result comes back as ONE pipeline output line, RESULT_MARKER + base64 of
  IV | AES-256-CBC(JSON rc, timeout, out, err) | HMAC-SHA256. Pipeline output is what every
  connection returns: psrp runs the script in a remote runspace and returns only the
  pipeline and host streams (``[Console]::Out`` writes are lost), powershell.exe prints
  it. The exit code of the process is not used: an outer ``powershell -EncodedCommand``
  turns any non-zero inner exit code into 1 (PowerShell/PowerShell#13501), so a timeout
  (rc 124) is reported inside the result.
* The key exists only on the controller and in the command's input. winrm and psrp of
  ansible-core 2.16/2.17 print command output at -vvvvv whatever ``no_log`` says; what they
  print is the ciphertext, which nobody can read after the task.

Usage::

    runner = CommandRunner(action, timeout=20)
    res = runner.posix(["ip", "-j", "-4", "route", "show", "table", "main"])
    res = runner.powershell("Get-NetRoute | ConvertTo-Json")
    res.rc, res.stdout, res.stderr, res.command
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import shlex
import threading

from ansible.errors import AnsibleError

from ansible_collections.imds.azure.plugins.plugin_utils._action_module import ActionFailure
from ansible_collections.imds.azure.plugins.plugin_utils import _powershell

try:
    from cryptography.hazmat.primitives import padding as _padding
    from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher, algorithms as _algorithms, modes as _modes
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - a dependency of ansible-core itself
    HAS_CRYPTOGRAPHY = False

TIMEOUT_RC = 124
TIMEOUT_MARKER = "imds.azure: command timed out"
CONTROLLER_GRACE = 15
RESULT_MARKER = "IMDS-AZURE-RESULT:"

# How PowerShell is started, exactly as ansible-core's powershell shell plugin does it
# (``_common_args`` in plugins/shell/powershell.py of every supported core): psrp
# recognises this prefix and runs the decoded script in its runspace, winrm 2.19/2.20 pass
# a command with this prefix through without encoding it again.
_PWSH_PREFIX = "PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand "

# Stage one, the whole command line: run the stage-two script that comes on the input.
BOOTSTRAP = "&([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String((@($input) -join '').Trim()))))"

# Stage two, the "command" script (inputs: $imdsKey, $imdsScript, $imdsWaitMs, $imdsTimeoutRc,
# $imdsTimeoutMessage, $imdsResultMarker; see _powershell for the layout): runs the real script in
# its own runspace so that it can be stopped after the timeout, and emits the encrypted result as
# the only pipeline output.
_STAGE_TWO = """\
$ErrorActionPreference = 'Stop'
$imdsResult = [ordered]@{ rc = 0; timeout = $false; out = @(); err = @() }
$imdsPs = [PowerShell]::Create()
try {
    [void]$imdsPs.AddScript([Text.Encoding]::UTF8.GetString($imdsScript))
    $imdsAsync = $imdsPs.BeginInvoke()
    if ($imdsAsync.AsyncWaitHandle.WaitOne($imdsWaitMs)) {
        try {
            $imdsResult.out = @(foreach ($imdsItem in $imdsPs.EndInvoke($imdsAsync)) { [string]$imdsItem })
        } catch {
            $imdsErr = $_.Exception
            if ($null -ne $imdsErr.InnerException) { $imdsErr = $imdsErr.InnerException }
            $imdsResult.err += [string]$imdsErr.Message
            $imdsResult.rc = 1
        }
        foreach ($imdsItem in $imdsPs.Streams.Error) { $imdsResult.err += [string]$imdsItem; $imdsResult.rc = 1 }
    } else {
        [void]$imdsPs.BeginStop($null, $null)
        $imdsResult.rc = $imdsTimeoutRc
        $imdsResult.timeout = $true
        $imdsResult.err += $imdsTimeoutMessage
    }
} catch {
    $imdsResult.rc = 1
    $imdsResult.err += [string]$_.Exception.Message
}
$imdsPlain = [Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $imdsResult -Compress -Depth 3))
$imdsAes = [Security.Cryptography.Aes]::Create()
$imdsAes.Mode = [Security.Cryptography.CipherMode]::CBC
$imdsAes.Padding = [Security.Cryptography.PaddingMode]::PKCS7
$imdsAes.Key = [byte[]]$imdsKey[0..31]
$imdsAes.GenerateIV()
$imdsCipher = $imdsAes.CreateEncryptor().TransformFinalBlock($imdsPlain, 0, $imdsPlain.Length)
$imdsData = [byte[]]($imdsAes.IV + $imdsCipher)
$imdsMac = [Security.Cryptography.HMACSHA256]::new([byte[]]$imdsKey[32..63])
$imdsResultMarker + [Convert]::ToBase64String([byte[]]($imdsData + $imdsMac.ComputeHash($imdsData)))
"""


class CommandTimeout(ActionFailure):
    """A command did not finish within its timeout."""

    kind = "timeout"


class RemoteCommandError(ActionFailure):
    """A command on the target did not produce the expected output (not an IMDS answer).

    ``kind`` is ``command`` (the script failed: PowerShell error, constrained language mode...)
    or ``timeout`` (the connection did not return).
    """

    kind = "command"


class CommandResult:
    """What a command returned. ``command`` is the human-readable form (not the encoded one).

    ``answered`` is False for a PowerShell command whose result line did not come back (the
    script never ran, or its output was lost): then rc, stdout and stderr are the
    connection's own, which usually explain why (cmd.exe's "The command line is too long.").
    """

    def __init__(self, rc, stdout, stderr, command, answered=True):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.command = command
        self.answered = answered

    def __repr__(self):
        return "CommandResult(rc=%r, command=%r)" % (self.rc, self.command)

    @property
    def timed_out(self):
        """The target stopped the command after its timeout (never inferred from a lost result)."""
        return self.answered and self.rc == TIMEOUT_RC

    def failure(self, limit=500):
        """A one-line account of a failed command for messages: rc and the first words of its output."""
        text = " ".join((self.stderr or self.stdout or "no output").split())[:limit]
        if not self.answered:
            return "the command's result did not come back (rc %s): %s" % (self.rc, text)
        return "rc %s: %s" % (self.rc, text)


def encode_powershell(script):
    """The command line that runs ``script`` with powershell.exe (UTF-16LE base64)."""
    return _PWSH_PREFIX + base64.b64encode(script.encode("utf-16-le")).decode("ascii")


BOOTSTRAP_COMMAND = encode_powershell(BOOTSTRAP)


class PowerShellCommand:
    """One PowerShell command: ``command`` (the bootstrap), ``in_data`` (stage two) and the key."""

    def __init__(self, script, timeout):
        self.key = os.urandom(64)  # AES-256 key, then HMAC-SHA256 key; for this command only
        stage_two = _powershell.script("command", _STAGE_TWO, imdsKey=self.key, imdsScript=script.encode("utf-8"),
                                       imdsWaitMs=int(timeout * 1000), imdsTimeoutRc=TIMEOUT_RC,
                                       imdsTimeoutMessage="%s after %s seconds" % (TIMEOUT_MARKER, timeout), imdsResultMarker=RESULT_MARKER)
        self.command = BOOTSTRAP_COMMAND
        self.in_data = (base64.b64encode(stage_two.encode("utf-8")).decode("ascii") + "\n").encode("ascii")

    def decode(self, stdout):
        """The result dict (rc, timeout, out, err) from the command's output; None when there is none.

        The LAST result line counts; anything around it (a UTF-8 byte order mark, progress
        records, blank lines) is ignored. A line whose MAC does not verify is no result.
        """
        payload = _powershell.result_payload(stdout, RESULT_MARKER)
        if payload is None:
            return None
        try:
            blob = base64.b64decode(payload.encode("ascii"), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(blob) < 16 + 16 + 32:
            return None
        data, tag = blob[:-32], blob[-32:]
        if not hmac.compare_digest(hmac.new(self.key[32:], data, hashlib.sha256).digest(), tag):
            return None
        if not HAS_CRYPTOGRAPHY:
            raise AnsibleError("the Python library 'cryptography' (a dependency of ansible-core) is needed on the controller")
        decryptor = _Cipher(_algorithms.AES(self.key[:32]), _modes.CBC(data[:16])).decryptor()
        padded = decryptor.update(data[16:]) + decryptor.finalize()
        unpadder = _padding.PKCS7(128).unpadder()
        try:
            result = json.loads((unpadder.update(padded) + unpadder.finalize()).decode("utf-8"))
        except ValueError:
            return None
        return result if isinstance(result, dict) else None


def _lines(value):
    """ConvertTo-Json gives a list, a single string or null for the out/err arrays."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)]


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

    def _finish(self, result, check_timeout, timeout):
        self.history.append(result)
        if check_timeout and result.timed_out:
            raise CommandTimeout("command timed out after %s seconds on the target: %s" % (timeout, result.command))
        return result

    def posix(self, argv, env=None, check_timeout=True, timeout=None):
        """Run ``argv`` (list) with /bin/sh on a POSIX target; returns CommandResult.

        ``timeout`` (seconds) overrides the runner's timeout for this command.
        """
        timeout = self.timeout if timeout is None else timeout
        display = " ".join(shlex.quote(str(arg)) for arg in argv)
        raw = self._execute(posix_with_timeout(argv, timeout, env=env), self.sudoable, timeout)
        return self._finish(CommandResult(raw.get("rc", 0) or 0, raw.get("stdout", "") or "", raw.get("stderr", "") or "", display),
                            check_timeout, timeout)

    def powershell(self, script, display=None, check_timeout=True, timeout=None):
        """Run a PowerShell script on a Windows target; returns CommandResult.

        ``timeout`` (seconds) overrides the runner's timeout for this command. Low-level
        commands cannot use become on Windows: the connection user must already have the
        rights the script needs.
        """
        timeout = self.timeout if timeout is None else timeout
        command = PowerShellCommand(script, timeout)
        raw = self._execute(command.command, False, timeout, command.in_data)
        data = command.decode(raw.get("stdout"))
        if data is None:
            result = CommandResult(raw.get("rc") or 1, raw.get("stdout", "") or "", raw.get("stderr", "") or "",
                                   display or script, answered=False)
        else:
            rc = TIMEOUT_RC if data.get("timeout") else data.get("rc")
            result = CommandResult(rc if isinstance(rc, int) else 1, "\n".join(_lines(data.get("out"))),
                                   "\n".join(_lines(data.get("err"))), display or script)
        return self._finish(result, check_timeout, timeout)
