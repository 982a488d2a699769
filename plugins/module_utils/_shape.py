# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: no compatibility promise outside the collection.
"""The shape of the IMDS answers the collection reads, written down once.

Every field that the facts, the placement and tags model, scheduled events and tokens read has
one rule here: the JSON type and the range real IMDS sends (/metadata/instance sends every value
as a string; docs/docsite/rst/facts.rst "The document shape"). Each answer is checked against
these rules where it enters the collection (the facts module, the metadata lookup, the placement
inventory's sources, scheduled events and the event source, the token lookup), so a value of
another type or out of range is refused with a ShapeError naming the field, never turned into a
placement, a group or an approval. Rules return the value in its one canonical form (a fault
domain given as the number 1 is "1"); anything else is refused, never rounded or trimmed.

Standard library only (target side, Python >= 3.8).
"""

from __future__ import annotations

import re

from collections.abc import Mapping

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsAzureError, ImdsNotImds
from ansible_collections.imds.azure.plugins.module_utils._responses import MAX_JSON_DEPTH

# Ranges. Azure uses at most 3 fault domains per availability set, 5 per scale set and 20 update
# domains; Microsoft's own example answer shows fault domain 36 and update domain 42. Zones are
# 1, 2 and 3. Anything beyond these bounds is not IMDS data, whatever else it is.
MAX_DOMAIN = 999
MAX_ZONE = 99
MAX_LOCATION = 64
MAX_TEXT = 256          # names, sizes and ids: Azure's longest (resource ids aside) are 90 characters
MAX_RESOURCE_ID = 2048
# Azure allows 50 tags per resource, names of at most 512 characters and values of at most 256.
# These caps also bound what one host may cost the inventory (each tag is up to two groups).
MAX_TAGS = 50
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
MAX_TAGS_STRING = MAX_TAGS * (MAX_TAG_NAME + 1 + MAX_TAG_VALUE + 1)
# Scheduled events: Microsoft documents DurationInSeconds -1 (unknown) and up; one document
# lists the events of a few VMs, never thousands.
MAX_EVENTS = 1000
# Token answers: epoch seconds and lifetimes, as decimal strings or numbers (azure-identity accepts both).
MAX_SECONDS_DIGITS = 12

_DOMAIN_RE = re.compile(r"(?:0|[1-9][0-9]{0,2})\Z")
_ZONE_RE = re.compile(r"[1-9][0-9]?\Z")
_LOCATION_RE = re.compile(r"[A-Za-z0-9]{1,%d}\Z" % MAX_LOCATION)
_SECONDS_RE = re.compile(r"[0-9]{1,%d}\Z" % MAX_SECONDS_DIGITS)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# The usual text at once: printable ASCII without a space at either end (or ""). Whatever it matches passes every
# check of ``text``; anything else goes through those checks, which decide and name the problem.
_PLAIN_TEXT_RE = re.compile(r"(?:[!-~](?:[ -~]*[!-~])?)?\Z")


class ShapeError(ImdsAzureError, ValueError):
    """A field that IMDS never sends that way. ``str()`` reads ``<field> <problem>``; ``field`` is its path."""

    kind = "not_imds"

    def __init__(self, field, problem):
        super(ShapeError, self).__init__("%s %s" % (field, problem))
        self.field = field
        self.problem = problem


