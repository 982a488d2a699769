# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recorded-style outputs of route commands, shared by the route unit tests."""

from __future__ import annotations

import base64
import json

from ansible_collections.imds.azure.tests.unit.fakes.route_captures import CAPTURES

# ip -j -4 route show table main, Azure VM with the DHCP classless routes
IP_JSON_AZURE = json.dumps([
    {"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "protocol": "dhcp", "prefsrc": "10.0.0.4", "metric": 100, "flags": []},
    {"dst": "10.0.0.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "prefsrc": "10.0.0.4", "metric": 100, "flags": []},
    {"dst": "168.63.129.16", "gateway": "10.0.0.1", "dev": "eth0", "protocol": "dhcp", "prefsrc": "10.0.0.4", "metric": 100, "flags": []},
    {"dst": "169.254.169.254", "gateway": "10.0.0.1", "dev": "eth0", "protocol": "dhcp", "prefsrc": "10.0.0.4", "metric": 100, "flags": []},
])

# the same host with a cluster-like adapter and no IMDS route
IP_JSON_CAPTURED = json.dumps([
    {"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "protocol": "dhcp", "prefsrc": "10.0.0.4", "metric": 100, "flags": []},
    {"dst": "10.0.0.0/24", "dev": "eth0", "protocol": "kernel", "scope": "link", "prefsrc": "10.0.0.4", "metric": 100, "flags": []},
    {"dst": "169.254.0.0/16", "dev": "clu0", "protocol": "kernel", "scope": "link", "prefsrc": "169.254.1.1", "flags": []},
])

# ip -j -4 rule show / ip -4 rule show of a host without policy routing rules of its own
IP_RULE_JSON_DEFAULT = CAPTURES["cluster"]["rules_json"]
IP_RULE_TEXT_DEFAULT = CAPTURES["cluster"]["rules_text"]

IP_TEXT_TWO_DEFAULTS = """\
default via 10.0.0.1 dev eth0 proto dhcp src 10.0.0.4 metric 100
default via 10.1.0.1 dev eth1 proto dhcp src 10.1.0.4 metric 100
10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.4 metric 100
10.1.0.0/24 dev eth1 proto kernel scope link src 10.1.0.4 metric 100
169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1
169.254.169.254 dev clu0 scope link metric 5
unreachable 203.0.113.0/24
"""

IP_TEXT_MULTIPATH = """\
default proto static metric 20
\tnexthop via 198.51.100.1 dev eth0 weight 1
\tnexthop via 203.0.113.1 dev eth1 weight 1
198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10
"""

# --------------------------------------------------------------------- Windows: route print -4

ROUTE_PRINT_EN = """\
===========================================================================
Interface List
  6...00 0d 3a 12 34 56 ......Microsoft Hyper-V Network Adapter
 12...02 1a 4b 3c 2d 1e ......Microsoft Failover Cluster Virtual Adapter
  1...........................Software Loopback Interface 1
===========================================================================

IPv4 Route Table
===========================================================================
Active Routes:
Network Destination        Netmask          Gateway       Interface  Metric
          0.0.0.0          0.0.0.0         10.0.1.1        10.0.1.10     10
         10.0.1.0    255.255.255.0         On-link         10.0.1.10    266
        10.0.1.10  255.255.255.255         On-link         10.0.1.10    266
       10.0.1.255  255.255.255.255         On-link         10.0.1.10    266
        127.0.0.0        255.0.0.0         On-link         127.0.0.1    331
        127.0.0.1  255.255.255.255         On-link         127.0.0.1    331
      169.254.0.0      255.255.0.0         On-link     169.254.1.127    261
    169.254.1.127  255.255.255.255         On-link     169.254.1.127    261
  169.254.255.255  255.255.255.255         On-link     169.254.1.127    261
        224.0.0.0        240.0.0.0         On-link         127.0.0.1    331
        224.0.0.0        240.0.0.0         On-link         10.0.1.10    266
        224.0.0.0        240.0.0.0         On-link     169.254.1.127    261
  255.255.255.255  255.255.255.255         On-link         127.0.0.1    331
  255.255.255.255  255.255.255.255         On-link         10.0.1.10    266
  255.255.255.255  255.255.255.255         On-link     169.254.1.127    261
===========================================================================
Persistent Routes:
  None
"""

ROUTE_PRINT_EN_FIXED = ROUTE_PRINT_EN.replace("""\
      169.254.0.0      255.255.0.0         On-link     169.254.1.127    261
""", """\
      169.254.0.0      255.255.0.0         On-link     169.254.1.127    261
  169.254.169.254  255.255.255.255         On-link         10.0.1.10     11
""").replace("""\
Persistent Routes:
  None
""", """\
Persistent Routes:
  Network Address          Netmask  Gateway Address  Metric
  169.254.169.254  255.255.255.255        10.0.1.10       1
===========================================================================
""")

# German display language: every heading and "On-link" are translated
ROUTE_PRINT_DE = """\
===========================================================================
Schnittstellenliste
  6...00 0d 3a 12 34 56 ......Microsoft Hyper-V-Netzwerkadapter
 12...02 1a 4b 3c 2d 1e ......Virtueller Microsoft-Failoverclusteradapter
  1...........................Software Loopback Interface 1
===========================================================================

IPv4-Routentabelle
===========================================================================
Aktive Routen:
     Netzwerkziel    Netzwerkmaske          Gateway    Schnittstelle Metrik
          0.0.0.0          0.0.0.0         10.0.1.1        10.0.1.10     10
         10.0.1.0    255.255.255.0   Auf Verbindung         10.0.1.10    266
        127.0.0.0        255.0.0.0   Auf Verbindung         127.0.0.1    331
      169.254.0.0      255.255.0.0   Auf Verbindung     169.254.1.127    261
  169.254.169.254  255.255.255.255   Auf Verbindung     169.254.1.127    262
===========================================================================
Ständige Routen:
  Netzwerkadresse          Netzmaske  Gatewayadresse  Metrik
  169.254.169.254  255.255.255.255    169.254.1.127       1
===========================================================================
"""

# Japanese display language, no persistent routes
ROUTE_PRINT_JA = """\
===========================================================================
インターフェイス一覧
  6...00 0d 3a 12 34 56 ......Microsoft Hyper-V Network Adapter
 12...02 1a 4b 3c 2d 1e ......Microsoft Failover Cluster Virtual Adapter
  1...........................Software Loopback Interface 1
===========================================================================

IPv4 ルート テーブル
===========================================================================
アクティブ ルート:
ネットワーク宛先        ネットマスク          ゲートウェイ       インターフェイス  メトリック
          0.0.0.0          0.0.0.0         10.0.1.1        10.0.1.10     10
         10.0.1.0    255.255.255.0            リンク上         10.0.1.10    266
      169.254.0.0      255.255.0.0            リンク上     169.254.1.127    261
===========================================================================
固定ルート:
  なし
"""


# --------------------------------------------------------------------- Windows: Get-NetRoute JSON

def _netroute(prefix, hop, index, alias, metric):
    return {"DestinationPrefix": prefix, "NextHop": hop, "InterfaceIndex": index, "InterfaceAlias": alias, "RouteMetric": metric}


INTERFACES = [
    {"InterfaceIndex": 6, "InterfaceAlias": "Ethernet", "InterfaceMetric": 10, "ConnectionState": "Connected"},
    {"InterfaceIndex": 9, "InterfaceAlias": "Ethernet 2", "InterfaceMetric": 15, "ConnectionState": "Connected"},
    {"InterfaceIndex": 12, "InterfaceAlias": "Cluster Virtual Adapter", "InterfaceMetric": 260, "ConnectionState": "Connected"},
    {"InterfaceIndex": 1, "InterfaceAlias": "Loopback Pseudo-Interface 1", "InterfaceMetric": 75, "ConnectionState": "Connected"},
]
ADDRESSES = [
    {"InterfaceIndex": 6, "IPAddress": "10.0.1.10", "PrefixLength": 24, "SkipAsSource": False},
    {"InterfaceIndex": 9, "IPAddress": "10.0.2.10", "PrefixLength": 24, "SkipAsSource": False},
    {"InterfaceIndex": 12, "IPAddress": "169.254.1.127", "PrefixLength": 16, "SkipAsSource": False},
    {"InterfaceIndex": 1, "IPAddress": "127.0.0.1", "PrefixLength": 8, "SkipAsSource": False},
]
DEFAULTS = [
    _netroute("0.0.0.0/0", "10.0.1.1", 6, "Ethernet", 0),
    _netroute("0.0.0.0/0", "10.0.2.1", 9, "Ethernet 2", 10),
]
CLUSTER_16 = _netroute("169.254.0.0/16", "0.0.0.0", 12, "Cluster Virtual Adapter", 1)
GOOD_ACTIVE = _netroute("169.254.169.254/32", "0.0.0.0", 6, "Ethernet", 1)
WRONG_ACTIVE = _netroute("169.254.169.254/32", "0.0.0.0", 12, "Cluster Virtual Adapter", 1)
DHCP_ACTIVE = _netroute("169.254.169.254/32", "10.0.1.1", 6, "Ethernet", 0)


def netroute_data(active=(), persistent=(), admin=True, defaults=None):
    return {
        "admin": admin, "netroute": True,
        "active": list(DEFAULTS if defaults is None else defaults) + [CLUSTER_16] + list(active),
        "persistent": list(persistent),
        "interfaces": INTERFACES, "addresses": ADDRESSES, "route_print": None,
    }


def encode(data):
    """What the Windows read script prints: base64 of UTF-8 JSON."""
    return base64.b64encode(json.dumps(data, ensure_ascii=False).encode("utf-8")).decode("ascii") + "\r\n"


# Win32_NetworkAdapterConfiguration (InterfaceIndex, IPAddress) as the read script selects it without NetTCPIP
ADAPTERS = [{"InterfaceIndex": 6, "IPAddress": ["10.0.1.10", "fe80::20d:3aff:fe12:3456"]},
            {"InterfaceIndex": 12, "IPAddress": ["169.254.1.127"]}]


def route_print_data(text, admin=True, adapters=None):
    return {"admin": admin, "netroute": False, "active": [], "persistent": [], "interfaces": [], "addresses": [],
            "route_print": text, "adapters": ADAPTERS if adapters is None else adapters}
