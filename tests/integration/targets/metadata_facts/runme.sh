#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.metadata_facts against the emulator on loopback: every subset, version gating,
# every fault mode, proxies, detection. Set IMDS_IT_FAST=1 to skip the 60 s "gone" case.
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x

PLAY=(ansible-playbook -i "$TEST_INVENTORY")

# Fake DMI data: an Azure VM unless a case says otherwise.
DMI_AZURE="$EMULATOR_WORKDIR/dmi-azure"
DMI_AWS="$EMULATOR_WORKDIR/dmi-aws"
mkdir -p "$DMI_AZURE" "$DMI_AWS"
echo "7783-7084-3265-9085-8269-3286-77" > "$DMI_AZURE/chassis_asset_tag"
echo "Microsoft Corporation" > "$DMI_AZURE/sys_vendor"
echo "" > "$DMI_AWS/chassis_asset_tag"
echo "Amazon EC2" > "$DMI_AWS/sys_vendor"
export IMDS_AZURE_DMI_PATH="$DMI_AZURE"
unset AZURE_IMDS_ENDPOINT

expect_requests() {
    # expect_requests OP N [PREFIX]: compare the emulator's served request count.
    local op="$1" want="$2" count
    case "$op" in
        -eq) emulator_expect_requests "requests" "$EMULATOR_URL" "${3:-/metadata}" "$want" ;;
        -le)
            count="$(emulator_request_count "$EMULATOR_URL" "${3:-/metadata}")"
            [ "$count" -le "$want" ] || { echo "FAILED: expected requests -le $want, got $count" >&2; exit 1; } ;;
        *) echo "expect_requests: unknown operator $op" >&2; exit 2 ;;
    esac
}

elapsed_since() { echo $(( $(date +%s) - $1 )); }

# --- default gather, request counts ---------------------------------------------------------
emulator_start
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
expect_requests -eq 2                       # /metadata/versions + /metadata/instance
expect_requests -eq 1 /metadata/instance
emulator_clear_log
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" -e api_version=2021-12-13 "$@"
expect_requests -eq 1                       # pinned: exactly one request
emulator_clear_log
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" --check "$@"
expect_requests -eq 2

# --- every subset, version gating -------------------------------------------------------------
emulator_clear_log
"${PLAY[@]}" subsets.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
"${PLAY[@]}" versions.yml -e "imds_endpoint=$EMULATOR_URL" "$@"

# --- user data never shows in verbose output --------------------------------------------------
out="$EMULATOR_WORKDIR/userdata.out"
"${PLAY[@]}" userdata_verbose.yml -e "imds_endpoint=$EMULATOR_URL" -vvv "$@" > "$out" 2>&1 || { cat "$out"; exit 1; }
if grep -q -e 'hello from web-01' -e 'I2Nsb3VkLWNvbmZpZ' "$out"; then
    echo "FAILED: user data leaked into -vvv output" >&2
    exit 1
fi

# --- proxies in the environment point to a dead address: still works --------------------------
dead_proxy="http://127.0.0.1:9"
emulator_clear_log
http_proxy="$dead_proxy" HTTP_PROXY="$dead_proxy" https_proxy="$dead_proxy" HTTPS_PROXY="$dead_proxy" \
    all_proxy="$dead_proxy" ALL_PROXY="$dead_proxy" no_proxy="" NO_PROXY="" \
    "${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
expect_requests -eq 2

# --- the endpoint from azure_imds_endpoint, then AZURE_IMDS_ENDPOINT ----------------------------
AZURE_IMDS_ENDPOINT="$EMULATOR_URL" "${PLAY[@]}" env_endpoint.yml -e "imds_endpoint=$EMULATOR_URL" "$@"