def json_type(value):
    """What ``value`` is, in JSON's words (never the value itself: it may be a secret)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a number with a fraction or an exponent (or NaN or Infinity)"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    return "an array" if isinstance(value, (list, tuple)) else "a %s" % type(value).__name__


def _shown(value):
    """``value`` for a message about a field that holds no secret: a short string quoted, otherwise its type."""
    if isinstance(value, str) and len(value) <= 40 and not _SURROGATE_RE.search(value):
        return "%r" % value
    if isinstance(value, int) and not isinstance(value, bool):
        return "the number %d" % value if -10 ** 12 < value < 10 ** 12 else "a number of more than 12 digits"
    return json_type(value)


def _number_text(value, field, pattern, wanted, allow_empty):
    """A whole number as its canonical decimal string: a string matching ``pattern`` or an int in range."""
    if isinstance(value, str) and (pattern.match(value) or (allow_empty and value == "")):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value) if -1 < value < 10 ** 6 else ""   # never str() of a huge number: it costs time
        if text and pattern.match(text):
            return text
    raise ShapeError(field, "is %s, not %s" % (_shown(value), wanted))


def domain(value, field):
    """A fault, update or sub fault domain: ``"0"`` to ``"999"`` (IMDS sends a decimal string), or ``""``."""
    return _number_text(value, field, _DOMAIN_RE, "a whole number from 0 to %d (IMDS sends a decimal string such as \"1\")"
                        % MAX_DOMAIN, True)


def zone(value, field):
    """An availability zone: ``"1"`` to ``"99"``, or ``""`` for a regional VM."""
    return _number_text(value, field, _ZONE_RE, "an availability zone from 1 to %d, or \"\" for a regional VM" % MAX_ZONE, True)


def location(value, field):
    """An Azure region (``westeurope``), in lower case: Azure compares region names without case. ``""`` when absent."""
    if isinstance(value, str) and (value == "" or _LOCATION_RE.match(value)):
        return value.lower()
    raise ShapeError(field, "is %s, not an Azure region name (letters and digits, such as \"westeurope\")" % _shown(value))


def text(value, field, limit=MAX_TEXT):
    """A name, size or id: a string of at most ``limit`` characters, without control characters or
    whitespace around it (so that "Spot" and "Spot " never count as two values)."""
    if isinstance(value, str) and len(value) <= limit and _PLAIN_TEXT_RE.match(value):
        return value
    return _checked_text(value, field, limit)


def _checked_text(value, field, limit):
    """``text`` for any value: every check, each with its message."""
    if not isinstance(value, str):
        raise ShapeError(field, "is %s, not a string" % _shown(value))
    if len(value) > limit:
        raise ShapeError(field, "is %d characters long, more than the %d IMDS sends" % (len(value), limit))
    if _CONTROL_RE.search(value) or value != value.strip() or _SURROGATE_RE.search(value):
        raise ShapeError(field, "is %s, a string with whitespace around it, control characters or a lone surrogate" % _shown(value))
    return value


def string(value, field):
    """Any string (user data: its size is checked where it is decoded)."""
    if not isinstance(value, str):
        raise ShapeError(field, "is %s, not a string" % json_type(value))
    return value


def resource_id(value, field):
    return text(value, field, MAX_RESOURCE_ID)


# compute field -> rule. The fields the collection reads; every other field is passed on as IMDS sent it.
COMPUTE_RULES = {
    "location": location,
    "zone": zone,
    "platformFaultDomain": domain,
    "platformUpdateDomain": domain,
    "platformSubFaultDomain": domain,
    "vmScaleSetName": text,
    "placementGroupId": text,
    "vmSize": text,
    "priority": text,
    "Priority": text,   # the spelling of one Microsoft example
    "name": text,
    "vmId": text,
    "subscriptionId": text,
    "azEnvironment": text,
    "userData": string,
}
# the field names of a ``compute`` object's fields, made once rather than for each host of an inventory
_COMPUTE_NAMES = dict((name, "compute." + name) for name in COMPUTE_RULES)


def _plain_tag(name, value):
    """True for the usual tag, at once: a name and a value that are ASCII strings within Azure's limits. Such a tag passes
    every check of ``_check_tag`` (ASCII holds no lone surrogate); any other goes through those checks."""
    return (isinstance(name, str) and isinstance(value, str)
            and 0 < len(name) <= MAX_TAG_NAME and len(value) <= MAX_TAG_VALUE and name.isascii() and value.isascii())


def _check_tag(name, value, where):
    if not isinstance(name, str) or not name:
        raise ShapeError(where, "has %s as its name, not a non-empty string (Azure requires a tag name)"
                         % ("an empty string" if name == "" else json_type(name)))
    if len(name) > MAX_TAG_NAME or _SURROGATE_RE.search(name):
        raise ShapeError(where, "has a name of %d characters or with a lone surrogate (Azure allows at most %d)" % (len(name), MAX_TAG_NAME))
    if not isinstance(value, str):
        raise ShapeError(where, "has %s as the value of tag %r, not a string" % (json_type(value), name[:40]))
    if len(value) > MAX_TAG_VALUE or _SURROGATE_RE.search(value):
        raise ShapeError(where, "has a value of tag %r of %d characters or with a lone surrogate (Azure allows at most %d)"
                         % (name[:40], len(value), MAX_TAG_VALUE))


def _too_many(field, count):
    return ShapeError(field, "holds %d tags, more than the %d Azure allows on a resource: the collection refuses the host's "
                             "data rather than spend unbounded work on it" % (count, MAX_TAGS))


def _add_tag(tags, seen, name, value, field):
    """Refuse a tag name given twice: Azure's tag names are unique, without regard to case."""
    folded = name.casefold()
    if folded in seen:
        raise ShapeError(field, "names tag %r twice (%r and %r; Azure tag names are unique, without regard to case), so its value "
                                "is ambiguous" % (name[:40], seen[folded][:40], name[:40]))
    seen[folded] = name
    tags[name] = value


