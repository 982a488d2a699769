# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the emulator's own test suite."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.imds_emulator.testing import imds_emulator_fixture, register_marker  # noqa: E402 pylint: disable=wrong-import-position

sys.path.insert(0, os.path.join(ROOT, "tools", "netguard"))
import imds_netguard  # noqa: E402 pylint: disable=wrong-import-position

imds_emulator = pytest.fixture(name="imds_emulator")(imds_emulator_fixture)
# netns/ needs the default endpoint: test_emulator_netns.py runs it inside a namespace of its own.
collect_ignore = [] if imds_netguard.in_private_namespace() else ["netns"]


def pytest_configure(config):
    register_marker(config)
