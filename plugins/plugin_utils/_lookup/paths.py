# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: the interface may change without notice. Do not
# import it from outside the collection.
"""How the ``imds.azure.metadata`` lookup finds a value in IMDS documents (controller side).

* parsing a term into a category and path (``parse_path``), refusing malformed ones before
  anything is requested;
* walking a document along the path (``walk``), with the "did you mean" hints of a missing path;
* JMESPath (``compile_query``, ``search``), with a clear error when the library is missing;
* the documents the current host's ``ansible_facts['azure_imds']`` already hold (``facts_document``).
"""

from __future__ import annotations

import difflib
import functools
import re

from ansible_collections.imds.azure.plugins.module_utils._client import CATEGORIES
from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsAzureError, ImdsConfigError
from ansible_collections.imds.azure.plugins.module_utils._paths import validate_path
from ansible_collections.imds.azure.plugins.module_utils._shape import instance_document, loadbalancer_document, scheduled_events_document

# The client's categories this lookup cannot read, and why.
OTHER_CATEGORIES = {
    "identity": "use the imds.azure.token lookup for managed-identity tokens",
    "attested": "the attested document is not a tree of values; use the imds.azure.metadata_facts module",
    "versions": "the version list is not available through this lookup",
}
# The categories it reads, by the name used in an explicit path (``/loadbalancer/...``).
LOOKUP_CATEGORIES = tuple(category for category in CATEGORIES if category not in OTHER_CATEGORIES)
# Where each category lives in ansible_facts['azure_imds'].
FACT_KEYS = {"loadbalancer": "loadbalancer", "scheduledevents": "scheduled_events"}

_INDEX_RE = re.compile(r"^(0|[1-9][0-9]*)$")


class LookupPathError(ImdsAzureError, ValueError):
    """A malformed path or query: nothing was (or will be) requested."""

    kind = "config"


class MissingPathError(ImdsAzureError, LookupError):
    """A well-formed path that does not exist in the document."""

    kind = "not_found"


class QueryError(ImdsAzureError, ValueError):
    """A JMESPath problem: missing library, bad expression, or a failure while evaluating it."""

    kind = "config"


class ParsedPath(object):
    """A term, parsed: ``category`` and ``segments`` (strings)."""

    __slots__ = ("category", "segments")

    def __init__(self, category, segments):
        self.category = category
        self.segments = tuple(segments)

    def __eq__(self, other):
        return isinstance(other, ParsedPath) and (self.category, self.segments) == (other.category, other.segments)

    def __hash__(self):
        return hash((self.category, self.segments))

    def __repr__(self):
        return "ParsedPath(%r, %r)" % (self.category, self.segments)

    @property
    def display(self):
        """The canonical spelling: ``compute/vmId`` or ``/loadbalancer/inboundRules/0``."""
        rel = "/".join(self.segments)
        if self.category == "instance":
            return rel or "/instance"
        return "/%s%s" % (self.category, "/" + rel if rel else "")


def parse_path(term):
    """Parse one lookup term into a ParsedPath, or raise LookupPathError.

    ``compute/vmId`` is relative to ``/metadata/instance``. A leading ``/`` names the category:
    ``/instance/compute/vmId``, ``/loadbalancer/inboundRules/0``, ``/scheduledevents/Events``
    (``/metadata/...`` is accepted too). Refused before anything is requested: non-strings,
    empty paths and segments, ``.``/``..``, schemes and ``//host``, ``?``, ``#``, ``%``,
    ``\\``, whitespace and control characters.
    """
    if not isinstance(term, str):
        raise LookupPathError("a path must be a string, got %s %r" % (type(term).__name__, term))
    return _parse_text(term)


@functools.lru_cache(maxsize=1024)   # a ParsedPath is immutable; a lookup in a loop parses each term once
def _parse_text(term):
    shown = repr(term)
    if term == "":
        raise LookupPathError("an empty path is not allowed; use '/instance' for the whole instance document")
    try:
        segments = list(validate_path(term))
    except ImdsConfigError as exc:
        raise LookupPathError(str(exc)) from None
    explicit = term.startswith("/")
    if not explicit:
        return ParsedPath("instance", segments)
    if segments[0] == "metadata":
        segments = segments[1:]
        if not segments:
            raise LookupPathError("path %s names no category; use for example /instance or /loadbalancer" % shown)
    category = segments[0]
    if category in OTHER_CATEGORIES:
        raise LookupPathError("path %s: /%s cannot be read by this lookup: %s" % (shown, category, OTHER_CATEGORIES[category]))
    if category not in LOOKUP_CATEGORIES:
        hint = difflib.get_close_matches(category, LOOKUP_CATEGORIES, 1, 0.6)
        raise LookupPathError("path %s: unknown category %r (a leading '/' names one of: %s)%s%s" % (
            shown, category, ", ".join("/" + name for name in LOOKUP_CATEGORIES), "; did you mean /%s?" % hint[0] if hint else "",
            "; for a path inside the instance document drop the leading '/'" if category in ("compute", "network") else ""))
    return ParsedPath(category, segments[1:])


