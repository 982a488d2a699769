# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the lookups share: message scrubbing, the per-process state of the run."""

from __future__ import annotations

import os

from ansible import constants as C

from ansible_collections.imds.azure.plugins.plugin_utils._lookup import base as _lookup
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.base import run_state, scrub


def test_scrub_removes_jwt_shaped_text():
    token = "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJ4In0.c2lnbmF0dXJl"
    assert scrub("bad %s here" % token) == "bad <redacted> here"
    assert scrub("nothing") == "nothing"


def test_state_is_per_process_and_run(monkeypatch, tmp_path):
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / "run-1"), raising=False)
    (tmp_path / "run-1").mkdir()
    state = run_state()
    assert run_state() is state and state.directory == os.path.join(str(tmp_path / "run-1"), "imds_azure_lookup")
    client = state.client("imds.azure.metadata", "http://127.0.0.1:9", "latest", 5.0, 90.0)
    assert state.client("imds.azure.metadata", "http://127.0.0.1:9", "latest", 5.0, 90.0) is client
    assert state.client("imds.azure.token", "http://127.0.0.1:9", "latest", 5.0, 90.0) is not client   # warnings name the lookup
    assert state.client("imds.azure.metadata", "http://127.0.0.1:9", "2021-02-01", 5.0, 90.0) is not client
    # a forked worker of the run: its own state (nothing of its parent's locks and clients), the run's files
    monkeypatch.setattr(_lookup.os, "getpid", lambda: -1)
    assert run_state() is not state and run_state().directory == state.directory
    monkeypatch.undo()
    # another run (another ansible-local-* directory): nothing of the first is kept
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path / "run-2"), raising=False)
    (tmp_path / "run-2").mkdir()
    assert run_state() is not state
