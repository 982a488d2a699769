# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Azure clients against the emulator at their default endpoint, http://169.254.169.254.

This suite runs only inside a network namespace a test created (tools/run-in-netns.sh: a loopback
that carries 169.254.169.254 and nothing else), where the network guard steps aside because the
namespace is the test's own. tests/emulator/test_emulator_netns.py runs it that way from the host.
"""

import os
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


def pytest_configure(config):  # pylint: disable=unused-argument
    imds_netguard.install()
    if not imds_netguard._installed:  # pylint: disable=protected-access
        raise pytest.UsageError("the network guard is off (IMDS_NETGUARD=off?): these tests must not run without it")
    if not imds_netguard.in_private_namespace():
        raise pytest.UsageError("tests/emulator/netns runs only inside a network namespace it owns: "
                                "tools/run-in-netns.sh python -m pytest tests/emulator/netns")


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
