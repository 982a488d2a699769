# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit-test harness: network guard, Hypothesis profiles, and the IMDS emulator as an in-process fixture."""

from __future__ import annotations

import os
import sys

import pytest

from hypothesis import HealthCheck, settings, strategies

# Property-based fuzzing (Hypothesis). "ci", the default, keeps each property to a few seconds
# and is derandomised, so make test is reproducible; HYPOTHESIS_PROFILE=long (make fuzz) runs far
# more, random examples. Neither keeps an example database in the tree.
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _path in (_COLLECTION_ROOT, os.path.join(_COLLECTION_ROOT, "tools", "netguard")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import imds_netguard  # noqa: E402  pylint: disable=wrong-import-position

imds_netguard.install()

from tools.imds_emulator import Emulator  # noqa: E402  pylint: disable=wrong-import-position
from tools.imds_emulator import attested as _emulator_attested  # noqa: E402  pylint: disable=wrong-import-position

# ansible-test runs every test in a fork of its worker (its ansible_forked plugin): what is built
# here, at import, is inherited by every test, what a test builds dies with its fork. Every emulator
# needs the test CA (three RSA keys, about 0.2 s of CPU), so it is built once per worker.
_emulator_attested.get_ca()


def pytest_collection_finish(session):  # pylint: disable=unused-argument
    """Hypothesis builds the character table behind st.text() on first use (about 2.5 s of CPU), which every
    forked test that draws text paid again: built once per worker, after collection (Hypothesis warns when a
    conftest does it at import) and before the first fork."""
    strategies.text().validate()


@pytest.fixture
def imds_emulator_factory():
    """Start emulators on loopback with any library arguments; all are stopped afterwards."""
    started = []

    def start(**kwargs):
        kwargs.setdefault("rate_limit", None)
        emulator = Emulator(**kwargs)
        emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def imds_emulator(imds_emulator_factory):
    """One emulator with the default profile and no rate limit."""
    return imds_emulator_factory()
