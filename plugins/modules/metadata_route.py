#!/usr/bin/python
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file only documents the module: the work is done by the action plugin of the same
# name (plugins/action/metadata_route.py), on the controller, for Linux and Windows.

from __future__ import annotations

DOCUMENTATION = r"""
module: metadata_route
short_description: Ensure the route to the Azure Instance Metadata Service leaves through the right interface
description:
  - Checks and repairs the host route C(169.254.169.254/32) to the Azure Instance Metadata Service (IMDS) so that IMDS traffic
    leaves through the primary interface, the one that carries the default route.
  - Windows Server failover clustering adds an on-link C(169.254.0.0/16) route on the cluster virtual adapter, which captures
    IMDS traffic; IMDS calls then time out. This module applies Microsoft's fix, an on-link host route C(169.254.169.254/32)
    out of the interface of the C(0.0.0.0/0) default route with metric 1, persisted across reboots.
    On Linux it installs C(169.254.169.254/32 via <default gateway> dev <interface>).
  - Idempotent check-and-repair. Reads the active and (on Windows) the persistent route table; adds the route when it is
    missing, replaces it when it points at another interface, another gateway or has another metric, removes duplicates,
    and leaves a correct route alone. After a change it reads the routes again and fails if they are still not right.
  - Runs as an action plugin that plans on the controller. On Linux short read-only commands run over the connection,
    their output is parsed on the controller, then a single change command runs. On Windows the PowerShell module
    M(imds.azure.win_metadata_route) reads the routes, then makes the planned changes and reads them again. Every command
    or module run is bounded by O(timeout).
  - On Windows the routes are read with C(Get-NetRoute), C(Get-NetIPInterface) and C(Get-NetIPAddress) as JSON (so the
    display language does not matter) and changed with C(Remove-NetRoute -PolicyStore) per store and C(New-NetRoute),
    which saves a route in both stores (C(-PolicyStore ActiveStore) when only the running table may change;
    C(New-NetRoute) refuses C(-PolicyStore PersistentStore)). Hosts without the NetTCPIP cmdlets fall back to
    C(route.exe print -4), parsed by its structure rather than its localised headings, and C(route.exe -p add ... IF
    <index>), which binds the route to its interface.
  - On Linux the routes of every table and the policy rules are read with C(ip -j -4 route show table all) and
    C(ip -j -4 rule show) (or the text output of older iproute2) and the route is changed with C(ip route replace) and
    C(ip route del) in the C(main) table.
  - Before it changes anything, the module follows the lookup of C(169.254.169.254) as the kernel makes it for an IMDS client
    (TCP to port 80 from this host), through the policy rules and every table they reach, with the route it is about to
    install. When the traffic would still not leave through the chosen interface (a C(blackhole), C(unreachable),
    C(prohibit) or C(throw) route, a rule of those types, a rule or route that sends it through another interface, or an
    address of the host), the task fails with RV(imds_error=blocked) and a message naming the route or rule, and changes
    nothing. It also fails on such a block made for C(169.254.169.254/32) alone that the lookup meets today, which its
    own route would override or replace. O(remove_blocks) lets it remove those blocks. After the change, and when nothing
    had to change, C(ip route get 169.254.169.254) must lead through the chosen interface (RV(imds_error=verify)).
version_added: 0.1.0
author:
  - imds.azure maintainers (@imds-azure)
options:
  state:
    description:
      - V(present) ensures the route exists and uses the chosen interface and metric.
      - V(absent) removes the C(169.254.169.254/32) routes (only those through O(interface) when it is set).
    type: str
    choices: [present, absent]
    default: present
  interface:
    description:
      - The interface the route must use.
      - On Linux an interface name such as V(eth0). On Windows an interface alias, an interface index, or an IPv4 address
        of the interface (only the address works on hosts without the NetTCPIP cmdlets).
      - Default is the interface of the IPv4 default route with the lowest metric (on Windows route metric plus interface
        metric, as Windows ranks them). When several default routes share the lowest metric, the module picks one (Linux
        the first in the kernel's table, Windows the lowest interface index), says which in RV(interface_reason) and warns;
        set this option to choose.
      - On Linux, when the interface has no default route the route is installed on-link (C(scope link)).
    type: str
  metric:
    description:
      - Route metric of the host route. On Windows this is the route metric (Windows adds the interface metric).
      - On Windows hosts without the NetTCPIP cmdlets (C(route.exe) fallback) the metric must be 1 or more.
    type: int
    default: 1
  persistent:
    description:
      - On Windows, also ensure the route in the persistent store so that it survives reboots. With V(false) the persistent
        store is neither checked nor changed; on the C(route.exe) fallback, whose C(delete) also removes persistent
        entries, the task then fails rather than delete a persistent entry. Not set means V(true) on Windows.
      - On Linux routes are only changed in the running kernel; no distribution-independent persistent store exists. The
        module returns RV(persisted=false), and warns when it changed a route while this option is set to V(true) (not in
        check mode, where nothing is changed); not set, it does not warn. Persist the route in
        the network configuration of your distribution (netplan C(routes), NetworkManager C(ipv4.routes), systemd-networkd
        C([Route]), ifcfg C(route-<if>)), or run this module at boot. On Azure, DHCP normally supplies this route on the
        primary NIC.
    type: bool
  remove_blocks:
    description:
      - On Linux, remove what blocks IMDS traffic instead of failing (RV(imds_error=blocked)), when it is made for
        C(169.254.169.254/32) alone - a C(blackhole), C(unreachable), C(prohibit) or C(throw) route to it, a route to it
        through another interface in a table other than C(main), or a policy rule for C(to 169.254.169.254/32) that sends
        it to a block or another table (the rule goes rather than the route it leads to). They are removed first, in the
        same command as the change. RV(actions) and RV(commands) list them, in check mode too.
      - Never removes a route or rule that also covers other addresses (such as C(unreachable 169.254.0.0/16) or
        C(from all lookup 100)), nor an address of the host; the task fails naming it, whatever this option says.
      - On Windows the module never removes a block (a C(169.254.169.254/32) route through the loopback interface, or
        C(169.254.169.254) as an address of the host); this option has no effect there.
    type: bool
    default: false
    version_added: 0.2.0
  timeout:
    description:
      - Seconds each command may run on the target before it is stopped and the task fails. The controller also gives up
        waiting on the connection shortly after that (on Windows 60 seconds after that, PowerShell's start-up included).
    type: int
    default: 30
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Reports the change it would make (RV(actions), RV(commands), predicted RV(route_after)) without making it.
  diff_mode:
    support: full
    details: Shows the C(169.254.169.254/32) routes before and after.
  platform:
    platforms: [posix, windows]
    details: Linux with iproute2; Windows with PowerShell (NetTCPIP cmdlets, or route.exe as a fallback).
notes:
  - Changing routes needs root or C(CAP_NET_ADMIN) on Linux (use O(ignore:become=true)); on Windows the connection user
    must be an administrator in an elevated session (or use O(ignore:become=true) with C(runas)). A missing
    privilege is reported as RV(imds_error=privilege).
  - IPv4 only. On Linux the route is installed in the C(main) table; other tables and the policy rules are read and
    changed only to remove blocks when O(remove_blocks=true). Firewall rules (nftables, iptables, Windows Firewall) are not
    read; the M(imds.azure.metadata_facts) verification of the C(imds.azure.route) role catches what they block.
  - Other failures have a stable keyword in RV(imds_error), for example V(no_default_route) when there is no IPv4 default route
    and O(interface) is not set, or V(unsupported_os) for targets other than Linux and Windows.
seealso:
  - name: Azure IMDS routing and the failover cluster fix
    description: Microsoft's troubleshooting section for IMDS, including the failover cluster route.
    link: https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service
  - module: ansible.windows.win_route
"""

