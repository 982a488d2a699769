#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Run a command in a private network namespace: only a loopback interface, which also
# carries 169.254.169.254 so the emulator can play IMDS at the default endpoint. Nothing
# in there can reach a real network, whatever the command does.
#
#   tools/run-in-netns.sh COMMAND [ARG...]
set -euo pipefail
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi
for program in unshare=util-linux ip=iproute2; do
    if ! command -v "${program%%=*}" > /dev/null; then
        echo "$0: ${program%%=*} not found: install the Debian package ${program#*=}" \
             "(make test installs tools/harness/system-packages.txt)" >&2
        exit 1
    fi
done
unshare_args=(--net)
if [ "$(id -u)" -ne 0 ]; then
    unshare_args+=(--map-root-user)
fi
# shellcheck disable=SC2016  # expanded by the inner shell, inside the namespace
exec unshare "${unshare_args[@]}" -- bash -c '
    set -euo pipefail
    ip link set lo up
    ip addr add 169.254.169.254/32 dev lo
    # Tells the network guard (tools/netguard) that this namespace is a test-made one.
    IMDS_NETGUARD_NETNS="$(stat -L -c %i /proc/self/ns/net)"
    export IMDS_NETGUARD_NETNS
    exec "$@"
' run-in-netns "$@"
