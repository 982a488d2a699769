# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the fuzzing tests of the IMDS client, facts, lookups and scheduled events share.

The Hypothesis profiles (``ci`` for make test, ``long`` for make fuzz) are registered in
tests/unit/conftest.py; this module only holds what the properties check against.
"""

from __future__ import annotations

# The imds_error values the modules document (docs/docsite/rst/facts.rst "Errors and what to do").
IMDS_ERROR_KINDS = frozenset(("config", "unreachable", "timeout", "rejected", "not_found", "throttled", "server_error",
                              "not_imds", "too_large"))
