# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The placement inventory's sources; what they read is tested through the plugin (tests/unit/plugins/inventory/)."""

from __future__ import annotations

import importlib
import sys

PLUGINS = "ansible_collections.imds.azure.plugins."


def test_reading_caches_imports_no_imds_client(monkeypatch):
    # Every inventory run imports the plugin; only the local source gathers, so only it may import the client.
    for name in list(sys.modules):  # a fresh import of the collection for this test (restored after it)
        if name.startswith(PLUGINS):
            monkeypatch.delitem(sys.modules, name)
    importlib.import_module(PLUGINS + "inventory.placement")
    assert sorted(name for name in sys.modules if name.startswith((PLUGINS + "module_utils._client", PLUGINS + "module_utils._facts"))) == []
