# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault SPEC parsing and evaluation (see docs/developing.md and docs/docsite/rst/emulator.rst).

Private to the IMDS emulator (tools/imds_emulator); never imported by the collection.
"""

import time

from .hostile import KINDS as HOSTILE_KINDS

# kind -> how its value is read. "ratio" kinds use the value as the probability (times ``ratio=``).
KINDS = {
    "gone": "seconds",
    "throttle": "count",
    "status": "status",
    "latency": "seconds",
    "stall": "seconds",
    "reset": "ratio",
    "html": "ratio",
    "truncate": "ratio",
    "stale-nonce": "ratio",
}
KINDS.update(HOSTILE_KINDS)


class FaultError(ValueError):
    """A fault SPEC that cannot be parsed."""


class Fault:
    """One active fault. ``started`` is when it was activated (``gone`` counts from there)."""

    def __init__(self, kind, value, ratio=1.0, path=None, spec=""):
        self.kind = kind
        self.value = value
        self.ratio = ratio
        self.path = path
        self.spec = spec
        self.started = time.monotonic()
        self.remaining = int(value) if kind == "throttle" else None

    def __repr__(self):
        return "Fault(%r)" % self.spec

    def matches_path(self, path):
        return self.path is None or path.startswith(self.path)

    def fires(self, rng, path, now):
        """Whether this fault applies to a request for ``path`` now (consumes randomness/counters)."""
        if not self.matches_path(path):
            return False
        if self.kind == "gone" and now - self.started >= self.value:
            return False
        if self.kind == "throttle" and self.remaining <= 0:
            return False
        probability = self.ratio * (self.value if KINDS[self.kind] == "ratio" else 1.0)
        if probability < 1.0 and rng.random() >= probability:
            return False
        if self.kind == "throttle":
            self.remaining -= 1
        return True


def parse_fault(spec):
    """Parse ``kind=value[,ratio=R][,path=PREFIX]`` into a :class:`Fault`."""
    if isinstance(spec, Fault):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise FaultError("empty fault spec %r" % (spec,))
    parts = [part.strip() for part in spec.split(",")]
    kind, sep, raw = parts[0].partition("=")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise FaultError("unknown fault kind %r in %r (known: %s)" % (kind, spec, ", ".join(sorted(KINDS))))
    if not sep:
        raw = "1"
    try:
        if KINDS[kind] == "status":
            value = int(raw)
            if not 100 <= value <= 599:
                raise ValueError(raw)
        elif KINDS[kind] == "count":
            value = int(raw)
        elif KINDS[kind] == "text":
            value = raw.strip()   # sent as is (a header value): any text without a comma
        else:
            value = float(raw)
    except ValueError:
        raise FaultError("bad value %r for fault %r in %r" % (raw, kind, spec)) from None
    if KINDS[kind] != "text" and (value < 0 or (KINDS[kind] == "ratio" and value > 1)):
        raise FaultError("value out of range for fault %r in %r" % (kind, spec))
    ratio, path = 1.0, None
    for part in parts[1:]:
        key, sep, val = part.partition("=")
        key = key.strip().lower()
        if key == "ratio" and sep:
            try:
                ratio = float(val)
            except ValueError:
                raise FaultError("bad ratio %r in %r" % (val, spec)) from None
            if not 0 <= ratio <= 1:
                raise FaultError("ratio must be within 0..1 in %r" % spec)
        elif key == "path" and sep and val.startswith("/"):
            path = val
        else:
            raise FaultError("bad option %r in fault %r (ratio=R or path=/PREFIX)" % (part, spec))
    return Fault(kind, value, ratio, path, spec)


def parse_faults(specs):
    """Parse a list of specs (or a single spec string)."""
    if isinstance(specs, str):
        specs = [specs]
    return [parse_fault(spec) for spec in (specs or ())]
