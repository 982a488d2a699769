# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every lookup test starts with an empty run: no cached documents, tokens, clients or warnings."""

from __future__ import annotations

import pytest

from ansible import constants as C

from ansible_collections.imds.azure.plugins.plugin_utils._lookup import base as _lookup


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch, tmp_path):
    """A private per-run directory (as ansible-core's ansible-local-* one) and empty caches."""
    run_dir = tmp_path / "ansible-local-run"
    run_dir.mkdir()
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(run_dir), raising=False)
    return run_dir   # a new run directory: the lookups' state of the process starts over (_lookup.run_state)


@pytest.fixture
def warnings(monkeypatch):
    """Warnings the lookups display (all share the Display singleton)."""
    seen = []
    monkeypatch.setattr(_lookup.display, "warning", lambda msg, *args, **kwargs: seen.append(msg))
    return seen
