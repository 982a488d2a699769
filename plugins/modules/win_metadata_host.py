#!/usr/bin/python
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file only documents the PowerShell module win_metadata_host.ps1.

from __future__ import annotations

DOCUMENTATION = r"""
module: win_metadata_host
short_description: The SMBIOS table and environment variables of a Windows host
description:
  - Internal building block of M(imds.azure.metadata_facts) and M(imds.azure.scheduled_events) on Windows targets. It reads
    what they need besides IMDS, the SMBIOS table (for O(imds.azure.metadata_facts#module:detect)) and environment variables
    (for C(AZURE_IMDS_ENDPOINT)). Use those modules instead. Its options and results may change in any release.
  - The SMBIOS table is the registry copy of what C(GetSystemFirmwareTable('RSMB')) returns
    (C(HKLM:\SYSTEM\CurrentControlSet\Services\mssmbios\Data), value C(SMBiosData)); when it is missing,
    C(Win32_SystemEnclosure.SMBIOSAssetTag) and C(Win32_ComputerSystem.Manufacturer) are read through CIM instead.
version_added: 0.2.0
author:
  - imds.azure maintainers (@imds-azure)
options:
  smbios:
    description: Read the SMBIOS table.
    type: bool
    default: true
  env:
    description: Names of environment variables to read.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - imds.azure._attributes
  - imds.azure._attributes.platform_windows
attributes:
  check_mode:
    support: full
    details:
      - This module does not modify state.
  facts:
    support: none
  diff_mode:
    support: N/A
    details:
      - This module does not modify state.
notes:
  - Under Constrained Language Mode (AppLocker, WDAC) it runs only when an administrator has signed it; see the Windows guide.
seealso:
  - module: imds.azure.metadata_facts
"""

EXAMPLES = r"""
# Needs Windows: a Windows host (a PowerShell module)
- name: Read the SMBIOS table and the endpoint variable (what metadata_facts does for you)
  imds.azure.win_metadata_host:
    env: [AZURE_IMDS_ENDPOINT]
  register: host_info
"""

RETURN = r"""
smbios:
  description: The raw SMBIOS table, base64-encoded; null when it was not read or could not be.
  returned: always
  type: str
  sample: AAMBAAAAAAA=
smbios_error:
  description: Why the registry copy of the table could not be read.
  returned: the table could not be read
  type: str
  sample: Property SMBiosData does not exist
cim:
  description: The chassis asset tag and system manufacturer from CIM, when the table could not be read.
  returned: the table could not be read and CIM answered
  type: dict
  sample: {"asset_tag": "7783-7084-3265-9085-8269-3286-77", "vendor": "Microsoft Corporation"}
cim_error:
  description: Why CIM could not be read either.
  returned: neither the table nor CIM could be read
  type: str
  sample: Access denied
env:
  description: The environment variables asked for; null for an unset one.
  returned: always
  type: dict
  sample: {"AZURE_IMDS_ENDPOINT": null}
"""
