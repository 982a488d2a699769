# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DMI detection: Azure, not Azure, and "cannot tell"."""

from __future__ import annotations

import os

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _detect
from ansible_collections.imds.azure.plugins.module_utils._detect import AZURE, NOT_AZURE, UNKNOWN, detect_azure

AZURE_TAG = "7783-7084-3265-9085-8269-3286-77"


def test_azure_asset_tag(dmi, tmp_path):
    assert detect_azure(dmi(tmp_path / "d", AZURE_TAG, "Microsoft Corporation")).result == AZURE


def test_azure_asset_tag_alone_is_enough(dmi, tmp_path):
    assert detect_azure(dmi(tmp_path / "d", AZURE_TAG)).result == AZURE


@pytest.mark.parametrize("vendor", ["Amazon EC2", "Google", "QEMU", "VMware, Inc.", "Dell Inc."])
def test_other_vendor_is_not_azure(dmi, tmp_path, vendor):
    result = detect_azure(dmi(tmp_path / "d", "", vendor))
    assert result.result == NOT_AZURE
    assert vendor in result.reason


def test_hyperv_without_azure_tag_is_unknown(dmi, tmp_path):
    assert detect_azure(dmi(tmp_path / "d", "1234-5678", "Microsoft Corporation")).result == UNKNOWN


def test_no_dmi_directory_is_unknown(dmi, tmp_path):
    assert detect_azure(str(tmp_path / "missing")).result == UNKNOWN


def test_empty_dmi_directory_is_unknown(dmi, tmp_path):
    assert detect_azure(dmi(tmp_path / "d")).result == UNKNOWN


def test_unreadable_files_are_unknown(dmi, tmp_path):
    # A directory where the file should be fails to open with an OSError for every user; a mode of
    # 0 would not (root, who runs make test, reads files whatever their mode).
    path = dmi(tmp_path / "d", AZURE_TAG, "Microsoft Corporation")
    for name in ("chassis_asset_tag", "sys_vendor"):
        os.remove(os.path.join(path, name))
        os.mkdir(os.path.join(path, name))
    assert detect_azure(path).result == UNKNOWN


def test_env_override_is_the_test_hook(dmi, tmp_path, monkeypatch):
    monkeypatch.setenv(_detect.DMI_PATH_ENV, dmi(tmp_path / "d", AZURE_TAG))
    assert detect_azure().result == AZURE
    monkeypatch.setenv(_detect.DMI_PATH_ENV, "")
    assert detect_azure().result == UNKNOWN


def test_default_path_on_linux(monkeypatch):
    monkeypatch.delenv(_detect.DMI_PATH_ENV, raising=False)
    monkeypatch.setattr(_detect.sys, "platform", "linux")
    assert _detect.dmi_path() == "/sys/class/dmi/id"
    monkeypatch.setattr(_detect.sys, "platform", "freebsd13")
    assert _detect.dmi_path() is None
    assert detect_azure().result == UNKNOWN
