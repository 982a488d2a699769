# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real iproute2 output of IMDS routes and of the blocks in their way, captured in network namespaces.

Captured as root with iproute2-6.1.0 on Linux 6.18.44-fc-v1300 (the development machine), each case in a
fresh namespace NS shaped like the vm namespace of tests/integration/targets/route_netns::

    ip netns add NS; ip -n NS link set lo up
    ip -n NS link add eth0 type veth peer name pfeth; ip -n NS link add clu0 type veth peer name clpeer
    ip -n NS addr add 198.51.100.10/24 dev eth0; ip -n NS addr add 169.254.1.1/16 dev clu0 (all four links up)
    ip -n NS route add default via 198.51.100.1 dev eth0 metric 100

then the case's ``setup`` commands (as ``ip -n NS ...``), then ``ip -n NS -j -4 route show table all``,
``ip -n NS -4 route show table all``, ``ip -n NS -j -4 rule show``, ``ip -n NS -4 rule show``,
``ip -n NS -4 route get 169.254.169.254`` and ``... route get 169.254.169.254 from 198.51.100.10`` (stdout, or
stderr when the kernel refused). Kept as printed, trailing blanks included; only the JSON is split per entry.
"""

from __future__ import annotations

CAPTURES = {
    'cluster': {
        'setup': '',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            '169.254.169.254 dev clu0 src 169.254.1.1 uid 0 \n'
            '    cache'
        ),
        'route_get_from': (
            '169.254.169.254 from 198.51.100.10 dev clu0 uid 0 \n'
            '    cache'
        ),
    },
    'fixed': {
        'setup': 'ip route add 169.254.169.254 via 198.51.100.1 dev eth0 metric 1',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"169.254.169.254","gateway":"198.51.100.1","dev":"eth0","metric":1,"flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '169.254.169.254 via 198.51.100.1 dev eth0 metric 1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            '169.254.169.254 via 198.51.100.1 dev eth0 src 198.51.100.10 uid 0 \n'
            '    cache'
        ),
        'route_get_from': (
            '169.254.169.254 from 198.51.100.10 via 198.51.100.1 dev eth0 uid 0 \n'
            '    cache'
        ),
    },
    'blackhole': {
        'setup': 'ip route add blackhole 169.254.169.254',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"blackhole","dst":"169.254.169.254","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            'blackhole 169.254.169.254 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: Invalid argument',
        'route_get_from': 'RTNETLINK answers: Invalid argument',
    },
    'unreachable': {
        'setup': 'ip route add unreachable 169.254.169.254',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"unreachable","dst":"169.254.169.254","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            'unreachable 169.254.169.254 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: No route to host',
        'route_get_from': 'RTNETLINK answers: No route to host',
    },
    'prohibit': {
        'setup': 'ip route add prohibit 169.254.169.254',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"prohibit","dst":"169.254.169.254","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            'prohibit 169.254.169.254 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: Permission denied',
        'route_get_from': 'RTNETLINK answers: Permission denied',
    },
    'throw': {
        'setup': 'ip route add throw 169.254.169.254',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"throw","dst":"169.254.169.254","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            'throw 169.254.169.254 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: Network is unreachable',
        'route_get_from': 'RTNETLINK answers: Network is unreachable',
    },
    'blackhole_metric_1': {
        'setup': 'ip route add blackhole 169.254.169.254 metric 1',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"blackhole","dst":"169.254.169.254","metric":1,"flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            'blackhole 169.254.169.254 metric 1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: Invalid argument',
        'route_get_from': 'RTNETLINK answers: Invalid argument',
    },
    'blackhole_metric_10': {
        'setup': 'ip route add blackhole 169.254.169.254 metric 10',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"blackhole","dst":"169.254.169.254","metric":10,"flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            'blackhole 169.254.169.254 metric 10 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: Invalid argument',
        'route_get_from': 'RTNETLINK answers: Invalid argument',
    },
    'policy_rule': {
        'setup': (
            'ip route add 169.254.169.254 dev clu0 table 100\n'
            'ip rule add pref 100 to 169.254.169.254 lookup 100'
        ),
        'routes_json': (
            '['
            '{"dst":"169.254.169.254","dev":"clu0","table":"100","scope":"link","flags":[]},'
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            '169.254.169.254 dev clu0 table 100 scope link \n'
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":100,"src":"all","dst":"169.254.169.254","table":"100"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '100:\tfrom all to 169.254.169.254 lookup 100\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            '169.254.169.254 dev clu0 table 100 src 169.254.1.1 uid 0 \n'
            '    cache'
        ),
        'route_get_from': (
            '169.254.169.254 from 198.51.100.10 dev clu0 table 100 uid 0 \n'
            '    cache'
        ),
    },
    'rule_prohibit': {
        'setup': 'ip rule add pref 100 to 169.254.169.254 prohibit',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":100,"src":"all","dst":"169.254.169.254","action":"prohibit"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '100:\tfrom all to 169.254.169.254 prohibit\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: Permission denied',
        'route_get_from': 'RTNETLINK answers: Permission denied',
    },
    'source_rule': {
        'setup': (
            'ip route add unreachable 169.254.169.254 table 100\n'
            'ip rule add pref 100 from 198.51.100.10 lookup 100'
        ),
        'routes_json': (
            '['
            '{"type":"unreachable","dst":"169.254.169.254","table":"100","flags":[]},'
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'unreachable 169.254.169.254 table 100 \n'
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":100,"src":"198.51.100.10","table":"100"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '100:\tfrom 198.51.100.10 lookup 100\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            '169.254.169.254 dev clu0 src 169.254.1.1 uid 0 \n'
            '    cache'
        ),
        'route_get_from': 'RTNETLINK answers: No route to host',
    },
    'wide_block': {
        'setup': (
            'ip route add unreachable 169.254.0.0/16 table 100\n'
            'ip rule add pref 100 to 169.254.0.0/16 lookup 100'
        ),
        'routes_json': (
            '['
            '{"type":"unreachable","dst":"169.254.0.0/16","table":"100","flags":[]},'
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'unreachable 169.254.0.0/16 table 100 \n'
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":100,"src":"all","dst":"169.254.0.0","dstlen":16,"table":"100"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '100:\tfrom all to 169.254.0.0/16 lookup 100\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': 'RTNETLINK answers: No route to host',
        'route_get_from': 'RTNETLINK answers: No route to host',
    },
    'local_address': {
        'setup': 'ip addr add 169.254.169.254/32 dev lo',
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"169.254.169.254","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.169.254","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'local 169.254.169.254 dev lo table local proto kernel scope host src 169.254.169.254 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            'local 169.254.169.254 dev lo src 169.254.169.254 uid 0 \n'
            '    cache <local>'
        ),
        'route_get_from': (
            'local 169.254.169.254 from 198.51.100.10 dev lo uid 0 \n'
            '    cache <local>'
        ),
    },
    'wireguard': {
        'setup': (
            'ip route add default dev clu0 table 51820\n'
            'ip rule add pref 32765 not fwmark 0xca6c lookup 51820\n'
            'ip rule add pref 32764 lookup main suppress_prefixlength 0\n'
            'ip route add 169.254.169.254 via 198.51.100.1 dev eth0 metric 1'
        ),
        'routes_json': (
            '['
            '{"dst":"default","dev":"clu0","table":"51820","scope":"link","flags":[]},'
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"169.254.169.254","gateway":"198.51.100.1","dev":"eth0","metric":1,"flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default dev clu0 table 51820 scope link \n'
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '169.254.169.254 via 198.51.100.1 dev eth0 metric 1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":32764,"src":"all","table":"main","suppress_prefixlen":0},'
            '{"priority":32765,"not":null,"src":"all","fwmark":"0xca6c","table":"51820"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '32764:\tfrom all lookup main suppress_prefixlength 0\n'
            '32765:\tnot from all fwmark 0xca6c lookup 51820\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            '169.254.169.254 via 198.51.100.1 dev eth0 src 198.51.100.10 uid 0 \n'
            '    cache'
        ),
        'route_get_from': (
            '169.254.169.254 from 198.51.100.10 via 198.51.100.1 dev eth0 uid 0 \n'
            '    cache'
        ),
    },
    'marked_unreachable': {
        'setup': (
            'ip rule add pref 5250 fwmark 0x80000/0xff0000 unreachable\n'
            'ip route add 169.254.169.254 via 198.51.100.1 dev eth0 metric 1'
        ),
        'routes_json': (
            '['
            '{"dst":"default","gateway":"198.51.100.1","dev":"eth0","metric":100,"flags":[]},'
            '{"dst":"169.254.0.0/16","dev":"clu0","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"dst":"169.254.169.254","gateway":"198.51.100.1","dev":"eth0","metric":1,"flags":[]},'
            '{"dst":"198.51.100.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"local","dst":"127.0.0.0/8","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local","protocol":"kernel","scope":"host","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"broadcast","dst":"127.255.255.255","dev":"lo","table":"local","protocol":"kernel","scope":"link","prefsrc":"127.0.0.1","flags":[]},'
            '{"type":"local","dst":"169.254.1.1","dev":"clu0","table":"local","protocol":"kernel","scope":"host","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"broadcast","dst":"169.254.255.255","dev":"clu0","table":"local","protocol":"kernel","scope":"link","prefsrc":"169.254.1.1","flags":[]},'
            '{"type":"local","dst":"198.51.100.10","dev":"eth0","table":"local","protocol":"kernel","scope":"host","prefsrc":"198.51.100.10","flags":[]},'
            '{"type":"broadcast","dst":"198.51.100.255","dev":"eth0","table":"local","protocol":"kernel","scope":"link","prefsrc":"198.51.100.10","flags":[]}]'
        ),
        'routes_text': (
            'default via 198.51.100.1 dev eth0 metric 100 \n'
            '169.254.0.0/16 dev clu0 proto kernel scope link src 169.254.1.1 \n'
            '169.254.169.254 via 198.51.100.1 dev eth0 metric 1 \n'
            '198.51.100.0/24 dev eth0 proto kernel scope link src 198.51.100.10 \n'
            'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 \n'
            'broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1 \n'
            'local 169.254.1.1 dev clu0 table local proto kernel scope host src 169.254.1.1 \n'
            'broadcast 169.254.255.255 dev clu0 table local proto kernel scope link src 169.254.1.1 \n'
            'local 198.51.100.10 dev eth0 table local proto kernel scope host src 198.51.100.10 \n'
            'broadcast 198.51.100.255 dev eth0 table local proto kernel scope link src 198.51.100.10 \n'
        ),
        'rules_json': (
            '['
            '{"priority":0,"src":"all","table":"local"},'
            '{"priority":5250,"src":"all","fwmark":"0x80000","fwmask":"0xff0000","action":"unreachable"},'
            '{"priority":32766,"src":"all","table":"main"},'
            '{"priority":32767,"src":"all","table":"default"}]'
        ),
        'rules_text': (
            '0:\tfrom all lookup local\n'
            '5250:\tfrom all fwmark 0x80000/0xff0000 unreachable\n'
            '32766:\tfrom all lookup main\n'
            '32767:\tfrom all lookup default\n'
        ),
        'route_get': (
            '169.254.169.254 via 198.51.100.1 dev eth0 src 198.51.100.10 uid 0 \n'
            '    cache'
        ),
        'route_get_from': (
            '169.254.169.254 from 198.51.100.10 via 198.51.100.1 dev eth0 uid 0 \n'
            '    cache'
        ),
    },
}
