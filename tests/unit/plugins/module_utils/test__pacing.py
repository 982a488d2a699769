# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM's shared request budget: the event source and the scheduled_events module on one VM take
their requests from it, so the maintenance recipe's approvals never draw 429s from the source's polling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import pytest

from ansible_collections.imds.azure.extensions.eda.plugins.event_source import scheduled_events as source
from ansible_collections.imds.azure.plugins.module_utils import _pacing, _scheduled
from ansible_collections.imds.azure.plugins.module_utils._client import ImdsClient
from ansible_collections.imds.azure.plugins.module_utils._transport import UrlTransport


def test_budget_dir_is_this_users_own(tmp_path):
    path = _pacing.vm_budget_dir([str(tmp_path)])
    assert path == str(tmp_path / ("imds-azure-%d" % os.getuid()))
    assert os.stat(path).st_mode & 0o777 == 0o700
    assert _pacing.vm_budget_dir([str(tmp_path)]) == path


@pytest.mark.parametrize("make", ["symlink", "open", "other_owner", "file"])
def test_a_budget_dir_others_could_touch_is_not_used(tmp_path, make):
    path = tmp_path / ("imds-azure-%d" % os.getuid())
    if make == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        path.symlink_to(tmp_path / "elsewhere")
    elif make == "file":
        path.write_text("")
    else:
        path.mkdir(mode=0o700)
        if make == "open":
            path.chmod(0o770)
        elif os.getuid() == 0:
            os.chown(str(path), 4242, -1)
        else:
            pytest.skip("only root can give a directory to another user")
    assert _pacing.vm_budget_dir([str(tmp_path)]) is None
    client = _pacing.share_vm_budget(ImdsClient(endpoint="http://127.0.0.1:9"), base_dirs=[str(tmp_path)])
    assert isinstance(client.transport, UrlTransport)  # unchanged: a 429 is still retried as usual


def test_idle_budgets_are_removed(tmp_path, monkeypatch):
    directory = tmp_path / ("imds-azure-%d" % os.getuid())
    directory.mkdir(mode=0o700)
    for name, age in (("rate-old.json", 2 * _pacing.IDLE_BUCKET), ("rate-new.json", 10)):
        for suffix in ("", ".lock"):
            (directory / (name + suffix)).write_text("[]")
            stamp = time.time() - age
            os.utime(str(directory / (name + suffix)), (stamp, stamp))
    monkeypatch.setattr(_pacing, "_PRUNED", set())
    _pacing.vm_budget_dir([str(tmp_path)])
    assert sorted(os.listdir(str(directory))) == ["rate-new.json", "rate-new.json.lock"]


def test_clients_share_the_budget_across_processes(tmp_path):
    """Two clients (two processes in real life) on one endpoint: one window of 5 requests for both."""
    clock = [100.0]
    sleeps = []
    clients = [_pacing.share_vm_budget(ImdsClient(endpoint="http://127.0.0.1:9"), sleep=sleeps.append, base_dirs=[str(tmp_path)])
               for dummy in range(2)]
    for client in clients:
        client.transport.limiter._clock = lambda: clock[0]  # pylint: disable=protected-access
    bucket = ("http://127.0.0.1:9", "metadata", 0)
    for index in range(6):
        pause = clients[index % 2].transport.limiter._try(bucket, 5)  # pylint: disable=protected-access
        assert (pause is None) == (index < 5), index


def _recipe_step(url, event_id, **step):
    """One imds.azure.scheduled_events task of drain_and_approve.yml, as the module on the VM runs it."""
    params = dict(endpoint=url, api_version="latest", timeout=5, deadline=60, event_ids=[event_id], event_types=None,
                  resources=None, statuses=None, this_host=False, wait_for=None, wait_timeout=30, poll_interval=1,
                  approve=False, wait_for_completion=False)
    params.update(step)
    return _scheduled.execute(params, client_factory=_scheduled.vm_client)


def test_the_recipe_and_the_event_source_share_imds_rate_limit(imds_emulator_factory):
    """The event source polls once a second while the recipe's tasks run back to back, as fast as a fast
    VM runs them (look, approve, wait for the end), against IMDS's limit of 5 requests/s: no 429.
    Without the shared budget every approval drew a 429 here (the client retried it a second later)."""
    emu = imds_emulator_factory(rate_limit=5)

    async def scenario():
        queue = asyncio.Queue()
        task = asyncio.ensure_future(source.main(queue, {"endpoint": emu.url, "this_host": True, "timeout": 5, "deadline": 60}))
        loop = asyncio.get_event_loop()
        approved = []
        try:
            for dummy in range(2):
                event_id = emu.add_scheduled_event("Freeze,notice=30,started=1")
                while (await asyncio.wait_for(queue.get(), 30))[source.EVENT_KEY]["EventId"] != event_id:
                    pass
                for step in (dict(this_host=True, statuses=["Scheduled"]), dict(approve=True), dict(wait_for_completion=True)):
                    result = await loop.run_in_executor(None, lambda step=step: _recipe_step(emu.url, event_id, **step))
                    assert not result.get("warnings"), result
                    approved += result["approved"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return approved

    approved = asyncio.run(scenario())
    answers = [record.status for record in emu.request_log if record.path.startswith("/metadata")]
    assert len(approved) == 2 and 429 not in answers, (approved, answers)


# --------------------------------------------------------------------------- the limiter

@pytest.mark.parametrize("directory", [False, True])
def test_rate_limiter_never_allows_more_than_rate_in_any_second(tmp_path, directory, fake_time):
    clock = fake_time
    limiter = _pacing.RateLimiter(str(tmp_path) if directory else None, sleep=clock.sleep, clock=clock.clock)
    stamps = []
    for _attempt in range(23):
        limiter.acquire("bucket", 5)
        stamps.append(clock.now)
    for index in range(len(stamps) - 5):
        assert stamps[index + 5] - stamps[index] >= 1.0 + 0.2   # IMDS's second plus a margin for jitter
    assert clock.sleeps and 4.5 < clock.now - 1000.0 < 6.0


def test_rate_limiter_gives_up_after_max_wait(tmp_path, fake_time):
    limiter = _pacing.RateLimiter(str(tmp_path), sleep=fake_time.sleep, clock=fake_time.clock)
    for _slot in range(5):
        assert limiter.acquire("bucket", 5, max_wait=0) == 0.0
    assert limiter.acquire("bucket", 5, max_wait=1.0) is None     # the next slot frees up 1.25 s from now
    assert fake_time.sleeps == []
    assert limiter.acquire("bucket", 5, max_wait=2.0) == pytest.approx(1.255)


def test_rate_limiter_buckets_are_independent(fake_time):
    clock = fake_time
    limiter = _pacing.RateLimiter(None, sleep=clock.sleep, clock=clock.clock)
    for _attempt in range(5):
        limiter.acquire("a", 5)
        limiter.acquire("b", 5)
    assert clock.sleeps == []
    assert limiter.acquire("a", 0) == 0.0
