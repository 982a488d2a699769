# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CLI as a subprocess: banner, signals, fleets, manifest."""

import json
import re
import signal
import subprocess
import sys

import pytest

from tools.imds_emulator.testing import REPO_ROOT, EmulatorProcess
from imds_emu_helpers import call

BANNER = re.compile(r"^listening on http://127\.0\.0\.1:(\d+)$")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_banner_and_clean_stop(sig):
    proc = EmulatorProcess("--rate-limit", "off", "--listen", "127.0.0.1:0").start()
    try:
        assert BANNER.match(proc.banner[0])
        reply = call(proc.url, "/metadata/instance/compute/name?api-version=2021-02-01&format=text")
        assert reply.status == 200
    finally:
        code = proc.stop(sig)
    assert code == 0
    assert "ca.pem" in proc.stderr_text


def test_options(tmp_path):
    profile = tmp_path / "vm.yaml"
    profile.write_text("compute:\n  name: cli-vm\n", encoding="utf-8")
    ca_dir = tmp_path / "ca"
    with EmulatorProcess("--profile", str(profile), "--fault", "throttle=1", "--rate-limit", "off", "--ca-dir", str(ca_dir),
                         "--scenario", "Freeze,notice=60", "--seed", "5") as proc:
        path = "/metadata/instance/compute/name?api-version=2021-02-01&format=text"
        assert call(proc.url, path).status == 429
        assert call(proc.url, path).text == "cli-vm"
        events = call(proc.url, "/metadata/scheduledevents?api-version=2020-07-01").json()["Events"]
        assert events[0]["EventType"] == "Freeze"
        assert (ca_dir / "ca.pem").exists()
        log = call(proc.url, "/_emulator/log", metadata=False).json()
        assert [r["status"] for r in log] == [429, 200, 200]


def test_fleet_banner_and_manifest(tmp_path):
    out = tmp_path / "fleet.json"
    proc = EmulatorProcess("--fleet-size", "3", "--seed", "2", "--fleet-out", str(out), "--rate-limit", "off")
    proc.start(expected=3)
    try:
        assert len(proc.urls) == 3 and all(BANNER.match(line) for line in proc.banner)
        manifest = json.loads(out.read_text(encoding="utf-8"))
        assert [m["url"] for m in manifest] == proc.urls
        for entry in manifest:
            assert call(entry["url"], "/metadata/instance/compute/vmId?api-version=2021-02-01&format=text").text == entry["vmId"]
    finally:
        assert proc.stop() == 0


@pytest.mark.parametrize("args", [["--fault", "bogus=1"], ["--listen", "nohost"], ["--scenario", "Nope"], ["--rate-limit", "fast"]])
def test_bad_arguments(args):
    result = subprocess.run([sys.executable, "-m", "tools.imds_emulator"] + args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error" in result.stderr
