# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the real-client tests: what the emulator saw, what the tokens say."""

import base64
import json

RESOURCE = "https://vault.azure.net"


def claims(token):
    """The payload of a JWT-shaped token."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_requests(emu):
    return [record for record in emu.request_log if record.path == "/metadata/identity/oauth2/token"]


def user_identity(emu, index=0):
    return emu.profile["identity"]["userAssigned"][index]
