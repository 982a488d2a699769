# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the live lookups of a run share across its worker processes: the run cache."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest

from ansible_collections.imds.azure.plugins.module_utils._errors import ImdsNotFound, ImdsServerError
from ansible_collections.imds.azure.plugins.plugin_utils._lookup import run_cache as _run_cache
from ansible_collections.imds.azure.plugins.plugin_utils._lookup.run_cache import RunCache


# --------------------------------------------------------------------------- run cache

def test_run_cache_memory_only():
    cache = RunCache(None)
    calls = []
    value, how = cache.get(("k",), lambda: calls.append(1) or {"v": 1}, persist=True)
    assert (value, how) == ({"v": 1}, "fetched")
    assert cache.get(("k",), lambda: calls.append(1), persist=True) == ({"v": 1}, "memory")
    assert calls == [1]


def test_run_cache_files_are_private_and_shared(tmp_path):
    first = RunCache(str(tmp_path))
    first.get(("doc",), lambda: {"document": {"a": 1}}, persist=True)
    files = [name for name in os.listdir(tmp_path) if name.endswith(".json")]
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(os.path.join(str(tmp_path), files[0])).st_mode) == 0o600
    second = RunCache(str(tmp_path))   # another worker of the same run
    value, how = second.get(("doc",), lambda: pytest.fail("fetched again"), persist=True)
    assert how == "run" and value == {"document": {"a": 1}}


def _child(directory, queue):
    cache = RunCache(directory)
    marker = os.path.join(directory, "fetches")

    def fetch():
        with open(marker, "a") as handle:
            handle.write("x")
        import time
        time.sleep(0.2)
        return {"pid": os.getpid()}

    value, _how = cache.get(("shared",), fetch, persist=True)
    queue.put(value["pid"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_run_cache_single_flight_across_processes(tmp_path, forked):
    """Eight concurrent workers, one fetch: everyone gets the fetcher's value."""
    values = set(forked(_child, 8, str(tmp_path)))
    assert len(values) == 1
    assert (tmp_path / "fetches").read_text() == "x"


# --------------------------------------------------------------------------- failures are kept for the run (issue 22, item 13)

@pytest.mark.parametrize("persist", [False, True])
def test_a_failed_fetch_is_kept_for_the_run(tmp_path, persist):
    cache = RunCache(str(tmp_path))
    calls = []

    def fetch():
        calls.append(1)
        raise ImdsNotFound("GET /metadata/loadbalancer: 404 Not Found (No load balancer metadata is found)", url="u", status=404,
                           attempts=1, imds_answered=True, error="No load balancer metadata is found")

    for _attempt in range(3):
        with pytest.raises(ImdsNotFound) as info:
            cache.get(("lb",), fetch, persist)
        assert info.value.no_load_balancer and info.value.status == 404 and info.value.imds_answered
    assert calls == [1]
    if persist:   # another worker of the run: the same error, from the run directory
        with pytest.raises(ImdsNotFound, match="404 Not Found"):
            RunCache(str(tmp_path)).get(("lb",), lambda: pytest.fail("fetched again"), persist)


def test_other_failures_are_not_kept(tmp_path):
    """Only an ImdsError ends a whole call; anything else (a transport's attempt, a bug) is not a result of the run."""
    cache = RunCache(str(tmp_path))
    with pytest.raises(KeyError):
        cache.get(("k",), lambda: {}["missing"], persist=True)
    assert cache.get(("k",), lambda: {"v": 1}, persist=True) == ({"v": 1}, "fetched")


def _failing_child(directory, queue):
    cache = RunCache(directory)

    def fetch():
        with open(os.path.join(directory, "fetches"), "a") as handle:
            handle.write("x")
        time.sleep(0.5)
        raise ImdsServerError("IMDS GET /metadata/instance failed: HTTP 500 (boom); gave up at the 0.5 s deadline", status=500)

    try:
        cache.get(("shared",), fetch, persist=True)
    except ImdsServerError as exc:
        queue.put(str(exc))
    else:
        queue.put("no error")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_workers_waiting_for_a_fetch_that_fails_get_its_error_without_fetching_again(tmp_path, forked):
    """6 forks whose fetch failed after 0.5 s finished at 0.5, 1.0 ... 3.0 s: each fetched again after the one before."""
    assert set(forked(_failing_child, 6, str(tmp_path))) == {"IMDS GET /metadata/instance failed: HTTP 500 (boom); gave up at the 0.5 s deadline"}
    assert (tmp_path / "fetches").read_text() == "x"


def test_a_slow_fetch_does_not_hold_up_another_key(tmp_path):
    cache = RunCache(str(tmp_path))
    release, other_done = threading.Event(), threading.Event()

    def slow():
        release.wait(30)
        return {"slow": True}

    thread = threading.Thread(target=lambda: cache.get(("slow",), slow, persist=True))
    thread.start()
    try:
        other = threading.Thread(target=lambda: cache.get(("fast",), lambda: {"fast": True}, persist=True) and other_done.set())
        other.start()
        assert other_done.wait(10), "a fetch of another key waited for the slow one"
    finally:
        release.set()
        thread.join(30)
    assert cache.get(("slow",), lambda: pytest.fail("fetched again"), persist=True) == ({"slow": True}, "memory")


def test_run_cache_dir_is_inside_the_runs_local_tmp(monkeypatch, tmp_path):
    from ansible import constants as C
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path), raising=False)
    directory = _run_cache.run_cache_dir()
    assert directory == os.path.join(str(tmp_path), "imds_azure_lookup")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


def test_a_failure_not_to_keep_is_raised_and_fetched_again(tmp_path):
    """The lookups' api-version negotiation: a failed one is asked again by the next lookup, in this worker or another."""
    def fail():
        raise ImdsServerError("IMDS GET /metadata/versions failed: HTTP 500 (boom)", status=500)

    for cache in (RunCache(str(tmp_path)), RunCache(str(tmp_path))):
        with pytest.raises(ImdsServerError):
            cache.get(("versions",), fail, persist=True, keep_failure=False)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".json")]
    assert cache.get(("versions",), lambda: ["2021-02-01"], persist=True, keep_failure=False) == (["2021-02-01"], "fetched")
    assert RunCache(str(tmp_path)).get(("versions",), fail, persist=True) == (["2021-02-01"], "run")