def _where(segments):
    return "/".join(segments) if segments else "the document root"


def _nearest(key, candidates):
    candidates = [str(candidate) for candidate in candidates]
    folded = [candidate for candidate in candidates if candidate.lower() == key.lower()]
    close = difflib.get_close_matches(key, candidates, 3, 0.6)
    out = folded + [candidate for candidate in close if candidate not in folded]
    return out[:3]


def walk(document, parsed):
    """Return the value at ``parsed`` in ``document`` or raise MissingPathError / LookupPathError.

    Keys are case-sensitive (as in IMDS); list items are addressed by 0-based decimal index.
    """
    node = document
    done = []
    for segment in parsed.segments:
        if isinstance(node, dict):
            if segment not in node:
                near = _nearest(segment, node.keys())
                keys = sorted(str(key) for key in node.keys())
                message = "path %r not found: %s has no key %r" % (parsed.display, _where(done), segment)
                if near:
                    message += "; did you mean %s?" % " or ".join(repr("/".join(done + [candidate])) for candidate in near)
                message += " (keys there: %s)" % (", ".join(keys[:25]) + (", ..." if len(keys) > 25 else "") if keys else "none")
                if not done and parsed.category == "instance" and segment in LOOKUP_CATEGORIES:
                    message += "; to read the %s category write '/%s/...'" % (segment, segment)
                raise MissingPathError(message)
            node = node[segment]
        elif isinstance(node, list):
            if not _INDEX_RE.match(segment):
                raise LookupPathError("path %r: %s is a list, so %r must be an index (0 to %d)" % (
                    parsed.display, _where(done), segment, len(node) - 1) if node else
                    "path %r: %s is an empty list, so %r cannot index it" % (parsed.display, _where(done), segment))
            index = int(segment)
            if index >= len(node):
                raise MissingPathError("path %r not found: %s has %d item%s, so index %d is out of range" % (
                    parsed.display, _where(done), len(node), "" if len(node) == 1 else "s", index))
            node = node[index]
        else:
            raise MissingPathError("path %r not found: %s is a value (%r), not an object or a list" % (
                parsed.display, _where(done), _short(node)))
        done.append(segment)
    return node


def _short(value):
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


_JMESPATH = None


def compile_query(expression):
    """Compile a JMESPath expression; QueryError if jmespath is missing or the expression is bad."""
    global _JMESPATH  # pylint: disable=global-statement
    if not isinstance(expression, str) or not expression.strip():
        raise QueryError("the query option must be a non-empty JMESPath expression")
    if _JMESPATH is None:
        try:
            import jmespath  # pylint: disable=import-outside-toplevel
        except ImportError:
            raise QueryError(
                "the query option needs the Python library 'jmespath' on the controller, in the Python that runs "
                "ansible-playbook: install it with 'python -m pip install jmespath' (or your distribution's "
                "python3-jmespath package)") from None
        _JMESPATH = jmespath
    try:
        return _JMESPATH.compile(expression)
    except _JMESPATH.exceptions.JMESPathError as exc:
        raise QueryError("invalid JMESPath expression %r: %s" % (expression, " ".join(str(exc).split()))) from None


def search(compiled, data, expression):
    try:
        return compiled.search(data)
    except Exception as exc:  # pylint: disable=broad-except
        raise QueryError("JMESPath expression %r failed: %s" % (expression, " ".join(str(exc).split()))) from None


def facts_document(facts, category):
    """The document of ``category`` held by one host's ``azure_imds`` facts.

    Returns ``(state, document)``:

    * ``("ok", document)``: the facts hold it (for the instance category, ``{"compute": ...,
      "network": ...}``; the load balancer document is the object IMDS wraps in
      ``{"loadbalancer": ...}``, without the facts' own ``found`` key);
    * ``("none", None)``: gathered, and IMDS had nothing (no Standard load balancer);
    * ``("not_azure", None)``: the facts say the host is not an Azure VM;
    * ``("absent", None)``: no facts, or the category was not gathered.

    Raises ShapeError when the document is not what IMDS sends (the facts were changed after they
    were gathered): the same rules as for a live answer.
    """
    if not isinstance(facts, dict) or not facts:
        return "absent", None
    if facts.get("is_azure") is False:
        return "not_azure", None
    if category == "instance":
        if not isinstance(facts.get("compute"), dict) or not facts.get("compute"):
            return "absent", None
        document = {"compute": facts.get("compute"), "network": facts.get("network") or {}}
        instance_document(document)
        return "ok", document
    key = FACT_KEYS[category]
    if key not in facts or facts[key] is None:
        return "absent", None
    value = facts[key]
    if category == "scheduledevents":
        return "ok", scheduled_events_document(value)
    if isinstance(value, dict) and "found" in value:
        if not value.get("found"):
            return "none", None
        value = {"loadbalancer": dict((name, item) for name, item in value.items() if name != "found")}
    return "ok", loadbalancer_document(value)


def is_user_data(parsed):
    """True for the path of the VM's user data (``compute/userData``), which documents never hold."""
    return parsed.category == "instance" and parsed.segments[:2] == ("compute", "userData")
