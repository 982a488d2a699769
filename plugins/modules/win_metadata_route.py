#!/usr/bin/python
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file only documents the PowerShell module win_metadata_route.ps1.

from __future__ import annotations

DOCUMENTATION = r"""
module: win_metadata_route
short_description: Read and change the 169.254.169.254/32 routes of a Windows host
description:
  - Internal building block of M(imds.azure.metadata_route) on Windows targets, whose action plugin plans the repair on the
    controller. Use that module instead. Its options and results may change in any release.
  - Carries out the O(changes) given, in order, then reads the IPv4 default routes, the C(169.254.169.254/32) and
    C(169.254.0.0/16) routes of the active and the persistent store, the interfaces and their addresses with the NetTCPIP
    cmdlets, or C(route.exe print -4) and the enabled adapters' addresses where that module is missing.
  - C(New-NetRoute) saves a route in both stores unless C(-PolicyStore ActiveStore) is given; it refuses
    C(-PolicyStore PersistentStore). C(Remove-NetRoute -PolicyStore) removes from one store. C(route.exe delete) removes the
    active and the persistent entries.
version_added: 0.2.0
author:
  - imds.azure maintainers (@imds-azure)
options:
  changes:
    description:
      - The changes to make, in order, before the routes are read. None in check mode.
      - With the NetTCPIP cmdlets the first failure ends the changes; C(route.exe) commands all run.
    type: list
    elements: dict
    default: []
    suboptions:
      action:
        description:
          - V(remove) runs C(Remove-NetRoute) for O(changes[].interface_index), O(changes[].next_hop) and O(changes[].store).
          - V(add) runs C(New-NetRoute) on-link through O(changes[].interface_index) with O(changes[].metric), in both stores
            when O(changes[].persistent), else in the active store only.
          - V(route_delete) runs C(route.exe delete 169.254.169.254 mask 255.255.255.255).
          - V(route_add) runs C(route.exe add) through O(changes[].interface_address) with O(changes[].metric) and
            C(IF) O(changes[].interface_index), with C(-p) when O(changes[].persistent).
        type: str
        required: true
        choices: [remove, add, route_delete, route_add]
      interface_index:
        description: The interface index.
        type: int
      interface_address:
        description: The interface's IPv4 address (V(route_add)).
        type: str
      next_hop:
        description: The next hop of the route to remove; V(0.0.0.0) is on-link.
        type: str
        default: 0.0.0.0
      store:
        description: The policy store of the route to remove.
        type: str
        choices: [ActiveStore, PersistentStore]
        default: ActiveStore
      metric:
        description: The route metric of the route to add.
        type: int
      persistent:
        description: Add the route to the persistent store too.
        type: bool
        default: false
extends_documentation_fragment:
  - imds.azure._attributes
  - imds.azure._attributes.platform_windows
attributes:
  check_mode:
    support: full
    details:
      - In check mode no change is made; the routes are read.
  facts:
    support: none
  diff_mode:
    support: none
notes:
  - Changing routes needs an elevated session (a member of Administrators not filtered by UAC).
  - Under Constrained Language Mode (AppLocker, WDAC) it runs only when an administrator has signed it; see the Windows guide.
seealso:
  - module: imds.azure.metadata_route
"""

EXAMPLES = r"""
# Needs Windows: a Windows host (a PowerShell module)
- name: Read the routes the IMDS route repair looks at (what metadata_route does for you)
  imds.azure.win_metadata_route:
  register: routes
"""

RETURN = r"""
admin:
  description: The connection user runs elevated.
  returned: always
  type: bool
  sample: true
netroute:
  description: The NetTCPIP cmdlets are present (else RV(route_print) and RV(adapters) are returned).
  returned: always
  type: bool
  sample: true
active:
  description: C(Get-NetRoute -PolicyStore ActiveStore) records (C(DestinationPrefix), C(NextHop), C(InterfaceIndex),
    C(InterfaceAlias), C(RouteMetric)) of the default, IMDS and link-local routes.
  returned: RV(netroute) is true
  type: list
  elements: dict
  sample: []
persistent:
  description: The same from the persistent store.
  returned: RV(netroute) is true
  type: list
  elements: dict
  sample: []
interfaces:
  description: C(Get-NetIPInterface) records (C(InterfaceIndex), C(InterfaceAlias), C(InterfaceMetric), C(ConnectionState)).
  returned: RV(netroute) is true
  type: list
  elements: dict
  sample: []
addresses:
  description: C(Get-NetIPAddress) records (C(InterfaceIndex), C(IPAddress), C(PrefixLength), C(SkipAsSource)).
  returned: RV(netroute) is true
  type: list
  elements: dict
  sample: []
route_print:
  description: What C(route.exe print -4) printed.
  returned: RV(netroute) is false
  type: str
  sample: ""
adapters:
  description: C(InterfaceIndex) and C(IPAddress) of the enabled adapters (C(Win32_NetworkAdapterConfiguration)).
  returned: RV(netroute) is false
  type: list
  elements: dict
  sample: []
change:
  description: How the changes went; C(denied) is true when Windows refused them for lack of rights.
  returned: changes were made
  type: dict
  sample: {"ok": true, "denied": false, "error": ""}
"""
