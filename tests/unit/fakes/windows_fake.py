# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fake Windows host: it acts out the PowerShell the collection sends, the way Windows would.

Layers, each modelled on documentation (cited next to each rule):

* processes: ``cmd_exe`` (cmd.exe /c, what WinRS and OpenSSH with the cmd default shell
  run), ``powershell_default_shell`` (OpenSSH with PowerShell as default shell) and
  ``process`` (powershell.exe with ``-EncodedCommand``: stdin lines are ``$input``, pipeline
  output and ``[Console]`` writes go to stdout, error records to stderr);
* ``runspace``: one script in a PowerShell runspace, the layer psrp talks to. It records
  what the script did (pipeline output, ``[Console]`` writes, error records, ``exit``)
  and each caller maps that to what its transport returns;
* the scripts the collection generates: the bootstrap and its timeout wrapper, the IMDS
  request (made with http.client against the URL it names), the host information, the
  route read and the route change (NetTCPIP cmdlets and route.exe against ``FakeNetwork``).

The fake acts on what a script means, never on how its code is written: every script the
collection generates follows the layout of plugins/plugin_utils/_powershell.py (a name line,
then its inputs as literal assignments, and a result line), so the fake reads the name and
the inputs with a real PowerShell parser (tree-sitter-powershell, ``script_name_and_inputs``)
and answers with the result line; a route change script is the cmdlets and route.exe calls it
makes, read with the same parser. Nothing here uses the collection's own code to read or
decode. Used by the unit tests (with the real ansible-core connection plugins in
windows_wire.py), by bench/windows.py and by the fakewin connection of the integration tests.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import struct
from urllib.parse import urlsplit

import tree_sitter
import tree_sitter_powershell
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures

AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"
MICROSOFT = "Microsoft Corporation"
HANG = "hang"  # an override's answer: the script does not finish before the wrapper's timeout

# cmd.exe: "The maximum length of the string that you can use at the command prompt is 8191
# characters" (Microsoft, "Command prompt (Cmd.exe) command-line string limitation"); a
# longer line is refused with this message and exit code 1 (WinRb/WinRM#41, pywinrm#184).
CMD_MAX = 8191
CMD_TOO_LONG = "The command line is too long.\r\n"
# CreateProcess: lpCommandLine "can be up to 32,767 characters" (Win32 API reference).
CREATE_PROCESS_MAX = 32767

# The characters PowerShell reads as a single quote: the apostrophe and U+2018, U+2019, U+201A,
# U+201B (about_Quoting_Rules; CharTraits.IsSingleQuote in PowerShell's tokenizer). Inside a
# single-quoted string a quote character is written twice.
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
# How ansible-core's powershell shell plugin starts PowerShell (``_common_args``), the command line of every process.
_PWSH_RE = re.compile(r"^PowerShell -NoProfile -NonInteractive -ExecutionPolicy Unrestricted -EncodedCommand (\S+)$", re.I)
# The result line markers of the collection's scripts (the collection's documented wire format).
RESPONSE_MARKER = "IMDS-AZURE-RESPONSE:"
HOSTINFO_MARKER = "IMDS-AZURE-HOSTINFO:"


def ps_unquote(literal):
    """The value of a PowerShell single-quoted literal (doubled quotes are one quote)."""
    assert len(literal) >= 2 and literal[0] in SINGLE_QUOTES and literal[-1] in SINGLE_QUOTES, literal
    inner = literal[1:-1]
    out = []
    index = 0
    while index < len(inner):
        char = inner[index]
        if char in SINGLE_QUOTES:
            assert index + 1 < len(inner) and inner[index + 1] in SINGLE_QUOTES, "unescaped quote in %r" % literal
            index += 1
        out.append(char)
        index += 1
    return "".join(out)


# --------------------------------------------------------------------------- reading scripts

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
_NAME_PREFIX = "# imds.azure: "
# Node types a literal is made of; every other node with a single named child only wraps it.
_LITERAL_NODES = ("string_literal", "integer_literal", "variable", "invokation_expression", "array_expression",
                  "cast_expression", "element_access", "command")


