# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Azure clients against the emulator at their default endpoint, http://169.254.169.254.

This suite runs only inside a network namespace a test created (tools/run-in-netns.sh: a loopback
that carries 169.254.169.254 and nothing else), where the network guard steps aside because the
namespace is the test's own. tools/imds_emulator/tests/test_emulator_netns.py runs it that way from the host.

Inside, a stricter guard of its own (a ``socket.connect`` audit hook) records every connection the
clients attempt and refuses any but the emulator's and loopback, so a client that tries another
address (WALinuxAgent's fallback to Azure's wire server, 168.63.129.16) fails loudly even before the
namespace, which has no route there, would refuse it; each test ends by checking that nothing else
was attempted.
"""

import os
import socket
import sys

import pytest

from tools.imds_emulator.testing import REPO_ROOT, emulator_kwargs, running_emulator

sys.path.insert(0, os.path.join(REPO_ROOT, "tools", "netguard"))
import imds_netguard  # noqa: E402  pylint: disable=wrong-import-position

# Variables that make azure-identity and msal pick another managed-identity source than IMDS.
OTHER_SOURCES = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
                 "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET",
                 "AZURE_FEDERATED_TOKEN_FILE", "ACC_CLOUD", "AZUREPS_HOST_ENVIRONMENT")
DEFAULT_ENDPOINT = "http://169.254.169.254:80"
IMDS_ADDRESS = ("169.254.169.254", 80)


class Contacts:
    """Every connection attempted in this process while a test runs: (host, port, allowed)."""

    def __init__(self):
        self.attempts = []
        self.expected = []
        self.recording = False

    def expect_blocked(self, host, port):
        """This test provokes an attempt to ``host:port``: the guard must have refused it."""
        self.expected.append((host, port))

    def audit(self, event, args):
        if event != "socket.connect" or not self.recording:
            return
        sock, address = args
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
            return
        host, port = address[0], address[1]
        allowed = (host, port) == IMDS_ADDRESS or imds_netguard.is_loopback(host)
        self.attempts.append((host, port, allowed))
        if not allowed:
            raise imds_netguard.NetworkGuardError("tools/imds_emulator/tests/netns: blocked connection to %s:%s; only the emulator "
                                                  "at 169.254.169.254:80 may be reached" % (host, port))

    def blocked(self):
        return [(host, port) for host, port, allowed in self.attempts if not allowed]


CONTACTS = Contacts()


def pytest_configure(config):
    # The Debian clients target their distribution's Python and use what 3.12 deprecates: not ours to fix.
    for module in ("cloudinit", "azurelinuxagent"):
        config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:%s" % module)
    config.addinivalue_line("filterwarnings", "ignore::SyntaxWarning")
    sys.addaudithook(CONTACTS.audit)
    imds_netguard.install()
    if not imds_netguard._installed:  # pylint: disable=protected-access
        raise pytest.UsageError("the network guard is off (IMDS_NETGUARD=off?): these tests must not run without it")
    if not imds_netguard.in_private_namespace():
        raise pytest.UsageError("tools/imds_emulator/tests/netns runs only inside a network namespace it owns: "
                                "tools/run-in-netns.sh python -m pytest tools/imds_emulator/tests/netns")


@pytest.fixture(autouse=True)
def contacts():
    """The connections this test attempts; at the end, none may have gone anywhere but the emulator or loopback."""
    CONTACTS.attempts.clear()
    CONTACTS.expected.clear()
    CONTACTS.recording = True
    try:
        yield CONTACTS
    finally:
        CONTACTS.recording = False
    assert CONTACTS.blocked() == CONTACTS.expected, "connections attempted to other addresses: %s" % CONTACTS.attempts


@pytest.fixture
def imds(request, monkeypatch):
    """The emulator at the default endpoint (marker ``imds_emulator`` for its arguments), nothing else in the way."""
    for name in OTHER_SOURCES:
        monkeypatch.delenv(name, raising=False)
    kwargs = emulator_kwargs(request)
    kwargs.update(host="169.254.169.254", port=80)
    with running_emulator(**kwargs) as emu:
        assert emu.url == DEFAULT_ENDPOINT
        yield emu


@pytest.fixture
def no_imds(monkeypatch):
    """Nothing listens at the default endpoint."""
    for name in OTHER_SOURCES:
        monkeypatch.delenv(name, raising=False)
