#!/usr/bin/python
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file only documents the PowerShell module win_metadata_request.ps1.

from __future__ import annotations

DOCUMENTATION = r"""
module: win_metadata_request
short_description: One bounded HTTP exchange with the Azure Instance Metadata Service from a Windows host
description:
  - Internal building block of M(imds.azure.metadata_facts) and M(imds.azure.scheduled_events) on Windows targets. Their
    action plugins run the IMDS client on the controller (request rules, version negotiation, retries, validation) and
    run this module once per HTTP request; use those modules instead. Its options and results may change in any release.
  - Sends one request and returns the status, headers and body. No proxy is used, redirects are not followed, connections
    are not kept alive and bodies are not decompressed. One deadline, O(timeout_ms), covers connecting, sending, the status
    line, the headers and the body; at most O(max_bytes) of a body are kept.
version_added: 0.2.0
author:
  - imds.azure maintainers (@imds-azure)
options:
  url:
    description: The URL, with its query string.
    type: str
    required: true
  method:
    description: The HTTP method.
    type: str
    choices: [GET, POST]
    default: GET
  headers:
    description: Request headers.
    type: dict
    default: {}
  body:
    description: The request body, base64-encoded. No body when omitted.
    type: str
  timeout_ms:
    description: The deadline of the whole exchange, in milliseconds.
    type: int
    required: true
  max_bytes:
    description: The most bytes of a body that are kept; a longer answer is reported as RV(truncated) without its body.
    type: int
    required: true
extends_documentation_fragment:
  - imds.azure._attributes
  - imds.azure._attributes.platform_windows
attributes:
  check_mode:
    support: full
    details:
      - The module sends its request in check mode too; the calling action decides what may be sent.
  facts:
    support: none
  diff_mode:
    support: none
notes:
  - Runs through ansible-core's PowerShell module execution like the modules of C(ansible.windows). Under Constrained
    Language Mode (AppLocker, WDAC) it runs only when an administrator has signed it; see the Windows guide.
seealso:
  - module: imds.azure.metadata_facts
"""

EXAMPLES = r"""
# Needs Windows: a Windows host (a PowerShell module)
- name: Ask IMDS for the versions it supports (what metadata_facts does for you)
  imds.azure.win_metadata_request:
    url: http://169.254.169.254/metadata/versions
    headers:
      Metadata: "true"
    timeout_ms: 5000
    max_bytes: 65536
  register: answer
"""

RETURN = r"""
status:
  description: The HTTP status code.
  returned: an answer arrived
  type: int
  sample: 200
headers:
  description: The response headers.
  returned: an answer arrived
  type: dict
  sample: {"Content-Type": "application/json; charset=utf-8"}
body:
  description: The body, base64-encoded; empty when RV(truncated).
  returned: an answer arrived
  type: str
  sample: eyJhcGl2ZXJzaW9ucyI6IFtdfQ==
truncated:
  description: The answer was longer than O(max_bytes); its body is not returned.
  returned: an answer arrived
  type: bool
  sample: false
transport_error:
  description: Why no complete answer arrived.
  returned: failed
  type: dict
  contains:
    phase:
      description: V(connect), V(request) (sending it or waiting for the status and headers) or V(read) (the body).
      type: str
      sample: connect
    timeout:
      description: The deadline passed.
      type: bool
      sample: true
    chain:
      description: The .NET exception chain, outermost first (C(type), C(message), C(status) of a WebException,
        C(socket) of a SocketException).
      type: list
      elements: dict
      sample: []
"""
