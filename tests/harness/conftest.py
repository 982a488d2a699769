# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The harness's own tests run with the network guard installed, like every other suite."""

from __future__ import annotations

import os
import sys

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NETGUARD_DIR = os.path.join(COLLECTION_ROOT, "tools", "netguard")
for _path in (COLLECTION_ROOT, NETGUARD_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import imds_netguard  # noqa: E402  pylint: disable=wrong-import-position

imds_netguard.install()
# These suites aim connections at 169.254.169.254 on purpose, to see them blocked: with the
# guard switched off (IMDS_NETGUARD=off) they would really connect, so they refuse to run.
if not imds_netguard._installed:  # pylint: disable=protected-access
    raise RuntimeError("the network guard is off (IMDS_NETGUARD=off?): the harness tests must not run without it")