class Parsed(object):
    """A script parsed with tree-sitter-powershell: ``source`` bytes and the ``root`` node."""

    def __init__(self, text):
        self.source = text.encode("utf-8")
        self.root = PARSER.parse(self.source).root_node

    def text(self, node):
        return self.source[node.start_byte:node.end_byte].decode("utf-8")

    def statements(self):
        """The top-level statements (pipelines), in order."""
        lists = [child for child in self.root.children if child.type == "statement_list"]
        return [node for body in lists for node in body.named_children if node.type != "empty_statement"]

    def commands(self):
        """(name, elements) of every command the script runs, in source order; elements are the
        parameter and argument nodes after the name (redirections and separators left out)."""
        found = []

        def walk(node):
            if node.type == "command":
                name = next(child for child in node.named_children if child.type in ("command_name", "command_name_expr"))
                found.append((self.text(name), _command_elements(node)))
            for child in node.children:
                walk(child)

        walk(self.root)
        return found

    def nodes(self, node_type):
        """Every node of ``node_type``, in source order."""
        found, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if node.type == node_type:
                found.append(node)
            stack.extend(node.children)
        return sorted(found, key=lambda node: node.start_byte)

    def reads_input(self):
        """Whether the script reads ``$input`` (what the bootstrap does)."""
        return any(self.text(node).lower() == "$input" for node in self.nodes("variable"))

    def calls_method(self, name):
        """Whether the script calls a .NET method ``name`` anywhere."""
        return any(node.type == "member_name" and self.text(node) == name
                   for invocation in self.nodes("invokation_expression") for node in invocation.named_children)

    def act_out(self, run):
        """Act out a plain script statement by statement: literals and ``Write-Output`` go to the
        pipeline, ``[Console]::Out.WriteLine`` to the console, ``exit N`` ends it. Anything else is
        beyond this fake, and the test that sent it is wrong."""
        for statement in self.statements():
            node = _unwrap(statement)
            text = self.text(node)
            if node.type == "flow_control_statement" and text.lower().startswith("exit"):
                run.exit = self.value(node.named_children[0]) if node.named_children else 0
                return
            if node.type == "command" and self.text(node.named_children[0]) == "Write-Output":
                run.pipeline += [str(self.value(element)) for element in _command_elements(node)]
            elif node.type == "invokation_expression" and text.startswith("[Console]::Out.WriteLine("):
                run.console_out.append(str(self.value(node.named_children[-1])))
            else:
                run.pipeline.append(str(self.value(node)))

    def value(self, node):
        """The value of a literal node (see plugin_utils/_powershell.py for the literals scripts use)."""
        node = _unwrap(node)
        if node.type == "string_literal":
            return ps_unquote(self.text(node))
        if node.type == "integer_literal":
            return int(self.text(node))
        if node.type == "variable" and self.text(node).lower() in ("$null", "$true", "$false"):
            return {"$null": None, "$true": True, "$false": False}[self.text(node).lower()]
        if node.type == "invokation_expression" and self.text(node).startswith("[Convert]::FromBase64String("):
            return base64.b64decode(self.value(node.child_by_field_name("argument_list") or node.named_children[-1]))
        if node.type == "argument_list":
            return self.value(node.named_children[0])
        if node.type == "array_expression":
            body = [child for child in node.named_children if child.type == "statement_list"]
            if not body:
                return []
            items = _unwrap(body[0].named_children[0])
            if items.type == "array_literal_expression":
                return [self.value(item) for item in items.named_children]
            return [self.value(items)]
        if node.type == "cast_expression" and self.text(node).replace(" ", "").lower() == "[ordered]@{}":
            return {}
        if node.type in ("generic_token", "command_parameter"):  # a bare word, or a -word, of a native command line
            return self.text(node)
        raise ValueError("not a literal: %r" % self.text(node))


def _command_elements(command):
    """The parameter and argument nodes of a command, after its name (separators and redirections left out)."""
    return [child for body in command.named_children if body.type == "command_elements"
            for child in body.named_children if child.type not in ("command_argument_sep", "redirection")]


