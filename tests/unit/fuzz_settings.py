# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypothesis settings shared by every property-based (fuzzing) test of the collection.

Import the profile from here before using ``hypothesis.given`` (``from ... import fuzz_settings``)
and name fuzzing test modules ``test_*fuzz*.py``:

* ``ci`` (the default; ``make test`` and ``make test-units``): FUZZ_EXAMPLES examples per property,
  derandomized so that every run tries the same inputs, no per-example deadline (the machine is
  shared), nothing written to disk;
* ``fuzz`` (``make fuzz``, ``HYPOTHESIS_PROFILE=fuzz``): LONG_FUZZ_EXAMPLES examples with fresh
  random inputs on every run; a failure prints the seed and blob that reproduce it.

The property every fuzzing test checks: whatever the input, the code ends in a value or in the
plugin's own error with its documented error keyword, never in another exception.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = 100
LONG_FUZZ_EXAMPLES = 5000

settings.register_profile("ci", max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("fuzz", max_examples=LONG_FUZZ_EXAMPLES, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The imds_error values the modules document (docs/docsite/rst/facts.rst "Errors and what to do").
IMDS_ERROR_KINDS = frozenset(("config", "unreachable", "timeout", "rejected", "not_found", "throttled", "server_error",
                              "not_imds", "too_large"))
