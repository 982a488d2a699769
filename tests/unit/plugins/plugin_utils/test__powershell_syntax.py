# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every PowerShell script the collection can generate parses with a real PowerShell grammar.

The parser is tree-sitter-powershell (PyPI), a dependency of the test venvs of every core
(requirements-dev.txt, tests/matrix/requirements-*.txt). It is imported unconditionally:
without it this file fails to import, it is never skipped.

Known grammar defects (none of them in the scripts below; the collection avoids them):

* bare words as array elements are reported as errors although PowerShell accepts them:
  ``Write-Output a, b`` (quote the words: ``Write-Output 'a', 'b'``).
"""

from __future__ import annotations

import base64
import json

import pytest
import tree_sitter
import tree_sitter_powershell

from ansible_collections.imds.azure.plugins.module_utils._client import DEFAULT_ENDPOINT
from ansible_collections.imds.azure.plugins.plugin_utils import _commands, _route, _route_windows, _windows_hostinfo, _windows_transport
from ansible_collections.imds.azure.tests.unit.fakes import route_fixtures as fx

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def errors(script):
    """(line, text) of every ERROR or missing node in the parse tree of ``script``."""
    found = []
    stack = [PARSER.parse(script.encode("utf-8")).root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            found.append((node.start_point[0] + 1, script.encode("utf-8")[node.start_byte:node.end_byte][:80]))
        stack.extend(node.children)
    return found


def request_scripts():
    base = DEFAULT_ENDPOINT + "/metadata"
    meta = {"Metadata": "true"}
    return {
        "versions": _windows_transport.request_script("GET", base + "/versions", meta, None, 5),
        "instance": _windows_transport.request_script("GET", base + "/instance?api-version=2021-02-01", meta, None, 5),
        "text leaf": _windows_transport.request_script("GET", base + "/instance/compute/name?api-version=2021-02-01&format=text", meta, None, 2),
        "attested": _windows_transport.request_script("GET", base + "/attested/document?api-version=2021-02-01&nonce=1234567890", meta, None, 5),
        "identity": _windows_transport.request_script("GET", base + "/identity/oauth2/token?api-version=2018-02-01&resource="
                                                      "https%3A%2F%2Fmanagement.azure.com%2F&client_id=it's", meta, None, 5),
        "loadbalancer": _windows_transport.request_script("GET", base + "/loadbalancer?api-version=2021-02-01", meta, None, 5),
        "scheduled events": _windows_transport.request_script("GET", base + "/scheduledevents?api-version=2020-07-01", meta, None, 5),
        "scheduled events approval": _windows_transport.request_script(
            "POST", base + "/scheduledevents?api-version=2020-07-01", dict(meta, **{"Content-Type": "application/json"}),
            json.dumps({"StartRequests": [{"EventId": "A123BC45-1234-5678-AB90-ABCDEF123456"}]}).encode(), 5),
        "odd quotes": _windows_transport.request_script("GET", "http://127.0.0.1:1/metadata/instance?x=\u2018a\u2019'b", {"X-A": "\u201b'"}, None, 1),
    }


def route_states():
    return {
        "netroute": _route_windows.decode_windows_read(fx.encode(fx.netroute_data())),
        "netroute wrong": _route_windows.decode_windows_read(fx.encode(fx.netroute_data(active=[fx.WRONG_ACTIVE], persistent=[fx.WRONG_ACTIVE]))),
        "netroute active only": _route_windows.decode_windows_read(fx.encode(fx.netroute_data(active=[fx.GOOD_ACTIVE]))),
        "netroute persistent only": _route_windows.decode_windows_read(fx.encode(fx.netroute_data(persistent=[fx.GOOD_ACTIVE]))),
        "netroute metric drift": _route_windows.decode_windows_read(fx.encode(fx.netroute_data(active=[dict(fx.GOOD_ACTIVE, RouteMetric=25)],
                                                                                               persistent=[fx.GOOD_ACTIVE]))),
        "netroute fixed": _route_windows.decode_windows_read(fx.encode(fx.netroute_data(active=[fx.GOOD_ACTIVE], persistent=[fx.GOOD_ACTIVE]))),
        "route print": _route_windows.decode_windows_read(fx.encode(fx.route_print_data(fx.ROUTE_PRINT_EN))),
        "route print german": _route_windows.decode_windows_read(fx.encode(fx.route_print_data(fx.ROUTE_PRINT_DE))),
        "route print fixed": _route_windows.decode_windows_read(fx.encode(fx.route_print_data(fx.ROUTE_PRINT_EN_FIXED))),
    }


def route_change_scripts():
    scripts = {}
    for name, state in route_states().items():
        for persistent in (True, False):
            for mode in ("present", "absent"):
                choice = _route_windows.choose_windows(state) if mode == "present" else None
                try:
                    plan = _route_windows.windows_plan(state, choice, 1, persistent, mode)
                except _route.RouteError:
                    continue  # refused before any script is built
                if plan.script:
                    scripts["%s, persistent=%s, %s" % (name, persistent, mode)] = plan.script
    return scripts


def all_scripts():
    scripts = {"bootstrap": _commands.BOOTSTRAP,
               "stage two": base64.b64decode(_commands.PowerShellCommand("Get-Date", 30).in_data).decode("utf-8"),
               "route read": _route_windows.WINDOWS_READ_SCRIPT}
    scripts.update(("request: " + name, script) for name, script in request_scripts().items())
    for smbios, names in ((True, ()), (False, ("AZURE_IMDS_ENDPOINT",)), (True, ("AZURE_IMDS_ENDPOINT", "IT'S"))):
        scripts["host information smbios=%s env=%s" % (smbios, names)] = _windows_hostinfo.hostinfo_script(smbios, names)
    scripts.update(("route change: " + name, script) for name, script in route_change_scripts().items())
    return scripts


SCRIPTS = all_scripts()


def test_every_kind_of_script_is_covered():
    names = " | ".join(SCRIPTS)
    for part in ("bootstrap", "stage two", "route read", "scheduled events approval", "identity", "attested", "host information",
                 "route change: netroute,", "route change: route print,", "persistent=False", "absent"):
        assert part in names, part
    assert any("route.exe -p add" in script for script in SCRIPTS.values())
    assert any("route.exe delete" in script for script in SCRIPTS.values())
    assert any("Remove-NetRoute" in script for script in SCRIPTS.values())
    assert any("-PolicyStore ActiveStore | Out-Null" in script for script in SCRIPTS.values())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_parses_without_errors(name):
    assert errors(SCRIPTS[name]) == []


@pytest.mark.parametrize("broken", ["if ($x) {", "$a = @(1, 2", "foreach ($i in $list) { 'x' "])
def test_the_parser_does_report_errors(broken):
    assert errors(broken)


def test_known_grammar_defect_bare_word_array():
    """PowerShell accepts ``Write-Output a, b``; this grammar reports it. If this starts to fail, the
    grammar was fixed: drop the note in this module's docstring."""
    assert errors("Write-Output a, b") and not errors("Write-Output 'a', 'b'")
