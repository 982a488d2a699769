#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.metadata_facts with its real default endpoint (http://169.254.169.254): runs
# itself again inside a private network namespace where the emulator owns 169.254.169.254:80.
set -euo pipefail
source ../setup_emulator/emulator.sh
[ -n "${IMDS_IN_NETNS:-}" ] || exec_in_netns "$0" "$@"
set -x

PLAY=(ansible-playbook -i "$TEST_INVENTORY")
DMI_AZURE="$EMULATOR_WORKDIR/dmi-azure"
mkdir -p "$DMI_AZURE"
echo "7783-7084-3265-9085-8269-3286-77" > "$DMI_AZURE/chassis_asset_tag"
echo "Microsoft Corporation" > "$DMI_AZURE/sys_vendor"
export IMDS_AZURE_DMI_PATH="$DMI_AZURE"
unset AZURE_IMDS_ENDPOINT

# Nothing listens yet: an Azure host (by DMI) fails with the route hint.
"${PLAY[@]}" unreachable.yml "$@"

emulator_start --listen 169.254.169.254:80
# Dead proxies in the environment must not matter.
dead_proxy="http://127.0.0.1:9"
http_proxy="$dead_proxy" HTTP_PROXY="$dead_proxy" https_proxy="$dead_proxy" HTTPS_PROXY="$dead_proxy" no_proxy="" NO_PROXY="" \
    "${PLAY[@]}" default_endpoint.yml "$@"
emulator_expect_requests "the default endpoint" http://169.254.169.254 /metadata 2
