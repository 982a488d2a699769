#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.metadata_facts on Windows hosts, with real ansible-playbook: the test connection
# plugin connection_plugins/fakewin.py receives ansible-core's module payloads and answers as the
# collection's PowerShell modules would, against the emulator (one host with the cmd shell like
# winrm of 2.21, one with the PowerShell shell like psrp). Checks the facts, the request count,
# and that no IMDS answer or user data reaches -vvvvv output.
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x

export ANSIBLE_CONNECTION_PLUGINS="$PWD/connection_plugins"
WIN_INVENTORY="$EMULATOR_WORKDIR/windows.ini"
printf '[windows]\nwinrm-like ansible_connection=fakewin ansible_shell_type=cmd\npsrp-like ansible_connection=fakewin ansible_shell_type=powershell\n' \
    > "$WIN_INVENTORY"

emulator_start --rate-limit off
out="$EMULATOR_WORKDIR/windows.out"
ansible-playbook -i "$WIN_INVENTORY" windows.yml -e "imds_endpoint=$EMULATOR_URL" -vvvvv "$@" > "$out" 2>&1 || { cat "$out"; exit 1; }
tail -n 5 "$out"

# Per host: 1 pinned instance request, 1 scheduled events request, 2 (versions + instance) for the user data task.
emulator_expect_requests "IMDS requests for two Windows hosts" "$EMULATOR_URL" /metadata 8
# The connection printed module output at -vvvvv unless no_log (as winrm and psrp of ansible-core
# 2.18 and later do): the host module's output, never an IMDS answer (the request module runs no_log).
grep -q "FAKEWIN RESULT rc=0 stdout='{\"changed\": false, \"smbios\"" "$out" || { echo "FAILED: no module output at -vvvvv" >&2; exit 1; }
grep -q "FAKEWIN RESULT rc=0 stdout='<censored due to no log>'" "$out" || { echo "FAILED: no censored request output" >&2; exit 1; }
if grep -q -e '"body":' -e 'hello from' -e 'I2Nsb3VkLWNvbmZpZ' -e 'SW1Oc2IzVmtMV052Ym1acFp' "$out"; then
    echo "FAILED: an IMDS answer or user data leaked into -vvvvv output" >&2
    exit 1
fi
