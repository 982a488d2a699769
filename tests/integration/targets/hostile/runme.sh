#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Hostile IMDS servers (issue 14): imds.azure.metadata_facts, the metadata and token lookups and
# the placement inventory's local source against every hostile mode of the emulator. hostile.py
# runs the cases, prints one line per case and the totals, and fails on any case that does not end
# in complete facts or a clear error within the deadline plus an allowance, with bounded memory.
set -euo pipefail
source ../setup_emulator/emulator.sh

"$PYTHON" hostile.py "$@"