EXAMPLES = r"""
- name: Repair the IMDS route (Microsoft's failover cluster fix on Windows)
  imds.azure.metadata_route:
  register: imds_route

- name: Show what was done
  ansible.builtin.debug:
    msg: "{{ imds_route.actions }} via {{ imds_route.interface }} ({{ imds_route.interface_reason }})"

- name: Use a given interface on Linux
  imds.azure.metadata_route:
    interface: eth0
  become: true

- name: Only check, in check mode with a diff
  imds.azure.metadata_route:
  check_mode: true
  diff: true

- name: Repair the route, removing blackhole or prohibit routes and rules made to keep IMDS away
  imds.azure.metadata_route:
    remove_blocks: true
  become: true

- name: Remove the host route
  imds.azure.metadata_route:
    state: absent
"""

RETURN = r"""
os_family:
  description: Which implementation ran.
  returned: success
  type: str
  sample: windows
reader:
  description: How the routes were read. V(netroute) (Get-NetRoute), V(route-print) (route.exe fallback),
    V(ip-json) or V(ip-text).
  returned: success
  type: str
  sample: netroute
interface:
  description: Interface the route uses (Linux name or Windows alias). V(null) for O(state=absent) without O(interface).
  returned: success
  type: str
  sample: Ethernet
interface_index:
  description: Windows interface index of RV(interface).
  returned: success
  type: int
  sample: 6
interface_address:
  description: Windows IPv4 address of RV(interface), the address Microsoft's fix uses.
  returned: success
  type: str
  sample: 10.0.1.10
gateway:
  description: Next hop of the route; empty for an on-link route (always on Windows).
  returned: success
  type: str
  sample: 198.51.100.1
interface_reason:
  description: Why this interface was chosen.
  returned: success
  type: str
  sample: interface of the default route with the lowest metric (25)
route_before:
  description: The C(169.254.169.254/32) routes before the task (active and, on Windows, persistent).
  returned: success
  type: list
  elements: dict
  contains:
    destination:
      description: Destination prefix.
      type: str
      sample: 169.254.169.254/32
    gateway:
      description: Next hop, empty when on-link.
      type: str
      sample: ""
    interface:
      description: Interface name or alias.
      type: str
      sample: Ethernet
    interface_index:
      description: Interface index (Windows), or V(null).
      type: int
      sample: 6
    interface_address:
      description: IPv4 address of the interface (Windows), or empty.
      type: str
      sample: 10.0.1.10
    metric:
      description: Route metric, V(null) when unknown (route.exe shows only the effective metric of active routes).
      type: int
      sample: 1
    effective_metric:
      description: Route metric plus interface metric (Windows active routes), or V(null).
      type: int
      sample: 11
    store:
      description: V(active) or V(persistent).
      type: str
      sample: active
route_after:
  description: The routes after the task, read again from the host; in check mode the predicted routes. Same shape as
    RV(route_before).
  returned: success
  type: list
  elements: dict
actions:
  description: What was (or in check mode would be) changed, one line per route.
  returned: success
  type: list
  elements: str
  sample:
    - "remove active: 169.254.169.254/32 on-link dev Cluster ifindex 12 metric 1"
    - "add active: 169.254.169.254/32 on-link dev Ethernet ifindex 6 metric 1"
commands:
  description: The change commands that ran (or would run in check mode); empty when nothing had to change.
  returned: success
  type: list
  elements: str
  sample: ["ip -4 route replace 169.254.169.254/32 via 198.51.100.1 dev eth0 metric 1 table main"]
persisted:
  description: Whether the route is kept across reboots by this module (Windows with O(persistent=true)); always V(false) on
    Linux.
  returned: success
  type: bool
  sample: true
effective_before:
  description:
    - On Linux, where C(ip route get 169.254.169.254) sent IMDS traffic before the task.
    - C(error) is the kernel's answer when it refused, for example C(Invalid argument) for a blackhole route.
  returned: success and Linux
  type: dict
  sample: {"interface": "clu0", "gateway": "", "error": ""}
effective_after:
  description: On Linux, where C(ip route get 169.254.169.254) sends IMDS traffic after the task.
  returned: success and Linux
  type: dict
  sample: {"interface": "eth0", "gateway": "198.51.100.1", "error": ""}
imds_error:
  description:
    - One stable keyword naming what failed; C(msg) says it in words. See
      R(troubleshooting,ansible_collections.imds.azure.docsite.troubleshooting) for every message.
    - V(no_default_route), V(interface), V(privilege), V(unsupported_os), V(timeout), V(command), V(parse), V(verify),
      V(config) (an option that is not valid or out of range, or a metric C(route.exe) refuses; RV(error)
      says V(argument), as in 0.1.0), V(route_exe)
      (the C(route.exe) fallback would have to delete a persistent route while O(persistent) is V(false)) or V(blocked)
      (a route, rule or address stops IMDS traffic on its way through the chosen interface; nothing was changed).
    - V(parse) when the target's route table cannot be read as what C(ip) or the NetTCPIP cmdlets print (a metric that is
      not a number, a destination or gateway that is not IPv4, an entry of the wrong type); the message names the entry,
      and nothing is changed.
  returned: failure
  type: str
  sample: privilege
  version_added: 0.2.0
error:
  description:
    - Deprecated alias of RV(imds_error), with the same value except V(argument) where RV(imds_error) is V(config) (the
      keyword of 0.1.0). Removed in 1.0.0; read RV(imds_error).
  returned: failure
  type: str
  sample: privilege
"""