def _unwrap(node):
    while node.type not in _LITERAL_NODES and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _assignment(parsed, statement):
    """(variable, key or None, value node) of a ``$v = ...`` or ``$v['key'] = ...`` statement, else None."""
    node = _unwrap(statement)
    if node.type != "assignment_expression" or parsed.text(node.children[1]) != "=":
        return None
    target = _unwrap(node.children[0])
    if target.type == "variable":
        return parsed.text(target)[1:], None, node.children[2]
    if target.type == "element_access":
        return parsed.text(target.named_children[0])[1:], parsed.value(target.named_children[1]), node.children[2]
    return None


def script_name_and_inputs(text):
    """(name, inputs) of a script in the collection's layout (plugin_utils/_powershell.py): the name
    from its first line, then its inputs, the statements that assign literals to ``$imds...``
    variables (or keys of them) before any other statement. (None, {}) for any other script."""
    first = text.split("\n", 1)[0].strip()
    if not first.startswith(_NAME_PREFIX):
        return None, {}
    parsed = Parsed(text)
    inputs = {}
    for statement in parsed.statements():
        found = _assignment(parsed, statement)
        if found is None or not found[0].startswith("imds"):
            break
        variable, key, value_node = found
        try:
            value = parsed.value(value_node)
        except ValueError:
            break
        if key is None:
            inputs[variable] = value
        else:
            inputs[variable][key] = value
    return first[len(_NAME_PREFIX):], inputs


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


def _encode(marker, data):
    return marker + base64.b64encode(json.dumps(data).encode("utf-8")).decode("ascii")


def _chain(*items):
    return [dict(item) for item in items]


class Request(object):
    """One request command as the fake host understood it: the inputs of the ``request`` script."""

    def __init__(self, script, wrapper_ms=None):
        name, inputs = script_name_and_inputs(script)
        assert name == "request", "not a request command:\n%s" % script[:400]
        self.script = script
        self.wrapper_ms = wrapper_ms
        self.url = inputs["imdsUrl"]
        self.method = inputs["imdsMethod"]
        self.timeout_ms = inputs["imdsTimeoutMs"]
        self.max_bytes = inputs["imdsMaxBytes"]
        self.body = inputs["imdsBody"]
        self.headers = inputs["imdsHeaders"]

    @property
    def path(self):
        return urlsplit(self.url).path


