# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network guard for test processes.

Tests, demos and benchmarks of this project may talk to loopback only, or to anything
inside a network namespace that the test created itself (where the emulator plays IMDS at
169.254.169.254). This module enforces that rule instead of trusting every test to follow
it: once installed, a connect to any other address raises NetworkGuardError *before* a
packet is sent, writes a line to stderr, and appends it to the file named by
IMDS_NETGUARD_LOG so the harness can fail the run even when a caller swallowed the error.

It is installed in-process by the pytest conftest files and, for subprocesses such as
ansible-playbook and the modules it runs, by the sitecustomize.py next to this file
(put this directory on PYTHONPATH).
"""

import ipaddress
import os
import socket
import sys

_LOG_ENV = "IMDS_NETGUARD_LOG"
_OFF_ENV = "IMDS_NETGUARD"  # "off" disables the guard (never set by the harness)
_NETNS_ENV = "IMDS_NETGUARD_NETNS"
_NAMED_NETNS_DIR = "/run/netns"
_installed = False


class NetworkGuardError(RuntimeError):
    """A test process tried to reach a non-loopback address outside a private namespace.

    Deliberately not an OSError: client code that retries on connection errors must not
    be able to mistake this for a transient network failure.
    """


def _namespace_inode(path):
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def in_private_namespace():
    """True when this process runs in a network namespace that a test created.

    Such a namespace is either named (``ip netns add``: bind-mounted under /run/netns) or
    was made by tools/run-in-netns.sh, which exports its inode as IMDS_NETGUARD_NETNS from
    inside. Comparing against our own inode means a marker inherited by a process in the
    host namespace does not count.
    """
    own = _namespace_inode("/proc/self/ns/net")
    if own is None:
        return False
    if os.environ.get(_NETNS_ENV) == str(own):
        return True
    try:
        names = os.listdir(_NAMED_NETNS_DIR)
    except OSError:
        return False
    return any(_namespace_inode(os.path.join(_NAMED_NETNS_DIR, name)) == own for name in names)


def is_loopback(host):
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _resolved_hosts(host, port):
    if is_loopback(host):
        return [host]
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return [host]
    except ValueError:
        pass
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port)})
    except socket.gaierror:
        return [host]


def check(family, address):
    """Raise NetworkGuardError when connecting to address is not allowed."""
    if family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return
    host, port = address[0], address[1]
    if all(is_loopback(resolved) for resolved in _resolved_hosts(host, port)):
        return
    if in_private_namespace():
        return
    message = "imds netguard: blocked connection to %s:%s from pid %d (%s); tests may only reach loopback " \
              "or addresses inside a network namespace they created" % (host, port, os.getpid(), " ".join(sys.argv[:3]))
    sys.stderr.write(message + "\n")
    log_path = os.environ.get(_LOG_ENV)
    if log_path:
        with open(log_path, "a") as log:
            log.write(message + "\n")
    raise NetworkGuardError(message)


def install():
    """Patch socket connects in this process. Idempotent."""
    global _installed  # pylint: disable=global-statement
    if _installed or os.environ.get(_OFF_ENV) == "off":
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_sendto = socket.socket.sendto

    def connect(sock, address):
        check(sock.family, address)
        return original_connect(sock, address)

    def connect_ex(sock, address):
        check(sock.family, address)
        return original_connect_ex(sock, address)

    def sendto(sock, data, *args):
        check(sock.family, args[-1])
        return original_sendto(sock, data, *args)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.socket.sendto = sendto
    _installed = True
