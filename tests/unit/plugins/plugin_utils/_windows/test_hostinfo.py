# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils._windows.hostinfo: the SMBIOS table of a Windows host and what it says."""

from __future__ import annotations

import base64

import pytest

from ansible_collections.imds.azure.plugins.module_utils import _detect
from ansible_collections.imds.azure.plugins.plugin_utils._windows import hostinfo as _windows_hostinfo
from ansible_collections.imds.azure.tests.unit.fakes import windows_fake as wf


@pytest.mark.parametrize("header", [True, False])
def test_parse_smbios(header):
    assert _windows_hostinfo.parse_smbios(wf.build_smbios(header=header)) == (wf.AZURE_TAG, wf.MICROSOFT)
    assert _windows_hostinfo.parse_smbios(wf.build_smbios("No Asset Tag", "Amazon EC2", header=header)) == ("No Asset Tag", "Amazon EC2")
    assert _windows_hostinfo.parse_smbios(wf.build_smbios("", "QEMU", header=header)) == ("", "QEMU")


@pytest.mark.parametrize("data", [b"", b"\x00" * 3, b"\x01\x02\x00\x00", wf.build_smbios()[:40], b"\x00\x03\x01\x00\x04\x00\x00\x00abcd"])
def test_parse_smbios_refuses_garbage(data):
    with pytest.raises(ValueError):
        _windows_hostinfo.parse_smbios(data)


@pytest.mark.parametrize("info, result", [
    ({"smbios": base64.b64encode(wf.build_smbios()).decode()}, _detect.AZURE),
    ({"smbios": base64.b64encode(wf.build_smbios("", "Amazon EC2")).decode()}, _detect.NOT_AZURE),
    ({"smbios": base64.b64encode(wf.build_smbios("", wf.MICROSOFT)).decode()}, _detect.UNKNOWN),  # on-premises Hyper-V
    ({"smbios": base64.b64encode(b"garbage!").decode()}, _detect.UNKNOWN),
    ({"smbios": None, "cim": {"asset_tag": wf.AZURE_TAG, "vendor": wf.MICROSOFT}}, _detect.AZURE),
    ({"smbios": None, "cim": {"asset_tag": "", "vendor": "VMware, Inc."}}, _detect.NOT_AZURE),
    ({"smbios": None, "cim_error": "Access denied"}, _detect.UNKNOWN),
])
def test_detection_from_hostinfo(info, result):
    assert _windows_hostinfo.detection_from_hostinfo(info).result == result
