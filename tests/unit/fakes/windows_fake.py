# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake Windows host: it receives ansible-core's real module payload and answers as the
collection's PowerShell modules would, the way Windows would.

Layers, each modelled on documentation or on ansible-core's own scripts (cited next to each rule):

* processes: ``cmd_exe`` (cmd.exe /c, what WinRS and OpenSSH with the cmd default shell
  run), ``powershell_default_shell`` (OpenSSH with PowerShell as default shell) and
  ``process`` (powershell.exe with ``-EncodedCommand``: stdin lines are ``$input``, pipeline
  output goes to stdout, error records to stderr);
* ``runspace``: one script in a PowerShell runspace, the layer psrp talks to. The only script
  the collection's Windows path sends is ansible-core's bootstrap wrapper with its payload on
  the input (``ActionBase._execute_module``): the fake finds the exec wrapper's manifest in that
  input as the bootstrap of the running core does (2.16 to 2.18: the input joined by
  ``Out-String`` and split at four NUL characters, exec wrapper then JSON; 2.19 and later: JSON
  lines up to a line of four NULs, then the exec manifest), takes the module script and its
  arguments from it, and recognises the collection's module by its exact text (the shipped
  plugins/modules/*.ps1). It validates the arguments against the module's own ``$spec`` (read
  from the script with tree-sitter-powershell) as Ansible.Basic does, and answers with the
  module's JSON as pipeline output (module_wrapper.ps1 captures [Console]::Out "for things like
  async or psrp");
* the modules: ``win_metadata_request`` (an HTTP exchange with http.client against the URL it
  names, with the module's bounds), ``win_metadata_host`` (SMBIOS table, CIM, environment) and
  ``win_metadata_route`` (the route cmdlets and route.exe against ``FakeNetwork``).

Nothing here uses the collection's own Python code. Used by the unit tests (with the real
ansible-core connection plugins in windows_wire.py), by bench/windows.py and by the fakewin
connection of the integration tests.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import http.client
import json
import os
import re
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

import tree_sitter
import tree_sitter_powershell
from ansible.plugins.connection import ConnectionBase
from ansible.plugins.loader import shell_loader

from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures

AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"
MICROSOFT = "Microsoft Corporation"
HANG = "hang"  # an override's answer: the module does not return (until ``release``)

# cmd.exe: "The maximum length of the string that you can use at the command prompt is 8191
# characters" (Microsoft, "Command prompt (Cmd.exe) command-line string limitation"); a
# longer line is refused with this message and exit code 1 (WinRb/WinRM#41, pywinrm#184).
CMD_MAX = 8191
CMD_TOO_LONG = "The command line is too long.\r\n"
# CreateProcess: lpCommandLine "can be up to 32,767 characters" (Win32 API reference).
CREATE_PROCESS_MAX = 32767

# How ansible-core's powershell shell plugin starts PowerShell (``_common_args``), the command line of every process.
_PWSH_RE = re.compile(r"^PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand '?(\S+?)'?$", re.I)
# The constrained language mode refusal (PowerShell's ParserStrings / about_Language_Modes).
CLM_REFUSAL = "Cannot invoke method. Method invocation is supported only on core types in this language mode."
MODULES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir, "plugins", "modules")
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
# An array_literal_expression of one element only wraps it; of several, it is a list ("a", "b").
_VALUE_NODES = ("hash_literal_expression", "string_literal", "integer_literal", "variable", "array_expression")


# --------------------------------------------------------------------------- the modules' own specs

def _unwrap(node):
    while node.type not in _VALUE_NODES and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _literal(source, node):
    """The value of a literal in a module's ``$spec``: hashtables, arrays, strings, integers, $true/$false/$null."""
    node = _unwrap(node)
    text = source[node.start_byte:node.end_byte].decode("utf-8")
    if node.type == "hash_literal_expression":
        entries = [entry for child in node.named_children
                   for entry in (child.named_children if child.type == "hash_literal_body" else [child]) if entry.type == "hash_entry"]
        return dict((source[entry.named_children[0].start_byte:entry.named_children[0].end_byte].decode("utf-8").strip("'"),
                     _literal(source, entry.named_children[-1])) for entry in entries)
    if node.type == "array_expression":
        if not node.named_children:
            return []
        inner = _unwrap(node.named_children[0])
        items = inner.named_children if inner.type == "array_literal_expression" else [inner]
        return [_literal(source, item) for item in items]
    if node.type == "array_literal_expression":
        return [_literal(source, item) for item in node.named_children]
    if node.type == "string_literal":
        return text[1:-1].replace("''", "'")
    if node.type == "integer_literal":
        return int(text)
    if node.type == "variable" and text.lower() in ("$true", "$false", "$null"):
        return {"$true": True, "$false": False, "$null": None}[text.lower()]
    raise ValueError("not a literal in a module spec: %r" % text)


def module_spec(script):
    """The ``$spec = @{...}`` a module passes to AnsibleModule::Create, as Python data."""
    source = script.encode("utf-8")
    stack = [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "assignment_expression" and source[node.start_byte:node.end_byte].startswith(b"$spec"):
            return _literal(source, node.children[-1])
        stack.extend(node.children)
    raise ValueError("no $spec in the module")


def shipped_modules():
    """{sha256 of the text: module name} of the collection's PowerShell modules."""
    found = {}
    for name in sorted(os.listdir(MODULES_DIR)):
        if name.endswith(".ps1"):
            with open(os.path.join(MODULES_DIR, name), "rb") as handle:
                found[hashlib.sha256(handle.read()).hexdigest()] = name[:-4]
    return found


class ModuleFailure(Exception):
    """What Ansible.Basic's FailJson reports."""


def _convert(name, kind, value):
    """Ansible.Basic's type conversion for the types the collection's specs use (Ansible.Basic.cs, optionTypes)."""
    if kind == "str":
        return value if isinstance(value, str) else str(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
            raise ModuleFailure("argument for %s is of type %s and we were unable to convert to int" % (name, type(value).__name__))
        return int(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).lower()
        if lowered in ("yes", "on", "1", "true", "y", "t"):
            return True
        if lowered in ("no", "off", "0", "false", "n", "f"):
            return False
        raise ModuleFailure("argument for %s is of type %s and we were unable to convert to bool" % (name, type(value).__name__))
    if kind in ("dict", "list"):
        if not isinstance(value, dict if kind == "dict" else list):
            raise ModuleFailure("argument for %s is of type %s and we were unable to convert to %s" % (name, type(value).__name__, kind))
        return value
    raise AssertionError("the fake does not model option type %s" % kind)


def validate(spec, params, context="module"):
    """``params`` checked and completed as Ansible.Basic's CheckArguments does: unsupported names,
    required options, types (list elements and suboptions too), choices, defaults."""
    options = spec["options"]
    unknown = sorted(name for name in params if name not in options and not name.startswith("_ansible_"))
    if unknown:
        raise ModuleFailure("Unsupported parameters for (%s) module: %s. Supported parameters include: %s"
                            % (context, ", ".join(unknown), ", ".join(sorted(options))))
    missing = sorted(name for name, option in options.items() if option.get("required") and params.get(name) is None)
    if missing:
        raise ModuleFailure("missing required arguments: %s" % ", ".join(missing))
    out = {}
    for name, option in options.items():
        value = params.get(name)
        if value is None:
            out[name] = copy.deepcopy(option.get("default"))
            continue
        value = _convert(name, option.get("type", "str"), value)
        if option.get("type") == "list" and option.get("elements"):
            value = [_convert(name, option["elements"], item) for item in value]
            if option.get("options"):
                value = [validate({"options": option["options"]}, item, context) for item in value]
        if option.get("choices") and value not in option["choices"]:
            raise ModuleFailure("value of %s must be one of: %s. Got no match for: %s" % (name, ", ".join(option["choices"]), value))
        out[name] = value
    return out


def build_smbios(asset_tag=AZURE_TAG, vendor=MICROSOFT, header=True):
    """A raw SMBIOS table (registry layout) with a BIOS, system (type 1) and enclosure (type 3) structure."""

    def structure(kind, handle, formatted, strings):
        body = struct.pack("<BBH", kind, 4 + len(formatted), handle) + formatted
        text = b"".join(s.encode("ascii") + b"\x00" for s in strings)
        return body + (text + b"\x00" if text else b"\x00\x00")

    table = structure(0, 0, bytes([1, 2, 0, 0xE8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), ["American Megatrends Inc.", "090008"])
    if vendor is not None:
        table += structure(1, 1, bytes([1, 2, 3, 0]) + b"\x00" * 21, [vendor, "Virtual Machine", "7.0"])
    if asset_tag is not None:
        strings = [MICROSOFT, "7.0", "0000-0000"] + ([asset_tag] if asset_tag else [])
        table += structure(3, 3, bytes([1, 3, 2, 3, 4 if asset_tag else 0]) + b"\x00" * 12, strings)
    table += structure(127, 0xFEFF, b"", [])
    if not header:
        return table
    return struct.pack("<BBBBI", 0, 3, 1, 0, len(table)) + table


class ScriptRun(object):
    """What one script did in a runspace; each transport maps it to what it returns."""

    def __init__(self):
        self.pipeline = []     # pipeline output (strings)
        self.console_err = []  # [Console]::Error writes and a native command's stderr
        self.errors = []       # error records (the error stream)
        self.exit = None       # the argument of ``exit``, if the script called it

    def process_result(self):
        """(rc, stdout, stderr) of powershell.exe running the script as -EncodedCommand.

        Output goes to stdout line by line; the exit code is ``exit``'s argument, else 1
        when the last statement failed and 0 otherwise (about_Powershell_exe: "the exit
        code is 0 ... 1 when the script ... fails"; approximated by "an error record was
        written").
        """
        stdout = "".join(line + "\r\n" for line in self.pipeline)
        stderr = "".join(line + "\r\n" for line in self.console_err + self.errors)
        rc = self.exit if self.exit is not None else (1 if self.errors else 0)
        return rc, stdout, stderr


class FakeNetwork(object):
    """The routing state of a Windows host and the route cmdlets and route.exe acting on it.

    Routes are dicts in Get-NetRoute's shape (DestinationPrefix, NextHop, InterfaceIndex,
    InterfaceAlias, RouteMetric) plus ``bound`` (route.exe: added with ``IF``).
    """

    def __init__(self, active=(), persistent=(), admin=True, netroute=True):
        self.interfaces = copy.deepcopy(route_fixtures.INTERFACES)
        self.addresses = copy.deepcopy(route_fixtures.ADDRESSES)
        self.active = [dict(route, bound=True) for route in route_fixtures.DEFAULTS + [route_fixtures.CLUSTER_16] + list(active)]
        self.persistent = [dict(route, bound=True) for route in persistent]
        self.admin = admin
        self.netroute = netroute
        self.changes = []  # every change command carried out, in order

    # ------------------------------------------------------------------ helpers

    def _alias(self, index):
        return next((item["InterfaceAlias"] for item in self.interfaces if item["InterfaceIndex"] == index), "")

    def _address(self, index):
        return next((item["IPAddress"] for item in self.addresses if item["InterfaceIndex"] == index), "")

    def _index_of(self, address):
        return next((item["InterfaceIndex"] for item in self.addresses if item["IPAddress"] == address), None)

    def _interface_metric(self, index):
        return next((item["InterfaceMetric"] for item in self.interfaces if item["InterfaceIndex"] == index), 0)

    def imds(self, store):
        return [route for route in getattr(self, store) if route["DestinationPrefix"] == "169.254.169.254/32"]

    # ------------------------------------------------------------------ the module

    def module(self, params, check_mode):
        """What win_metadata_route returns: the changes carried out (none in check mode), then the read."""
        result = {"changed": False}
        if params["changes"] and not check_mode:
            result.update(changed=True, change=self.change(params["changes"]))
        result.update(self.read())
        return result

    def read(self):
        """The read part: Get-NetRoute and friends, or route print and the adapters without NetTCPIP."""
        keep = ("0.0.0.0/0", "169.254.169.254/32", "169.254.0.0/16")
        pick = ("DestinationPrefix", "NextHop", "InterfaceIndex", "InterfaceAlias", "RouteMetric")
        out = {"admin": self.admin, "netroute": self.netroute}
        if self.netroute:
            for store in ("active", "persistent"):
                out[store] = [dict((key, route[key]) for key in pick) for route in getattr(self, store)
                              if route["DestinationPrefix"] in keep]
            out["interfaces"] = copy.deepcopy(self.interfaces)
            out["addresses"] = copy.deepcopy(self.addresses)
        else:
            out["route_print"] = self.route_print()
            out["adapters"] = [{"InterfaceIndex": item["InterfaceIndex"], "IPAddress": [item["IPAddress"]]}
                               for item in self.addresses if item["InterfaceIndex"] != 1]
        return out

    def route_print(self):
        """``route print -4`` in English, laid out as route.exe prints it."""
        def mask(prefix):
            bits = int(prefix.split("/")[1])
            value = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF if bits else 0
            return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))

        rule = "=" * 75
        lines = [rule, "Interface List"]
        for item in self.interfaces:
            lines.append("%3d...00 15 5d 00 00 %02x ......%s" % (item["InterfaceIndex"], item["InterfaceIndex"], item["InterfaceAlias"]))
        lines += [rule, "", "IPv4 Route Table", rule, "Active Routes:",
                  "Network Destination        Netmask          Gateway       Interface  Metric"]
        for route in self.active:
            hop = route["NextHop"]
            lines.append("%17s %16s %16s %16s %6d" % (
                route["DestinationPrefix"].split("/")[0], mask(route["DestinationPrefix"]),
                "On-link" if hop == "0.0.0.0" else hop, self._address(route["InterfaceIndex"]),
                route["RouteMetric"] + self._interface_metric(route["InterfaceIndex"])))
        lines += [rule, "Persistent Routes:"]
        if self.persistent:
            lines.append("  Network Address          Netmask  Gateway Address  Metric")
            for route in self.persistent:
                hop = route["NextHop"] if route["NextHop"] != "0.0.0.0" else self._address(route["InterfaceIndex"])
                lines.append("  %15s %16s %16s %7d" % (route["DestinationPrefix"].split("/")[0], mask(route["DestinationPrefix"]),
                                                       hop, route["RouteMetric"]))
        else:
            lines.append("  None")
        lines.append(rule)
        return "\r\n".join(lines) + "\r\n"

    # ------------------------------------------------------------------ NetTCPIP cmdlets

    def _key_match(self, route, prefix, index, hop):
        return route["DestinationPrefix"] == prefix and route["InterfaceIndex"] == index and route["NextHop"] == hop

    def new_netroute(self, prefix, index, hop, metric, store):
        """New-NetRoute, as Microsoft's NetTCPIP reference (winserver2022-ps, New-NetRoute) says.

        -PolicyStore: "PersistentStore. Cannot be used." and "By default, a route is saved in
        both stores. Use this parameter only when you need to create a route in just the
        ActiveStore." The refusal is confirmed in MicrosoftDocs/windows-powershell-docs#521
        (the error text is not documented; this one is the fake's own). The CIM provider
        refuses a second route with the same key (prefix, interface, next hop).
        """
        if store == "PersistentStore":
            raise FakeCmdletError("New-NetRoute : Invalid parameter PolicyStore PersistentStore", "InvalidArgument")
        stores = ["active"] if store == "ActiveStore" else ["active", "persistent"]
        for name in stores:
            if any(self._key_match(route, prefix, index, hop) for route in getattr(self, name)):
                raise FakeCmdletError("New-NetRoute : Instance MSFT_NetRoute already exists", "AlreadyExists")
        for name in stores:
            getattr(self, name).append({"DestinationPrefix": prefix, "NextHop": hop, "InterfaceIndex": index,
                                        "InterfaceAlias": self._alias(index), "RouteMetric": metric, "bound": True})

    def remove_netroute(self, prefix, index, hop, store):
        """Remove-NetRoute -PolicyStore ActiveStore|PersistentStore: that store only (Remove-NetRoute reference)."""
        name = {"ActiveStore": "active", "PersistentStore": "persistent"}[store]
        routes = getattr(self, name)
        matching = [route for route in routes if self._key_match(route, prefix, index, hop)]
        if not matching:
            raise FakeCmdletError("Remove-NetRoute : No matching MSFT_NetRoute objects found", "ObjectNotFound")
        setattr(self, name, [route for route in routes if route not in matching])

    # ------------------------------------------------------------------ route.exe

    def route_exe(self, argv):
        """route.exe (Microsoft's "route" command reference, Windows Server 2016 to 2022); (rc, output).

        * ``add``: "metric ... ranging from 1 to 9999"; ``-p`` "the specified route is added to
          the registry" (and to the active table); ``IF`` "Specifies the interface index for
          the interface over which the destination is reachable ... When the if parameter is
          omitted, the interface is determined from the gateway address": such a persistent
          entry is not bound to an interface (``bound`` False).
        * ``delete``: -p "is ignored for all other commands, which always affect the
          appropriate persistent routes": active and persistent entries go.
        """
        if not self.admin:
            return 1, "The requested operation requires elevation.\r\n"
        persistent = "-p" in argv
        words = [word for word in argv if word != "-p"]
        command, destination = words[0].lower(), words[1]
        prefix = destination + "/32"
        if command == "delete":
            before = len(self.active) + len(self.persistent)
            self.active = [route for route in self.active if route["DestinationPrefix"] != prefix]
            self.persistent = [route for route in self.persistent if route["DestinationPrefix"] != prefix]
            if before == len(self.active) + len(self.persistent):
                return 1, "The route deletion failed: Element not found.\r\n"
            return 0, " OK!\r\n"
        fields, rest, index = {}, [], 2
        while index < len(words):  # route ADD destination [MASK netmask] [gateway] [METRIC metric] [IF interface]
            if words[index].lower() in ("mask", "metric", "if") and index + 1 < len(words):
                fields[words[index].lower()] = words[index + 1]
                index += 2
            else:
                rest.append(words[index])
                index += 1
        gateway = rest[0]
        metric = int(fields.get("metric", "1"))
        if not 1 <= metric <= 9999:
            return 1, "The route addition failed: The parameter is incorrect.\r\n"
        bound = "if" in fields
        index = int(fields["if"]) if bound else self._index_of(gateway)
        hop = "0.0.0.0" if gateway == self._address(index) else gateway
        if any(self._key_match(route, prefix, index, hop) for route in self.active):
            return 1, "The route addition failed: The object already exists.\r\n"
        route = {"DestinationPrefix": prefix, "NextHop": hop, "InterfaceIndex": index, "InterfaceAlias": self._alias(index),
                 "RouteMetric": metric, "bound": bound}
        self.active.append(dict(route))
        if persistent:
            self.persistent.append(dict(route))
        return 0, " OK!\r\n"

    # ------------------------------------------------------------------ the changes

    def change(self, changes):
        """Carry out the module's changes as win_metadata_route.ps1 does: route.exe commands all run and
        each exit code counts; NetTCPIP cmdlets run with -ErrorAction Stop in one try block, so the first
        error ends them. ``denied``: the CIM error's NativeErrorCode is AccessDenied."""
        if any(change["action"].startswith("route_") for change in changes):
            outputs, ok = [], True
            for change in changes:
                if change["action"] == "route_delete":
                    argv = ["delete", "169.254.169.254", "mask", "255.255.255.255"]
                else:
                    argv = (["-p"] if change["persistent"] else []) + [
                        "add", "169.254.169.254", "mask", "255.255.255.255", change["interface_address"],
                        "metric", str(change["metric"]), "IF", str(change["interface_index"])]
                rc, output = self.route_exe(argv)
                self.changes.append("route.exe " + " ".join(argv))
                outputs.append(output)
                ok = ok and rc == 0
            return {"ok": ok, "denied": False, "error": "\n".join(outputs)}
        try:
            for change in changes:
                if not self.admin:
                    raise FakeCmdletError("Access denied", "AccessDenied")
                if change["action"] == "remove":
                    self.changes.append("Remove-NetRoute -InterfaceIndex %s -NextHop %s -PolicyStore %s"
                                        % (change["interface_index"], change["next_hop"], change["store"]))
                    self.remove_netroute("169.254.169.254/32", change["interface_index"], change["next_hop"], change["store"])
                else:
                    store = None if change["persistent"] else "ActiveStore"
                    self.changes.append("New-NetRoute -InterfaceIndex %s -NextHop 0.0.0.0 -RouteMetric %s -PolicyStore %s"
                                        % (change["interface_index"], change["metric"], store))
                    self.new_netroute("169.254.169.254/32", change["interface_index"], "0.0.0.0", change["metric"], store)
        except FakeCmdletError as exc:
            return {"ok": False, "denied": exc.native == "AccessDenied", "error": str(exc)}
        return {"ok": True, "denied": False, "error": ""}


class FakeCmdletError(Exception):
    """A CIM cmdlet error; ``native`` is its NativeErrorCode."""

    def __init__(self, message, native):
        super(FakeCmdletError, self).__init__(message)
        self.native = native


class Request(object):
    """One run of win_metadata_request as the fake host received it (its validated arguments)."""

    def __init__(self, params):
        self.url = params["url"]
        self.method = params["method"]
        self.headers = params["headers"]
        self.body = base64.b64decode(params["body"]) if params["body"] is not None else None
        self.timeout_ms = params["timeout_ms"]
        self.max_bytes = params["max_bytes"]

    @property
    def path(self):
        return urlsplit(self.url).path


def _failure(phase, message, timeout=False, *chain):
    return {"failed": True, "msg": message, "transport_error": {"phase": phase, "timeout": timeout, "chain": [dict(item) for item in chain]}}


class FakeWindowsHost(object):
    """A Windows host: processes, runspaces, ansible-core's exec wrapper and the collection's modules.

    ``smbios``: raw table bytes (False: the registry value is missing; then ``cim`` answers,
    a dict or None for "CIM failed too"). ``env``: the target's environment. ``network``: a
    FakeNetwork. ``edition``: "5.1" (Windows PowerShell) or "7" (PowerShell 7, where
    ``HttpWebRequest.ReadWriteTimeout`` has no effect: dotnet/corefx#34550, so only a module
    that bounds each read itself gives up a stalled body). ``language_mode``: "FullLanguage", or
    "ConstrainedLanguage" (AppLocker/WDAC with nothing signed). ``override``: callable(module
    name, arguments) returning a module result (dict), HANG, (rc, stdout, stderr) of the whole
    process, or None to let the module answer.
    """

    def __init__(self, smbios=None, cim=None, env=None, override=None, network=None, edition="5.1",
                 language_mode="FullLanguage"):
        self.smbios = build_smbios() if smbios is None else smbios
        self.cim = cim
        self.env = dict(env or {})
        self.override = override
        self.network = network or FakeNetwork()
        self.edition = edition
        self.language_mode = language_mode
        self.modules = shipped_modules()
        self.runs = []           # (module name, validated arguments) of every module run, in order
        self.requests = []       # Request of every win_metadata_request run, in order
        self.hostinfo = 0
        self.command_lines = []  # (program, command line) of every process started
        self.payloads = []       # (bootstrap script, exec manifest) of every module run
        self._released = threading.Event()

    def release(self):
        """End every HANG."""
        self._released.set()

    # ------------------------------------------------------------------ processes

    def __call__(self, cmd, in_data=None):
        return self.process(cmd, in_data)

    def cmd_exe(self, command_line, stdin=None):
        """cmd.exe /c COMMAND_LINE: WinRS runs commands so, and OpenSSH with the cmd default shell."""
        self.command_lines.append(("cmd.exe", command_line))
        if len(command_line) > CMD_MAX:
            return 1, "", CMD_TOO_LONG
        first, sep, rest = command_line.partition(" && ")
        if sep and first == "chcp.com 65001 >nul 2>&1":  # ssh (2.16/2.17) with the cmd shell
            command_line = rest
        return self.process(command_line, stdin, started_by="cmd.exe")

    def powershell_default_shell(self, command_line, stdin=None):
        """OpenSSH with PowerShell as default shell: powershell.exe -c COMMAND_LINE."""
        self.command_lines.append(("powershell.exe -c", command_line))
        assert len(command_line) <= CREATE_PROCESS_MAX, "CreateProcess refuses %d characters" % len(command_line)
        first, sep, rest = command_line.partition(" ; ")
        if sep and first == "chcp.com 65001 > $null":  # ssh (2.16/2.17) with the powershell shell
            command_line = rest
        rc, stdout, stderr = self.process(command_line, stdin, started_by="powershell.exe -c")
        return (1 if rc else 0), stdout, stderr  # a failed native command as last statement: exit code 1

    def process(self, command_line, stdin=None, started_by=None):
        """powershell.exe started with COMMAND_LINE; stdin lines are the script's $input."""
        if started_by is None:
            self.command_lines.append(("process", command_line))
        match = _PWSH_RE.match(command_line.strip())
        assert match, "not an encoded PowerShell command: %r" % command_line[:120]
        script = base64.b64decode(match.group(1)).decode("utf-16-le")
        data = stdin.decode("utf-8") if isinstance(stdin, bytes) else (stdin or "")
        return self.runspace(script, data.splitlines(), stdin=stdin).process_result()

    # ------------------------------------------------------------------ one script

    def runspace(self, script, input_objects, stdin=None):
        """Act out ``script`` with ``input_objects`` as $input; a ScriptRun."""
        run = ScriptRun()
        text = script.strip()
        if _PWSH_RE.match(text):
            # The script is one native command (ansible-core's _encode_script of an encoded
            # command line): a child powershell.exe that inherits stdin. A non-zero exit code
            # of a native command makes the script's $? false, so powershell.exe exits 1
            # (PowerShell/PowerShell#13501).
            rc, stdout, stderr = self.process(text, stdin, started_by="native")
            run.pipeline += stdout.splitlines()
            run.console_err += stderr.splitlines()
            run.exit = 1 if rc else 0
            return run
        assert re.search(r"\$input\b", text, re.I), "the fake Windows host runs only ansible-core's bootstrap wrapper: %r" % text[:300]
        legacy = "Out-String" in text  # 2.16 to 2.18: $input | Out-String, split at four NULs
        if legacy and self.language_mode != "FullLanguage":
            # [ScriptBlock]::Create is a method of a type that is not a core type (about_Language_Modes).
            run.errors.append(CLM_REFUSAL)
            run.exit = 1
            return run
        manifest, module_text, params = self._manifest(legacy, [str(item) for item in input_objects])
        self.payloads.append((text, manifest))
        name = self.modules.get(hashlib.sha256(module_text.encode("utf-8")).hexdigest())
        assert name is not None, "the fake Windows host was sent a module that is not one of the collection's:\n%s" % module_text[:300]
        if self.language_mode != "FullLanguage":
            # 2.19+ module_wrapper.ps1: an untrusted script with module util imports is refused.
            answer = {"failed": True, "msg": "Unhandled exception while executing module: Cannot run untrusted PowerShell script "
                      "'%s.ps1' in ConstrainedLanguage mode with module util imports." % name}
        else:
            answer = self._module(name, module_text, params)
        if isinstance(answer, tuple):  # an override's whole process result
            rc, stdout, stderr = answer
            run.pipeline += stdout.splitlines()
            run.console_err += stderr.splitlines()
            run.exit = rc
            return run
        run.pipeline.append(json.dumps(answer))
        run.exit = 1 if answer.get("failed") else 0
        return run

    @staticmethod
    def _manifest(legacy, lines):
        """(exec manifest, module text, module arguments) from the bootstrap's input."""
        if legacy:
            # bootstrap_wrapper.ps1 of 2.16 to 2.18: "$input | Out-String" then Split("`0`0`0`0", 2).
            wrapper, sep, raw = ("\r\n".join(lines) + "\r\n").partition("\0\0\0\0")
            assert sep and "begin {" in wrapper, "not an exec wrapper payload"
            manifest = json.loads(raw)
            return manifest, base64.b64decode(manifest["module_entry"]).decode("utf-8"), manifest["module_args"]
        # bootstrap_wrapper.ps1 of 2.19+: JSON up to a line of four NULs (the exec wrapper), then the
        # exec wrapper reads the manifest; module_wrapper.ps1 gets Script and Variables (complex_args).
        marker = lines.index("\0\0\0\0")
        assert json.loads("".join(lines[:marker]))["name"] == "exec_wrapper"
        manifest = json.loads("".join(lines[marker + 1:]))
        action = next(item for item in manifest["actions"] if item["name"] == "module_wrapper.ps1")
        script = manifest["scripts"][action["params"]["Script"]]["script"]
        variables = dict((item["Name"], item["Value"]) for item in action["params"]["Variables"])
        return manifest, base64.b64decode(script).decode("utf-8"), variables["complex_args"]

    # ------------------------------------------------------------------ the collection's modules

    def _module(self, name, module_text, args):
        try:
            params = validate(module_spec(module_text), args, "imds.azure." + name)
        except ModuleFailure as exc:
            return {"failed": True, "msg": str(exc)}
        self.runs.append((name, params))
        if self.override is not None:
            answer = self.override(name, params)
            if answer == HANG:
                self._released.wait(60)
                return {"failed": True, "msg": "released"}
            if answer is not None:
                return answer
        if name == "win_metadata_request":
            request = Request(params)
            self.requests.append(request)
            return self.perform(request, bounded_reads=self.edition == "5.1" or ".ReadAsync(" in module_text)
        if name == "win_metadata_host":
            return self._hostinfo(params)
        return self.network.module(params, bool(args.get("_ansible_check_mode")))

    def _hostinfo(self, params):
        """win_metadata_host: the registry copy of the SMBIOS table, CIM when it is missing, the environment."""
        self.hostinfo += 1
        info = {"changed": False, "smbios": None}
        if params["smbios"]:
            if self.smbios:
                info["smbios"] = base64.b64encode(self.smbios).decode("ascii")
            else:
                info["smbios_error"] = "Property SMBiosData does not exist at path HKEY_LOCAL_MACHINE\\SYSTEM\\..."
                if self.cim is not None:
                    info["cim"] = self.cim
                else:
                    info["cim_error"] = "Access denied"
        info["env"] = dict((name, self.env.get(name)) for name in params["env"])
        return info

    def perform(self, request, bounded_reads=True):
        """win_metadata_request: the exchange with the module's bounds (one deadline of timeout_ms over
        connect, request, answer and body; at most max_bytes + 1 bytes read; no redirects, no proxy)."""
        stop_at = time.monotonic() + request.timeout_ms / 1000.0

        def remaining():
            return max(0.001, stop_at - time.monotonic())

        parts = urlsplit(request.url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        try:
            # TcpClient.BeginConnect waited for at most the deadline
            socket.create_connection((host, port), timeout=remaining()).close()
        except socket.timeout:
            return _failure("connect", "connection timed out after %d ms" % request.timeout_ms, True)
        except OSError as exc:
            return _failure("connect", "No connection could be made because the target machine actively refused it", False,
                            {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"EndConnect\""},
                            {"type": "System.Net.Sockets.SocketException", "socket": "ConnectionRefused",
                             "message": "No connection could be made because the target machine actively refused it (%s)" % exc})
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection_class(host, port, timeout=remaining())
        target = parts.path + ("?" + parts.query if parts.query else "")
        headers = dict(request.headers)
        headers["Connection"] = "Close"  # KeepAlive = $false
        try:
            conn.request(request.method, target, body=request.body, headers=headers)
            sock = conn.sock  # kept: with Connection: close, http.client lets go of it once the headers are read
            sock.settimeout(remaining())
            response = conn.getresponse()  # HttpWebRequest.Timeout: what is left of the deadline
        except socket.timeout:
            conn.close()
            return _failure("request", "The operation has timed out", time.monotonic() >= stop_at,
                            {"type": "System.Net.WebException", "status": "Timeout", "message": "The operation has timed out"})
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            return _failure("request", "The underlying connection was closed", False,
                            {"type": "System.Net.WebException", "status": "ReceiveFailure",
                             "message": "The underlying connection was closed: An unexpected error occurred on a receive (%s)"
                             % type(exc).__name__})
        result = {"changed": False, "status": response.status, "headers": dict(response.getheaders()), "body": "", "truncated": False}
        try:
            declared = response.getheader("content-length")
            if declared and declared.isdigit() and int(declared) > request.max_bytes:
                result["truncated"] = True
                return result
            kept = b""
            while True:
                # Each read waits for what is left of the deadline (ReadAsync(...).Wait(remaining)).
                if bounded_reads:
                    sock.settimeout(remaining())
                    if time.monotonic() >= stop_at:
                        raise socket.timeout()
                else:
                    sock.settimeout(None)
                chunk = response.read1(min(65536, request.max_bytes + 1 - len(kept)))
                if not chunk:
                    break
                kept += chunk
                if len(kept) > request.max_bytes:
                    result["truncated"] = True
                    return result
        except socket.timeout:
            return _failure("read", "the answer did not complete within %d ms" % request.timeout_ms, True)
        except (http.client.HTTPException, OSError) as exc:
            return _failure("read", "The connection was closed prematurely", False,
                            {"type": "System.IO.IOException", "message": "The connection was closed prematurely (%s)" % type(exc).__name__})
        finally:
            conn.close()
        result["body"] = base64.b64encode(kept).decode("ascii")
        return result


class FakeWindowsConnection(ConnectionBase):
    """A whole-connection double for quick tests and the benchmark: ansible-core's own powershell or
    cmd shell plugin, and exec_command starts powershell.exe on ``host`` with the command line and its
    input (what ssh does on 2.18+). The wire-level tests use the real connection plugins instead
    (windows_wire.py); the integration target's fakewin connection is this one."""

    transport = "fakewin"
    has_pipelining = True
    always_pipeline_modules = True
    allow_executable = False
    module_implementation_preferences = (".ps1", ".exe", "")

    def __init__(self, play_context, *args, host=None, shell_type="powershell", **kwargs):
        kwargs["shell"] = shell_loader.get(shell_type)
        super(FakeWindowsConnection, self).__init__(play_context, *args, **kwargs)
        self.host = host or FakeWindowsHost()

    def _connect(self):
        self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        super(FakeWindowsConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        rc, stdout, stderr = self.host.process(cmd, in_data)
        return rc, stdout.encode("utf-8"), stderr.encode("utf-8")

    def put_file(self, in_path, out_path):
        raise AssertionError("the collection's Windows path never copies files")

    fetch_file = put_file

    def close(self):
        self._connected = False
