# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The knob defaults that docs/docsite/rst/emulator.rst lists are the emulator's defaults."""

from __future__ import annotations

import pathlib
import re

import yaml

from tools.imds_emulator import default_profile

PAGE = pathlib.Path(__file__).resolve().parents[3] / "docs" / "docsite" / "rst" / "emulator.rst"
# The first row of a knob in a grid table: | ``name`` | default | effect |
_ROW = re.compile(r"^\| ``([a-z_.]+)``\s*\| ([^|]+?)\s*\|", re.MULTILINE)


def _documented_defaults():
    """name -> default, for the rows whose default is a plain YAML value (not prose such as "all 35")."""
    found = {}
    for name, cell in _ROW.findall(PAGE.read_text(encoding="utf-8")):
        try:
            value = yaml.safe_load(cell)
        except yaml.YAMLError:
            continue
        if value is None and cell != "null" or isinstance(value, str) and cell == value:
            continue  # prose, or a cell that only continues on the next row
        found[name] = value
    return found


def test_documented_knob_defaults_are_the_emulator_defaults():
    knobs = default_profile()["emulator"]
    actual = dict(knobs, **{"identity.token_lifetime": knobs["identity"]["token_lifetime"]})
    actual.update(knobs["attested"])
    documented = _documented_defaults()
    assert {"include_intermediate", "signed_attributes", "unavailable_version_status"} <= set(documented)
    wrong = dict((name, (value, actual[name])) for name, value in documented.items() if name in actual and actual[name] != value)
    assert not wrong, "emulator.rst default != emulator default: %s" % wrong
