# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._powershell: quoting, the script layout and the result line, checked with a real PowerShell parser."""

from __future__ import annotations

import base64
import json

import pytest
import tree_sitter
import tree_sitter_powershell

from ansible_collections.imds.azure.plugins.plugin_utils import _powershell
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

# The characters PowerShell reads as a single quote (about_Quoting_Rules, and CharTraits.IsSingleQuote
# in PowerShell's tokenizer): the ASCII apostrophe and U+2018, U+2019, U+201A, U+201B.
QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def string_literals(source):
    """The text of every string literal node the parser finds in ``source``."""
    found, stack = [], [PARSER.parse(source.encode("utf-8")).root_node]
    while stack:
        node = stack.pop()
        if node.type == "string_literal":
            found.append(node)
        stack.extend(node.children)
    data = source.encode("utf-8")
    return [data[node.start_byte:node.end_byte].decode("utf-8") for node in sorted(found, key=lambda node: node.start_byte)]


@pytest.mark.parametrize("value", ["plain", "it's", "\u2018smart\u2019 \u201aquotes\u201b", "'; Remove-Item C:\\ -Recurse; '",
                                   "$(Get-Date) `n @{}", "f\u00fcr \u65e5\u672c", "", "''''"])
def test_quote_round_trips_and_cannot_break_out(value):
    quoted = _powershell.quote(value)
    assert wf.ps_unquote(quoted) == value
    for char in QUOTES:
        assert quoted[1:-1].count(char) == 2 * value.count(char)
    assert string_literals("$x = %s; Write-Output 'after'" % quoted) == [quoted, "'after'"]


def test_literals():
    assert [_powershell.literal(value) for value in (None, True, False, 0, 42, "a'b", b"\x00\xff", ["a", 1, None], ())] == [
        "$null", "$true", "$false", "0", "42", "'a''b'", "[Convert]::FromBase64String('AP8=')", "@('a', 1, $null)", "@()"]
    with pytest.raises(TypeError):
        _powershell.literal(1.5)


def test_script_layout():
    text = _powershell.script("example", "\nWrite-Output $imdsName\n", imdsName="it's", imdsCount=2,
                              imdsHeaders={"Metadata": "true", "X-A": "b'c"}, imdsBody=None)
    assert text.splitlines() == [
        "# imds.azure: example",
        "$imdsName = 'it''s'",
        "$imdsCount = 2",
        "$imdsHeaders = [ordered]@{}",
        "$imdsHeaders['Metadata'] = 'true'",
        "$imdsHeaders['X-A'] = 'b''c'",
        "$imdsBody = $null",
        "Write-Output $imdsName",
    ]
    assert wf.script_name_and_inputs(text) == ("example", {"imdsName": "it's", "imdsCount": 2, "imdsBody": None,
                                                           "imdsHeaders": {"Metadata": "true", "X-A": "b'c"}})


def _line(marker, data):
    return marker + base64.b64encode(json.dumps(data).encode("utf-8")).decode("ascii")


def test_the_last_result_line_counts():
    stdout = "\ufeff%s\r\nprogress\r\n  %s  \r\nWARNING: x\r\n" % (_line("M:", {"n": 1}), _line("M:", {"n": 2}))
    assert _powershell.decode_result(stdout, "M:") == {"n": 2}
    assert _powershell.decode_result("nothing here\r\n", "M:") is None and _powershell.decode_result("", "") is None
    assert _powershell.decode_result("x\r\n" + _line("", [1]) + "\r\n\r\n") == [1]  # no marker: the last non-empty line


@pytest.mark.parametrize("payload", ["not base64!", base64.b64encode(b"\xff\xfe").decode(), base64.b64encode(b"{").decode(),
                                     base64.b64encode(b"[" * 100000 + b"]" * 100000).decode(), "M\u00e4rz"])
def test_a_damaged_result_line_is_a_value_error(payload):
    with pytest.raises(ValueError):
        _powershell.decode_result("M:" + payload, "M:")
