# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the real-client tests: the clients from Debian packages, what the emulator saw, what the tokens say."""

import base64
import importlib
import json
import os
import sys

import debian_clients  # tools/imds_emulator/tests (its conftest puts it on sys.path)

RESOURCE = "https://vault.azure.net"
# Set by tools/imds_emulator/tests/test_emulator_netns.py: {package: its unpacked dist-packages} (debian_clients.py).
DEBIAN_CLIENTS_ENV = "IMDS_DEBIAN_CLIENTS"


def debian_module(package, module):
    """``module`` of a Debian package unpacked by debian_clients.py (never installed), imported from there."""
    given = os.environ.get(DEBIAN_CLIENTS_ENV)
    site = json.loads(given)[package] if given else debian_clients.site_dirs([package], fetch=False)[package]
    if site not in sys.path:
        sys.path.append(site)
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # what Debian's package depends on: pinned in requirements-dev.txt
        raise ImportError("%s from the Debian package %s needs %s: make venv (pip install -r requirements-dev.txt "
                          "-c constraints-dev.txt)" % (module, package, exc.name or exc)) from exc


def claims(token):
    """The payload of a JWT-shaped token."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_requests(emu):
    return [record for record in emu.request_log if record.path == "/metadata/identity/oauth2/token"]


def user_identity(emu, index=0):
    return emu.profile["identity"]["userAssigned"][index]