def tags_list(items, field="compute.tagsList"):
    """``tagsList`` (``[{"name": ..., "value": ...}]``) as a dict; ShapeError for an entry without a name, a
    duplicate name, more than MAX_TAGS entries, or anything that is not a string."""
    if not isinstance(items, list):
        raise ShapeError(field, "is %s, not an array" % json_type(items))
    if len(items) > MAX_TAGS:
        raise _too_many(field, len(items))
    tags, seen = {}, {}
    for index, item in enumerate(items):
        if isinstance(item, dict) and _plain_tag(item.get("name"), item.get("value")):
            _add_tag(tags, seen, item["name"], item["value"], field)
            continue
        where = "%s[%d]" % (field, index)
        if not isinstance(item, Mapping):
            raise ShapeError(where, "is %s, not an object with name and value" % json_type(item))
        if "value" not in item:
            raise ShapeError(where, "has no value (IMDS sends \"\" for a tag without one)")
        _check_tag(item.get("name"), item["value"], where)
        _add_tag(tags, seen, item["name"], item["value"], field)
    return tags


def tags_string(value, field="compute.tags"):
    """The legacy ``name:value;name:value`` string of api-versions before 2019-06-04, as a dict.

    Ambiguous by design: a piece without ``:`` continues the previous value (``a:x;y`` is
    ``{"a": "x;y"}``), while ``a:x;b:y`` is always two tags. Same refusals as ``tags_list``.
    """
    if not isinstance(value, str):
        raise ShapeError(field, "is %s, not a string" % json_type(value))
    if len(value) > MAX_TAGS_STRING:
        raise ShapeError(field, "is %d characters long, more than %d tags of the longest names and values Azure allows"
                         % (len(value), MAX_TAGS))
    pieces, last = [], None
    for piece in value.split(";") if value else ():
        if ":" in piece:
            pieces.append(piece.split(":", 1))
            last = pieces[-1]
        elif last is not None:
            last[1] += ";" + piece
        elif piece:
            pieces.append([piece, ""])
            last = pieces[-1]
        else:
            raise ShapeError(field, "starts with %s, a tag without a name" % ("';'" if value.startswith(";") else "an empty piece"))
    if len(pieces) > MAX_TAGS:
        raise _too_many(field, len(pieces))
    tags, seen = {}, {}
    for name, tag_value in pieces:
        _check_tag(name, tag_value, field)
        _add_tag(tags, seen, name, tag_value, field)
    return tags


def tags_mapping(value, field="tags"):
    """A name -> value mapping of tags (the ``tags`` fact, the inventory's ``azure_tags``), checked like ``tags_list``."""
    if not isinstance(value, Mapping):
        raise ShapeError(field, "is %s, not an object of tag names and values" % json_type(value))
    if len(value) > MAX_TAGS:
        raise _too_many(field, len(value))
    tags, seen = {}, {}
    for name, tag_value in value.items():
        if not _plain_tag(name, tag_value):
            _check_tag(name, tag_value, field)
        _add_tag(tags, seen, name, tag_value, field)
    return tags


def same_tags(value, checked):
    """True when ``value`` holds exactly the tags of ``checked`` (what ``tags_list`` or ``tags_mapping`` returned), as
    plain strings: then ``tags_mapping(value)`` is ``dict(value)`` without checking each tag a second time."""
    return isinstance(value, dict) and value == checked and all(isinstance(name, str) and isinstance(tag, str) for name, tag in value.items())


