# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the plugin tests: a fake clock/sleep pair, fake DMI directories, a closed port."""

from __future__ import annotations

import socket

import pytest

AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"


class FakeTime(object):
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


def make_dmi(directory, asset_tag=None, vendor=None):
    directory.mkdir(parents=True, exist_ok=True)
    if asset_tag is not None:
        directory.joinpath("chassis_asset_tag").write_text(asset_tag + "\n")
    if vendor is not None:
        directory.joinpath("sys_vendor").write_text(vendor + "\n")
    return str(directory)


@pytest.fixture
def dmi():
    """make_dmi(directory, asset_tag=None, vendor=None) -> path of a fake DMI directory."""
    return make_dmi


@pytest.fixture
def azure_dmi(tmp_path, monkeypatch):
    """IMDS_AZURE_DMI_PATH pointing to the DMI data of an Azure VM."""
    path = make_dmi(tmp_path / "dmi-azure", AZURE_TAG, "Microsoft Corporation")
    monkeypatch.setenv("IMDS_AZURE_DMI_PATH", path)
    return path


@pytest.fixture
def closed_port():
    """A loopback port nobody listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
