# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the collection's PowerShell scripts take their inputs and give back their results.

PRIVATE to the imds.azure collection: the interface may change without notice. Do not
import it from outside the collection.

Every script the collection sends to a Windows target is built by ``script`` and has one
layout::

    # imds.azure: request
    $imdsUrl = 'http://169.254.169.254/metadata/instance?api-version=2021-02-01'
    $imdsTimeoutMs = 5000
    $imdsHeaders = [ordered]@{}
    $imdsHeaders['Metadata'] = 'true'
    ...the code, which reads these variables and never assigns them...

* the first line names the script;
* one statement per input follows: ``$<name> = <literal>`` (``literal``: a single-quoted
  string, a whole number, ``$true``/``$false``/``$null``, bytes as
  ``[Convert]::FromBase64String('...')`` or an array ``@(...)`` of those), or, for a mapping,
  ``$<name> = [ordered]@{}`` and one ``$<name>['<key>'] = <literal>`` per entry;
* the code holds no value from outside the collection: URLs, header values, names and bodies
  travel only as inputs;
* a script that returns data prints it as ONE line, ``<marker><base64 of UTF-8 JSON>``
  (``result_code`` is the PowerShell that prints it, ``decode_result`` reads it back; the last
  such line counts, so progress records or a byte order mark around it do no harm).

The layout is the contract the test doubles rely on as well: tests/unit/fakes/windows_fake.py
reads a script's name and inputs with a real PowerShell parser and answers with the result
line, so the code of a script can change without them noticing.
"""

from __future__ import annotations

import base64
import json

# Every character PowerShell takes for a single quote: the ASCII one and the four typographic
# ones (about_Quoting_Rules; the tokenizer's list is CharTraits.IsSingleQuote in PowerShell's source).
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"


def quote(value):
    """``value`` as a PowerShell single-quoted string: every quote character is doubled, nothing else is special."""
    return "'" + "".join(char * 2 if char in SINGLE_QUOTES else char for char in str(value)) + "'"


def literal(value):
    """A PowerShell literal of ``value`` (None, bool, int, str, bytes, or a list or tuple of those)."""
    if value is None:
        return "$null"
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "[Convert]::FromBase64String(%s)" % quote(base64.b64encode(value).decode("ascii"))
    if isinstance(value, (list, tuple)):
        return "@(%s)" % ", ".join(literal(item) for item in value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError("no PowerShell literal for %r" % type(value).__name__)


def script(name, code, **inputs):
    """The script ``name``: the name line, one statement per input (in the order given), then ``code``.

    A dict input (str keys) becomes an ordered hashtable filled entry by entry.
    """
    lines = ["# imds.azure: %s" % name]
    for variable, value in inputs.items():
        if isinstance(value, dict):
            lines.append("$%s = [ordered]@{}" % variable)
            lines += ["$%s[%s] = %s" % (variable, quote(key), literal(item)) for key, item in value.items()]
        else:
            lines.append("$%s = %s" % (variable, literal(value)))
    return "\n".join(lines) + "\n" + code.strip("\n") + "\n"


def result_code(marker, variable):
    """The PowerShell statement that prints ``$variable`` as the result line (see the module docstring)."""
    return ("%s + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $%s -Compress -Depth 6)))"
            % (quote(marker), variable))


def result_payload(stdout, marker=""):
    """The text after ``marker`` on the last output line that starts with it; None when no line does.

    A UTF-8 byte order mark and blanks around a line are ignored. With the empty marker, the
    last non-empty line is the result line.
    """
    payload = None
    for line in (stdout or "").splitlines():
        line = line.strip().lstrip("\ufeff").strip()
        if line and line.startswith(marker):
            payload = line[len(marker):]
    return payload


def decode_result(stdout, marker=""):
    """The JSON value of the result line (see ``result_payload``); None when there is none.

    Raises ValueError when the line is not base64 of UTF-8 JSON.
    """
    payload = result_payload(stdout, marker)
    if payload is None:
        return None
    try:
        return json.loads(base64.b64decode(payload.encode("ascii"), validate=True).decode("utf-8-sig"))
    except (ValueError, RecursionError) as exc:  # binascii.Error and UnicodeError are ValueErrors
        raise ValueError(str(exc) or exc.__class__.__name__) from None


def result_object(stdout, marker):
    """The JSON object of the result line; None when there is none, or it is damaged or not an object."""
    try:
        data = decode_result(stdout, marker)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
