# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE to the imds.azure collection: attribute descriptions shared by its modules.
#   imds.azure._attributes                 descriptions (always include this one)
#   imds.azure._attributes.facts_module    support values of a read-only facts module
#   imds.azure._attributes.platform_posix  runs on POSIX targets with Python
#   imds.azure._attributes.platform_posix_windows  POSIX targets with Python, and Windows targets
#                                          through the action plugin (plugin_utils._windows.controller)
#   imds.azure._attributes.platform_windows  a PowerShell module for Windows targets

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
  platform:
    description: Target OS/families that can be operated against.
"""

    FACTS_MODULE = r"""
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  facts:
    support: full
"""

    PLATFORM_POSIX = r"""
attributes:
  platform:
    support: full
    platforms: posix
"""

    PLATFORM_POSIX_WINDOWS = r"""
attributes:
  platform:
    support: full
    platforms: [posix, windows]
    details:
      - On POSIX targets the module runs there with Python.
      - On Windows targets (connection C(winrm), C(psrp), or C(ssh) with the PowerShell or cmd shell) the action plugin runs
        the module's code on the controller and each IMDS request is one run of the PowerShell module
        M(imds.azure.win_metadata_request) on the target, through ansible-core's PowerShell module execution (Windows
        PowerShell 5.1 or PowerShell 7).
"""

    PLATFORM_WINDOWS = r"""
attributes:
  platform:
    support: full
    platforms: windows
    details:
      - Windows PowerShell 5.1 or PowerShell 7, through ansible-core's PowerShell module execution (C(winrm), C(psrp), or
        C(ssh) with the PowerShell or cmd shell).
"""