def encrypt_result(key, plain):
    """What the wrapper's .NET code emits: IV | AES-256-CBC (PKCS7) | HMAC-SHA256 over both."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key[:32]), modes.CBC(iv)).encryptor()
    data = iv + encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    return data + hmac.new(key[32:], data, hashlib.sha256).digest()


class ScriptRun(object):
    """What one script did in a runspace; each transport maps it to what it returns."""

    def __init__(self):
        self.pipeline = []     # pipeline output (strings)
        self.console_out = []  # [Console]::Out writes: the process's stdout, LOST in a psrp runspace
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
        stdout = "".join(line + "\r\n" for line in self.pipeline + self.console_out)
        stderr = "".join(line + "\r\n" for line in self.console_err + self.errors)
        rc = self.exit if self.exit is not None else (1 if self.errors else 0)
        return rc, stdout, stderr


def _ps_json(data):
    """ConvertTo-Json -Compress of plain data (PowerShell writes no spaces)."""
    return json.dumps(data, separators=(",", ":"))


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

    # ------------------------------------------------------------------ the read script

    def read(self):
        """What the route read script prints: base64 of its JSON (route print without NetTCPIP)."""
        keep = ("0.0.0.0/0", "169.254.169.254/32", "169.254.0.0/16")
        pick = ("DestinationPrefix", "NextHop", "InterfaceIndex", "InterfaceAlias", "RouteMetric")
        out = {"admin": self.admin, "netroute": self.netroute, "active": [], "persistent": [], "interfaces": [],
               "addresses": [], "route_print": None, "adapters": []}
        if self.netroute:
            for store in ("active", "persistent"):
                out[store] = [dict((key, route[key]) for key in pick) for route in getattr(self, store)
                              if route["DestinationPrefix"] in keep]
            out["interfaces"] = self.interfaces
            out["addresses"] = self.addresses
        else:
            out["route_print"] = self.route_print()
            out["adapters"] = [{"InterfaceIndex": item["InterfaceIndex"], "IPAddress": [item["IPAddress"]]}
                               for item in self.addresses if item["InterfaceIndex"] != 1]
        return base64.b64encode(_ps_json(out).encode("utf-8")).decode("ascii")

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

    # ------------------------------------------------------------------ the change scripts

    def change(self, script):
        """Carry out a change script, command by command as the parser reads them; its output line
        (base64 of the ok/denied/error JSON)."""
        parsed = Parsed(script)
        calls = [(name, elements) for name, elements in parsed.commands() if name in ("route.exe", "New-NetRoute", "Remove-NetRoute")]
        result = {"ok": True, "denied": False, "error": ""}
        if any(name == "route.exe" for name, dummy in calls):
            outputs, codes = [], []
            for name, elements in calls:  # each route.exe runs; the script collects every exit code
                argv = [str(parsed.value(element)) for element in elements]
                rc, output = self.route_exe(argv)
                self.changes.append("route.exe " + " ".join(argv))
                outputs.append(output)
                codes.append(rc)
            result = {"ok": not any(codes), "denied": False, "error": "\n".join(outputs)}
        else:
            try:  # $ErrorActionPreference = 'Stop' in a try block: the first error ends it
                for name, elements in calls:
                    params = _parameters(parsed, elements)
                    self.changes.append("%s %s" % (name, " ".join("-%s %s" % item for item in sorted(params.items()))))
                    if not self.admin:
                        raise FakeCmdletError("Access denied", "AccessDenied")
                    if name == "Remove-NetRoute":
                        self.remove_netroute(params["DestinationPrefix"], params["InterfaceIndex"], params["NextHop"], params["PolicyStore"])
                    else:
                        self.new_netroute(params["DestinationPrefix"], params["InterfaceIndex"], params["NextHop"], params["RouteMetric"],
                                          params.get("PolicyStore"))
            except FakeCmdletError as exc:
                result = {"ok": False, "denied": exc.native == "AccessDenied", "error": str(exc)}
        return base64.b64encode(_ps_json(result).encode("utf-8")).decode("ascii")


def _parameters(parsed, elements):
    """{name: value} of a cmdlet call's named parameters (``-Name value`` and ``-Name:value``)."""
    params, name = {}, None
    for element in elements:
        if element.type == "command_parameter":
            name = parsed.text(element).lstrip("-").rstrip(":")
            params[name] = True
        elif name is not None:
            params[name] = parsed.value(element)
            name = None
    return params


class FakeCmdletError(Exception):
    """A CIM cmdlet error; ``native`` is its NativeErrorCode."""

    def __init__(self, message, native):
        super(FakeCmdletError, self).__init__(message)
        self.native = native


