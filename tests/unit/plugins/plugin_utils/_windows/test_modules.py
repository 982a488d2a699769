# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PowerShell modules that _windows.modules runs (plugins/modules/*.ps1), read without PowerShell.

* each parses with tree-sitter-powershell with no error;
* each is an Ansible.Basic module in the layout ansible-core's dependency finder and
  validate-modules expect (``#!powershell``, ``#AnsibleRequires -CSharpUtil Ansible.Basic``);
* each uses nothing that Constrained Language Mode hosts, signing or endpoint protection object
  to beyond what ansible.windows modules use: no Add-Type, no script text turned into code, no
  nested runspace, no reflection, no cryptography;
* its ``$spec`` matches its documentation (the .py beside it) option by option: what
  validate-modules checks with PowerShell (ps_argspec.ps1), which this machine does not have.
"""

from __future__ import annotations

import ast
import glob
import os
import re

import pytest
import tree_sitter
import tree_sitter_powershell
import yaml

from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf

MODULES = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir, os.pardir, os.pardir, "plugins", "modules")
SCRIPTS = sorted(glob.glob(os.path.join(MODULES, "*.ps1")))
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
# What none of the modules may contain (case-insensitive): code generated at run time cannot be
# signed, C# compiled on the host and reflection are refused under CLM, cryptography and encoded
# commands are what detection rules look for.
FORBIDDEN = ["Add-Type", "ScriptBlock]::Create", "Invoke-Expression", "iex ", "[PowerShell]::Create", "Runspace", "BindingFlags",
             "NonPublic", "Cryptography", "Aes", "HMAC", "EncodedCommand", "DllImport", "GetField", "-ExecutionPolicy"]


def test_the_modules_are_there():
    assert [os.path.basename(path) for path in SCRIPTS] == ["win_metadata_host.ps1", "win_metadata_request.ps1", "win_metadata_route.ps1"]


def _errors(source):
    found, stack = [], [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            found.append((node.start_point[0] + 1, source[node.start_byte:node.end_byte][:80]))
        stack.extend(node.children)
    return found


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_module_parses_without_errors(path):
    with open(path, "rb") as handle:
        source = handle.read()
    assert _errors(source) == []


def test_the_parser_does_find_errors():
    assert _errors(b"$a = @{ x = ") and _errors(b"if ($true) { 'x'")


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_module_layout_and_what_it_does_not_use(path):
    with open(path) as handle:
        text = handle.read()
    assert text.startswith("#!powershell\n")
    assert re.search(r"(?m)^#AnsibleRequires -CSharpUtil Ansible\.Basic$", text)
    assert "GNU General Public License v3.0+" in text
    assert "[Ansible.Basic.AnsibleModule]::Create($args, $spec)" in text and "$module.ExitJson()" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert [word for word in FORBIDDEN if word.lower() in code.lower()] == []


def _docs(path):
    with open(path[:-4] + ".py") as handle:
        tree = ast.parse(handle.read())
    values = dict((node.targets[0].id, node.value.value) for node in tree.body
                  if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant))
    return yaml.safe_load(values["DOCUMENTATION"]), yaml.safe_load(values["RETURN"])


def _compare(spec_options, doc_options, where):
    assert sorted(spec_options) == sorted(doc_options), where
    for name, spec in spec_options.items():
        doc = doc_options[name]
        here = "%s.%s" % (where, name)
        assert spec.get("type", "str") == doc.get("type", "str"), here
        assert bool(spec.get("required")) == bool(doc.get("required")), here
        assert spec.get("default") == doc.get("default"), here
        assert spec.get("choices") == doc.get("choices"), here
        assert spec.get("elements") == doc.get("elements"), here
        if "options" in spec or "suboptions" in doc:
            _compare(spec["options"], doc["suboptions"], here)


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_spec_matches_the_documentation(path):
    with open(path) as handle:
        spec = wf.module_spec(handle.read())
    documentation, returned = _docs(path)
    assert documentation["module"] == os.path.basename(path)[:-4]
    _compare(spec["options"], documentation["options"], documentation["module"])
    assert spec.get("supports_check_mode") is True and documentation["attributes"]["check_mode"]["support"] == "full"
    assert returned


def _assignments(path, prefix):
    """{target: value} of every assignment to ``prefix...`` in the module, as the PowerShell grammar reads them."""
    with open(path, "rb") as handle:
        source = handle.read()
    found, stack = {}, [PARSER.parse(source).root_node]
    while stack:
        node = stack.pop()
        if node.type == "assignment_expression":
            target, _operator, value = node.children[:3]
            name = source[target.start_byte:target.end_byte].decode()
            if name.startswith(prefix):
                found[name] = source[value.start_byte:value.end_byte].decode()
        stack.extend(node.children)
    return found


def test_the_request_module_bypasses_proxies_and_redirects_and_bounds_every_wait():
    # The guarantees of the Python transport (no proxy, no redirects, one deadline, the raw body), on the
    # HttpWebRequest the request module builds: a change to any of these lines fails here, not on a host.
    request = _assignments(os.path.join(MODULES, "win_metadata_request.ps1"), "$request.")
    assert request["$request.Proxy"] == "$null"
    assert request["$request.AllowAutoRedirect"] == "$false"
    assert request["$request.KeepAlive"] == "$false"
    assert request["$request.AutomaticDecompression"] == "[System.Net.DecompressionMethods]::None"
    assert request["$request.Timeout"] == request["$request.ReadWriteTimeout"] == "Get-RemainingMs"