# --- not Azure by DMI: no request at all --------------------------------------------------------
emulator_clear_log
start=$(date +%s)
IMDS_AZURE_DMI_PATH="$DMI_AWS" "${PLAY[@]}" not_azure.yml -e "imds_endpoint=$EMULATOR_URL" -e expect_detection=dmi "$@"
expect_requests -eq 0
# No DMI data (a container) and detect=true: no request either.
IMDS_AZURE_DMI_PATH="" "${PLAY[@]}" not_azure.yml -e "imds_endpoint=$EMULATOR_URL" -e expect_detection=none -e detect=true "$@"
expect_requests -eq 0
echo "not-Azure cases took $(elapsed_since "$start") s"
# No DMI data and nothing listening at an endpoint set to another address: a failure, never "not Azure"
# (silence at the default address is: metadata_facts_netns).
IMDS_AZURE_DMI_PATH="" "${PLAY[@]}" fail.yml -e "imds_endpoint=http://127.0.0.1:9" -e deadline=3 \
    -e "expect_msg='cannot connect.*never means that this is not Azure'" "$@"
# No DMI data but IMDS answers: Azure.
IMDS_AZURE_DMI_PATH="" "${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
# Azure by DMI and nothing listening: a failure that says what to do.
"${PLAY[@]}" fail.yml -e "imds_endpoint=http://127.0.0.1:9" -e deadline=20 -e "expect_msg='cannot connect'" "$@"

# --- a VM without a Standard load balancer ----------------------------------------------------
emulator_stop_all
echo '{"loadbalancer": null}' > "$EMULATOR_WORKDIR/nolb.json"
emulator_start --profile "$EMULATOR_WORKDIR/nolb.json"
"${PLAY[@]}" nolb.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
emulator_stop_all

# --- faults -----------------------------------------------------------------------------------
# 30 % of requests answer 500: success.
emulator_start --fault status=500,ratio=0.3 --seed 5
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" -e repeat=4 "$@"
emulator_stop_all

# 410 for the first 15 s (as after a VM update): success inside the deadline.
emulator_start --fault gone=15
start=$(date +%s)
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
echo "gone=15 took $(elapsed_since "$start") s"
expect_requests -le 20
emulator_stop_all

if [ -z "${IMDS_IT_FAST:-}" ]; then
    # The documented 60 s window: still inside the 70 s 410 budget and the 90 s deadline.
    emulator_start --fault gone=60
    start=$(date +%s)
    "${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
    echo "gone=60 took $(elapsed_since "$start") s"
    expect_requests -le 25
    emulator_stop_all
fi

# A stall longer than the deadline: a clear failure in bounded time.
emulator_start --fault stall=60
start=$(date +%s)
"${PLAY[@]}" fail.yml -e "imds_endpoint=$EMULATOR_URL" -e imds_timeout=1 -e deadline=4 -e "expect_msg='did not answer in time.*deadline'" "$@"
took=$(elapsed_since "$start")
echo "stall case took $took s"
[ "$took" -lt 30 ] || { echo "FAILED: the stall case was not bounded ($took s)" >&2; exit 1; }
emulator_stop_all

# A captive portal (HTML 200) and truncated JSON: clear failures, never facts.
emulator_start --fault html=1
"${PLAY[@]}" fail.yml -e "imds_endpoint=$EMULATOR_URL" -e "expect_msg='HTML page'" "$@"
expect_requests -eq 1
emulator_stop_all
emulator_start --fault truncate=1
"${PLAY[@]}" fail.yml -e "imds_endpoint=$EMULATOR_URL" -e "expect_msg='not valid JSON'" "$@"
emulator_stop_all

# A 429 storm (10 throttled answers with Retry-After) under the real 5 req/s limit.
emulator_start --rate-limit 5 --fault throttle=10
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" "$@"
expect_requests -le 13                      # 10 throttled + versions + instance (+1 slack)
emulator_stop_all
# Many gathers in a row against the rate limit: 429s are retried with backoff.
emulator_start --rate-limit 5
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" -e repeat=8 "$@"
expect_requests -le 24
emulator_stop_all

# 30 % of connections reset without an answer: success.
emulator_start --fault reset=0.3 --seed 2
"${PLAY[@]}" gather.yml -e "imds_endpoint=$EMULATOR_URL" -e repeat=3 "$@"
emulator_stop_all
