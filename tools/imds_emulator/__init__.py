# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A faithful Azure Instance Metadata Service (IMDS) emulator for tests, demos and benchmarks.

It shares no code with the collection's plugins (in either direction). See docs/docsite/rst/emulator.rst.
"""

from .emulator import Emulator, RequestRecord
from .faults import FaultError, parse_fault
from .fleet import Fleet
from .profile import default_profile, generate_fleet
from .scheduled import SCENARIOS, ScenarioError

__all__ = ["Emulator", "Fleet", "RequestRecord", "FaultError", "parse_fault", "default_profile", "generate_fleet", "SCENARIOS", "ScenarioError"]
