# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installs the network guard in every Python process started with this directory on PYTHONPATH."""

import imds_netguard

imds_netguard.install()
