# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the live lookups of a run share across its worker processes: the run cache and the request pacing."""

from __future__ import annotations

import multiprocessing
import os
import stat

import pytest

from ansible_collections.imds.azure.plugins.plugin_utils import _run_cache
from ansible_collections.imds.azure.plugins.plugin_utils._run_cache import RateLimiter, RunCache


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
    first.get(("doc",), lambda: {"document": {"a": 1}, "complete": True}, persist=lambda entry: dict(entry, complete=False))
    files = [name for name in os.listdir(tmp_path) if name.endswith(".json")]
    assert len(files) == 1
    assert stat.S_IMODE(os.stat(os.path.join(str(tmp_path), files[0])).st_mode) == 0o600
    second = RunCache(str(tmp_path))   # another worker of the same run
    value, how = second.get(("doc",), lambda: pytest.fail("fetched again"), persist=True)
    assert how == "run" and value == {"document": {"a": 1}, "complete": False}
    second.clear()
    assert not os.listdir(tmp_path)


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
def test_run_cache_single_flight_across_processes(tmp_path):
    """Eight concurrent workers, one fetch: everyone gets the fetcher's value."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(str(tmp_path), queue)) for _attempt in range(8)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
    values = {queue.get(timeout=5) for _attempt in procs}
    assert len(values) == 1
    assert (tmp_path / "fetches").read_text() == "x"


def test_run_cache_dir_is_inside_the_runs_local_tmp(monkeypatch, tmp_path):
    from ansible import constants as C
    monkeypatch.setattr(C, "DEFAULT_LOCAL_TMP", str(tmp_path), raising=False)
    directory = _run_cache.run_cache_dir()
    assert directory == os.path.join(str(tmp_path), "imds_azure_lookup")
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


# --------------------------------------------------------------------------- pacing

@pytest.mark.parametrize("directory", [False, True])
def test_rate_limiter_never_allows_more_than_rate_in_any_second(tmp_path, directory, fake_time):
    clock = fake_time
    limiter = RateLimiter(str(tmp_path) if directory else None, sleep=clock.sleep, clock=clock.clock)
    stamps = []
    for _attempt in range(23):
        limiter.acquire("bucket", 5)
        stamps.append(clock.now)
    for index in range(len(stamps) - 5):
        assert stamps[index + 5] - stamps[index] >= 1.0 + 0.2   # IMDS's second plus a margin for jitter
    assert clock.sleeps and 4.5 < clock.now - 1000.0 < 6.0


def test_rate_limiter_gives_up_after_max_wait(tmp_path, fake_time):
    limiter = RateLimiter(str(tmp_path), sleep=fake_time.sleep, clock=fake_time.clock)
    for _slot in range(5):
        assert limiter.acquire("bucket", 5, max_wait=0) == 0.0
    assert limiter.acquire("bucket", 5, max_wait=1.0) is None     # the next slot frees up 1.25 s from now
    assert fake_time.sleeps == []
    assert limiter.acquire("bucket", 5, max_wait=2.0) == pytest.approx(1.255)


def test_rate_limiter_buckets_are_independent(fake_time):
    clock = fake_time
    limiter = RateLimiter(None, sleep=clock.sleep, clock=clock.clock)
    for _attempt in range(5):
        limiter.acquire("a", 5)
        limiter.acquire("b", 5)
    assert clock.sleeps == []
    assert limiter.acquire("a", 0) == 0.0
