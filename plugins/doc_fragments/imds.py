# -*- coding: utf-8 -*-
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Options shared by every imds.azure module and plugin that talks to IMDS through the
# shared client (plugins/module_utils/_client.py).
#   imds.azure.imds         - modules (the endpoint falls back to azure_imds_endpoint, then $AZURE_IMDS_ENDPOINT)
#   imds.azure.imds.plugins - lookup/inventory plugins (adds env/ini/vars sources)

from __future__ import annotations


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - Base URL of the Instance Metadata Service, C(scheme://host[:port]) without a path.
      - Only this endpoint is ever contacted. Proxies are always bypassed, whatever C(http_proxy),
        C(https_proxy) or C(no_proxy) say, and redirects are never followed.
      - If not set, the host variable C(azure_imds_endpoint) is used (the one the lookups read; the delegated
        host's with C(delegate_to)), else the E(AZURE_IMDS_ENDPOINT) environment variable on the target, else the default.
    type: str
    default: http://169.254.169.254
  api_version:
    description:
      - IMDS API version to use, for example V(2021-02-01).
      - V(latest) asks the service which versions it offers (one request to C(/metadata/versions), once per task)
        and uses the newest. An explicit version is used as given; if IMDS rejects it, the task fails and lists
        the versions the service offered.
      - Scheduled events have their own version line; see O(gather_subset).
    type: str
    default: latest
  timeout:
    description:
      - Seconds allowed for each HTTP attempt as a whole - connecting, sending the request and receiving the status
        line, the headers and the body. An answer that trickles in is cut off when the time is up.
    type: float
    default: 5
  deadline:
    description:
      - Overall seconds allowed for one IMDS call, including all attempts and the waits between them. Retries stop
        early when the next one would end after the deadline.
      - Answers are also limited in size (1 MiB for instance, load balancer and scheduled events documents, 64 KiB
        for the others); a larger answer fails with C(imds_error=too_large). See
        R(the limits,ansible_collections.imds.azure.docsite.facts).
    type: float
    default: 90
"""

    PLUGINS = r"""
options:
  endpoint:
    description:
      - Base URL of the Instance Metadata Service, C(scheme://host[:port]) without a path.
      - Only this endpoint is ever contacted. Proxies are always bypassed, whatever C(http_proxy),
        C(https_proxy) or C(no_proxy) say, and redirects are never followed.
    type: str
    default: http://169.254.169.254
    env:
      - name: AZURE_IMDS_ENDPOINT
    ini:
      - section: imds_azure
        key: endpoint
    vars:
      - name: azure_imds_endpoint
  api_version:
    description:
      - IMDS API version to use, for example V(2021-02-01).
      - V(latest) asks the service which versions it offers (one request to C(/metadata/versions))
        and uses the newest. An explicit version is used as given; if IMDS rejects it, the plugin fails and
        lists the versions the service offered.
    type: str
    default: latest
    env:
      - name: AZURE_IMDS_API_VERSION
    ini:
      - section: imds_azure
        key: api_version
    vars:
      - name: azure_imds_api_version
  timeout:
    description:
      - Seconds allowed for each HTTP attempt as a whole - connecting, sending the request and receiving the status
        line, the headers and the body. An answer that trickles in is cut off when the time is up.
    type: float
    default: 5
    env:
      - name: AZURE_IMDS_TIMEOUT
    ini:
      - section: imds_azure
        key: timeout
    vars:
      - name: azure_imds_timeout
  deadline:
    description:
      - Overall seconds allowed for one IMDS call, including all attempts, the waits between them and the wait for a
        free request slot (the lookups of one run pace their requests under IMDS's limit of 5 per second).
      - Answers are also limited in size (1 MiB for instance, load balancer and scheduled events documents, 64 KiB
        for the others); a larger answer is an error. See R(the limits,ansible_collections.imds.azure.docsite.facts).
    type: float
    default: 90
    env:
      - name: AZURE_IMDS_DEADLINE
    ini:
      - section: imds_azure
        key: deadline
    vars:
      - name: azure_imds_deadline
"""