class FakeWindowsHost(object):
    """A Windows host: processes, runspaces and the scripts the collection sends.

    ``smbios``: raw table bytes (None: the registry value is missing; then ``cim`` answers,
    a dict or None for "CIM failed too"). ``env``: the target's environment. ``network``: a
    FakeNetwork. ``edition``: "5.1" (Windows PowerShell) or "7" (PowerShell 7, where
    ``HttpWebRequest.ReadWriteTimeout`` has no effect: dotnet/corefx#34550). ``override``:
    callable(inner script) returning (rc, stdout, stderr), HANG or None to take over a script.
    Calling the host runs a powershell.exe process (``process``).
    """

    def __init__(self, smbios=None, cim=None, env=None, override=None, network=None, edition="5.1"):
        self.smbios = build_smbios() if smbios is None else smbios
        self.cim = cim
        self.env = dict(env or {})
        self.override = override
        self.network = network or FakeNetwork()
        self.edition = edition
        self.commands = []       # every inner script, in order
        self.wait_ms = []        # the timeout wrapper's bound of each inner script
        self.requests = []       # Request objects, in order
        self.hostinfo = 0
        self.command_lines = []  # (program, command line) of every process started

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
        native = _PWSH_RE.match(text)
        if native:
            # The script is one native command (ansible-core's _encode_script of an encoded
            # command line): a child powershell.exe that inherits stdin. A non-zero exit code
            # of a native command makes the script's $? false, so powershell.exe exits 1
            # (PowerShell/PowerShell#13501).
            rc, stdout, stderr = self.process(text, stdin, started_by="native")
            run.pipeline += stdout.splitlines()
            run.console_err += stderr.splitlines()
            run.exit = 1 if rc else 0
            return run
        name, inputs = script_name_and_inputs(text)
        if name == "command":
            self._timeout_wrapper(inputs, run)
            return run
        parsed = Parsed(text)
        if name is None and parsed.reads_input():
            # The bootstrap: it runs the script that its input carries, base64 of UTF-8.
            stage_two = base64.b64decode("".join(str(item) for item in input_objects).strip()).decode("utf-8")
            return self.runspace(stage_two, [])
        parsed.act_out(run)
        return run

    def _timeout_wrapper(self, inputs, run):
        """The command wrapper: runs its inner script in a runspace of its own, stops it after the
        wait, and prints the encrypted result (IV | AES-256-CBC | HMAC-SHA256) as the only pipeline output."""
        inner = inputs["imdsScript"].decode("utf-8")
        self.commands.append(inner)
        self.wait_ms.append(inputs["imdsWaitMs"])
        answer = self.inner(inner)
        if answer == HANG:
            result = {"rc": inputs["imdsTimeoutRc"], "timeout": True, "out": [], "err": [inputs["imdsTimeoutMessage"]]}
        else:
            result = {"rc": 1 if answer[1] else 0, "timeout": False, "out": answer[0], "err": answer[1]}
        sealed = encrypt_result(inputs["imdsKey"], _ps_json(result).encode("utf-8"))
        run.pipeline.append(inputs["imdsResultMarker"] + base64.b64encode(sealed).decode("ascii"))

    # ------------------------------------------------------------------ the inner scripts

    def inner(self, script):
        """(pipeline output lines, error records) of an inner script, or HANG."""
        if self.override is not None:
            answer = self.override(script)
            if answer == HANG:
                return HANG
            if answer is not None:
                rc, stdout, stderr = answer
                return stdout.splitlines(), ([stderr] if stderr or rc else [])
        name, inputs = script_name_and_inputs(script)
        if name == "hostinfo":
            return [self._hostinfo(inputs)], []
        if name == "route-read":
            return [self.network.read()], []
        if name == "route-change":
            return [self.network.change(script)], []
        if name == "request":
            request = Request(script, self.wait_ms[-1] if self.wait_ms else None)
            self.requests.append(request)
            # PowerShell 7: HttpWebRequest.ReadWriteTimeout has no effect (dotnet/corefx#34550);
            # a body read is bounded only when the script bounds each read itself (an asynchronous
            # read that it waits for).
            line = self.perform(request, RESPONSE_MARKER, bounded_reads=self.edition == "5.1" or Parsed(script).calls_method("ReadAsync"))
            return HANG if line == HANG else ([line], [])
        run = ScriptRun()
        Parsed(script).act_out(run)
        return run.pipeline + run.console_out, run.errors

    def _hostinfo(self, inputs):
        self.hostinfo += 1
        info = {"smbios": None, "env": {}}
        if inputs["imdsReadSmbios"]:
            if self.smbios is not False and self.smbios is not None:
                info["smbios"] = base64.b64encode(self.smbios).decode("ascii")
            else:
                info["smbios_error"] = "Property SMBiosData does not exist"
                if self.cim is not None:
                    info["cim"] = self.cim
                else:
                    info["cim_error"] = "Access denied"
        for name in inputs["imdsEnvNames"]:
            info["env"][name] = self.env.get(name)
        return _encode(HOSTINFO_MARKER, info)

    @staticmethod
    def perform(request, marker, bounded_reads=True):
        """Carry out the request as the PowerShell script does; its output line, or HANG.

        ``bounded_reads`` False: a stalled body is never given up by the script itself, so
        the command wrapper's timeout stops it (HANG).
        """
        parts = urlsplit(request.url)
        timeout = request.timeout_ms / 1000.0
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        try:
            probe = socket.create_connection((host, port), timeout=timeout)
            probe.close()
        except socket.timeout:
            return _encode(marker, {"error": {"phase": "connect", "timeout": True, "chain": []}})
        except OSError as exc:
            return _encode(marker, {"error": {"phase": "connect", "timeout": False, "chain": _chain(
                {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"EndConnect\""},
                {"type": "System.Net.Sockets.SocketException", "socket": "ConnectionRefused",
                 "message": "No connection could be made because the target machine actively refused it (%s)" % exc})}})
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = connection_class(host, port, timeout=timeout)
        target = parts.path + ("?" + parts.query if parts.query else "")
        headers = dict(request.headers)
        headers["Connection"] = "Close"
        try:
            conn.request(request.method, target, body=request.body, headers=headers)
            response = conn.getresponse()
        except socket.timeout:
            conn.close()
            return _encode(marker, {"error": {"phase": "request", "timeout": False, "chain": _chain(
                {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"GetResponse\""},
                {"type": "System.Net.WebException", "status": "Timeout", "message": "The operation has timed out"})}})
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            return _encode(marker, {"error": {"phase": "request", "timeout": False, "chain": _chain(
                {"type": "System.Management.Automation.MethodInvocationException", "message": "Exception calling \"GetResponse\""},
                {"type": "System.Net.WebException", "status": "ReceiveFailure",
                 "message": "The underlying connection was closed: An unexpected error occurred on a receive (%s)" % type(exc).__name__})}})
        headers = dict(response.getheaders())
        declared = response.getheader("content-length")
        try:
            # At most imdsMaxBytes + 1 bytes are read; more (or a Content-Length saying more) is
            # reported as truncated, without the body.
            body = b"" if declared and declared.isdigit() and int(declared) > request.max_bytes else response.read(request.max_bytes + 1)
        except socket.timeout:
            if not bounded_reads:
                return HANG
            return _encode(marker, {"error": {"phase": "read", "timeout": False, "chain": _chain(
                {"type": "System.IO.IOException", "message": "Unable to read data from the transport connection"},
                {"type": "System.Net.Sockets.SocketException", "socket": "TimedOut",
                 "message": "A connection attempt failed because the connected party did not properly respond after a period of time"})}})
        except (http.client.HTTPException, OSError) as exc:
            return _encode(marker, {"error": {"phase": "read", "timeout": False, "chain": _chain(
                {"type": "System.IO.IOException", "message": "The connection was closed prematurely (%s)" % type(exc).__name__})}})
        finally:
            conn.close()
        if len(body) > request.max_bytes or (declared and declared.isdigit() and int(declared) > request.max_bytes):
            return _encode(marker, {"status": response.status, "headers": headers, "truncated": True, "body": ""})
        return _encode(marker, {"status": response.status, "headers": headers, "body": base64.b64encode(body).decode("ascii")})