def nesting(value, field):
    """``value`` when it nests no deeper than an IMDS answer may (MAX_JSON_DEPTH levels); ShapeError otherwise.
    Iterative: a stored fact deep enough to exhaust the stack where it is used (templating) is refused here."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else ()
        if children and depth > MAX_JSON_DEPTH:
            raise ShapeError(field, "is nested more than %d levels deep, deeper than IMDS ever sends" % MAX_JSON_DEPTH)
        stack.extend((child, depth + 1) for child in children)
    return value


def compute_fields(compute, field="compute"):
    """The compute fields the collection reads, checked, in canonical form: ``{field: value}`` for each field
    present, plus ``virtualMachineScaleSet.id`` and ``tags`` (from ``tagsList``, else the ``tags`` string)."""
    if not isinstance(compute, Mapping):
        raise ShapeError(field, "is %s, not an object" % json_type(compute))
    out = {}
    names = _COMPUTE_NAMES if field == "compute" else dict((name, "%s.%s" % (field, name)) for name in COMPUTE_RULES)
    for name, rule in COMPUTE_RULES.items():
        if name in compute:
            out[name] = rule(compute[name], names[name])
    if "virtualMachineScaleSet" in compute:
        vmss = compute["virtualMachineScaleSet"]
        where = field + ".virtualMachineScaleSet"
        if not isinstance(vmss, Mapping):
            raise ShapeError(where, "is %s, not an object" % json_type(vmss))
        if "id" in vmss:
            out["virtualMachineScaleSet.id"] = resource_id(vmss["id"], where + ".id")
    if "tags" in compute:
        legacy = compute["tags"]
        out["tags"] = tags_string(legacy, field + ".tags") if "tagsList" not in compute else string(legacy, field + ".tags")
    if "tagsList" in compute:
        out["tags"] = tags_list(compute["tagsList"], field + ".tagsList")
    out.setdefault("tags", {})
    return out


def instance_document(document):
    """An answer of ``/metadata/instance``: ``{"compute": {...}, "network": {...}}``; returns ``compute_fields``."""
    if not isinstance(document, Mapping):
        raise ShapeError("the document", "is %s, not an object" % json_type(document))
    network = document.get("network")
    if not isinstance(network, Mapping):
        raise ShapeError("network", "is %s, not an object" % ("missing" if "network" not in document else json_type(network)))
    if "compute" not in document:
        raise ShapeError("compute", "is missing")
    return compute_fields(document["compute"])


def loadbalancer_document(document, field="the document"):
    """An answer of ``/metadata/loadbalancer``: the object IMDS wraps in ``{"loadbalancer": ...}``, whose
    rule lists are arrays of objects. Returns the inner object."""
    inner = document.get("loadbalancer") if isinstance(document, Mapping) else None
    if not isinstance(inner, Mapping):
        raise ShapeError(field, "is not an object holding a \"loadbalancer\" object (IMDS wraps the load balancer document in one)")
    for key in ("publicIpAddresses", "inboundRules", "outboundRules"):
        rules = inner.get(key, [])
        if not isinstance(rules, list):
            raise ShapeError("loadbalancer." + key, "is %s, not an array of objects" % json_type(rules))
        for index, rule in enumerate(rules):
            if not isinstance(rule, Mapping):
                raise ShapeError("loadbalancer.%s[%d]" % (key, index), "is %s, not an object" % json_type(rule))
    return inner


def scheduled_events_document(document):
    """An answer of ``/metadata/scheduledevents``: ``{"DocumentIncarnation": int, "Events": [event, ...]}``, each
    event an object with a string ``EventId`` and, when present, string ``EventType``, ``EventStatus``, ``NotBefore``
    and ``ResourceType``, an array of strings ``Resources`` and a whole number ``DurationInSeconds`` (-1 or more); no
    EventId twice (compared without case): which event an approval or a status refers to could not be told."""
    if not isinstance(document, Mapping) or not isinstance(document.get("Events"), list):
        raise ShapeError("the document", "has no Events list")
    incarnation = document.get("DocumentIncarnation")
    if isinstance(incarnation, bool) or not isinstance(incarnation, int) or incarnation < 0:
        raise ShapeError("DocumentIncarnation", "is not an integer (0 or more)")
    if len(document["Events"]) > MAX_EVENTS:
        raise ShapeError("Events", "lists %d events, more than the %d the collection accepts in one document"
                         % (len(document["Events"]), MAX_EVENTS))
    for index, event in enumerate(document["Events"]):
        if not isinstance(event, Mapping):
            raise ShapeError("event %d" % index, "is %s, not an object" % json_type(event))
        event_id = event.get("EventId")
        if event_id is None or event_id == "":
            raise ShapeError("event %d" % index, "has no EventId")
        if not isinstance(event_id, str):
            # Never approve under a guess: Microsoft documents EventId as a GUID string.
            raise ShapeError("the EventId of event %d" % index, "is %s, not a string" % json_type(event_id))
        text(event_id, "the EventId of event %d" % index)
        resources = event.get("Resources", [])
        if not isinstance(resources, list) or not all(isinstance(resource, str) for resource in resources):
            raise ShapeError("Resources of event %s" % event_id[:60], "is not a list of strings")
        for key in ("EventType", "EventStatus", "NotBefore", "ResourceType", "EventSource", "Description"):
            if key in event and not isinstance(event[key], str):
                raise ShapeError("%s of event %s" % (key, event_id[:60]), "is %s, not a string" % json_type(event[key]))
        duration = event.get("DurationInSeconds", 0)
        if isinstance(duration, bool) or not isinstance(duration, int) or duration < -1:
            raise ShapeError("DurationInSeconds of event %s" % event_id[:60], "is %s, not a whole number of -1 or more" % _shown(duration))
    seen = set()
    for event in document["Events"]:
        if event["EventId"].lower() in seen:
            raise ShapeError("EventId %s" % event["EventId"][:60], "appears more than once")
        seen.add(event["EventId"].lower())
    return document


def attested_document(document):
    """An answer of ``/metadata/attested/document``: an object with the strings ``encoding`` and ``signature``."""
    if not isinstance(document, Mapping):
        raise ShapeError("the document", "is %s, not an object" % json_type(document))
    for key in ("encoding", "signature"):
        string(document.get(key), key)
    return document


# category -> (what its answer is called, its rule)
_DOCUMENTS = {
    "instance": ("instance document", instance_document),
    "compute": ("compute document", compute_fields),
    "loadbalancer": ("load balancer document", loadbalancer_document),
    "scheduledevents": ("scheduled events document", scheduled_events_document),
    "attested": ("attested document", attested_document),
}


def checked(category, document, url):
    """What the rule of ``category`` returns for an answer of ``url``; ImdsNotImds naming the field when the
    answer is not what IMDS sends."""
    what, rule = _DOCUMENTS[category]
    try:
        return rule(document)
    except ShapeError as exc:
        raise ImdsNotImds("IMDS answered %s with JSON that is not an IMDS %s (%s): this is not IMDS. Nothing was gathered."
                          % (url, what, exc), url=url, status=200) from None


def seconds(value, field):
    """A token answer's time (``expires_on``, ``expires_in``...): a decimal string or a whole number, 0 or more,
    as an int. Never shows the value (token answers are secret)."""
    if isinstance(value, str) and _SECONDS_RE.match(value):
        return int(value)
    if isinstance(value, float) and value.is_integer() and 0 <= value < 10 ** MAX_SECONDS_DIGITS:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10 ** MAX_SECONDS_DIGITS:
        return value
    raise ShapeError(field, "is %s, not a whole number of seconds (a decimal string of at most %d digits)"
                     % (json_type(value), MAX_SECONDS_DIGITS))


TOKEN_SECONDS = ("expires_in", "expires_on", "ext_expires_in", "not_before")
TOKEN_STRINGS = ("access_token", "token_type", "resource", "client_id", "object_id", "msi_res_id", "refresh_token")


def token_answer(document):
    """An answer of the token endpoint, as a new dict with its times as ints. The messages name fields and
    types only, never any part of the answer."""
    if not isinstance(document, Mapping):
        raise ShapeError("the answer", "is %s, not an object" % json_type(document))
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise ShapeError("access_token", "is missing" if token in (None, "") else "is %s, not a string" % json_type(token))
    record = dict(document)
    for name in TOKEN_STRINGS:
        if name in record and not isinstance(record[name], str):
            raise ShapeError(name, "is %s, not a string" % json_type(record[name]))
    for name in TOKEN_SECONDS:
        if name in record:
            record[name] = seconds(record[name], name)
    return record