class HostAction(object):
    """What CommandRunner needs from an action plugin (``_low_level_execute_command``), whose connection
    starts powershell.exe on ``host`` (a FakeWindowsHost). ``calls`` records (command, input, sudoable)."""

    def __init__(self, host):
        self.host = host
        self.calls = []

    def _low_level_execute_command(self, cmd, sudoable=True, in_data=None):
        self.calls.append((cmd, in_data, sudoable))
        rc, stdout, stderr = self.host.process(cmd, in_data)
        return {"rc": rc, "stdout": stdout, "stderr": stderr}


class FakeShell(object):
    SHELL_FAMILY = "powershell"
    tmpdir = None
    executable = None


class FakePowerShellConnection(object):
    """A whole-connection double for quick tests: exec_command starts powershell.exe on ``host``
    with the command line and its input (what ssh with the powershell shell does on 2.18+).
    The wire-level tests use the real connection plugins instead (windows_wire.py)."""

    transport = "fake"
    become = None
    allow_executable = False

    def __init__(self, host, play_context=None):
        self._shell = FakeShell()
        self.host = host
        self._play_context = play_context

    def exec_command(self, cmd, in_data=None, sudoable=True):  # pylint: disable=unused-argument
        rc, stdout, stderr = self.host.process(cmd, in_data)
        return rc, stdout.encode("utf-8"), stderr.encode("utf-8")

    def get_option(self, name):  # pylint: disable=unused-argument
        return None
