#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# imds.azure.metadata_facts gather_subset=attested: real ansible-playbook against the emulator's
# real PKCS#7 signatures, verified on the controller with the emulator's test CA
# (attested_ca_path). Success, each failure reason, fail-by-default, nonce retries, a fleet.
# The emulator signs like real IMDS (the signing certificate only): the controller downloads the
# intermediate from its CA Issuers URL, which the tests allow (attested_aia_allowlist).
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x

PLAY=(ansible-playbook -i "$TEST_INVENTORY")
CA_DIR="$EMULATOR_WORKDIR/ca"
CA="$CA_DIR/ca.pem"

# A second emulator plays "somewhere else" that a host's certificate may point the controller at.
emulator_start
ELSEWHERE="$EMULATOR_URL"
emulator_start --ca-dir "$CA_DIR"
[ -s "$CA" ]
case_() {
    # case_ EXPECT_REASON [extra -e arguments...]
    local reason="$1"
    shift
    "${PLAY[@]}" case.yml -e "imds_endpoint=$EMULATOR_URL" -e "ca=$CA" -e "expect_reason=$reason" "$@"
}

# --- a valid document verifies (no signed attributes, as real IMDS; and with them) ------------
case_ ""
case_ "" -e '{"knobs": {"signed_attributes": true}}'
# The intermediate in the document too (the emulator's old shape): nothing to fetch, nothing allowed.
case_ "" -e '{"knobs": {"include_intermediate": true}, "aia": []}'
# The default allow-list holds only Microsoft's locations: the emulator's is refused.
case_ untrusted_signer -e '{"aia": null}'
# CA Issuers URLs that point elsewhere: the controller never contacts them.
case_ untrusted_signer -e "{\"knobs\": {\"ca_issuers\": [\"$ELSEWHERE/metadata/issuer.crt\"]}, \"aia\": null}"
[ "$(emulator_request_count "$ELSEWHERE" /)" = 0 ]

# --- fail by default ---------------------------------------------------------------------------
# The default trust store does not hold the emulator's test CA.
case_ untrusted_signer -e ca=
case_ untrusted_signer -e '{"knobs": {"untrusted_ca": true}}'
case_ signature -e '{"knobs": {"tamper": "content"}}'
case_ signature -e '{"knobs": {"tamper": "signature", "signed_attributes": true}}'
case_ domain -e '{"knobs": {"san": ["metadata.evil.example"]}}'
case_ expired -e '{"knobs": {"expired_document": true}}'
case_ vm_id_mismatch -e '{"knobs": {"vm_id": "00000000-0000-4000-8000-000000000001"}}'

# --- a stale cached nonce: retried with fresh nonces, then a clear nonce mismatch ----------------
case_ nonce_mismatch -e '{"faults": ["stale-nonce=1"], "nonce_retries": 1}'
# Opted out of failing: the verdict is in the facts and the task succeeds.
case_ nonce_mismatch -e '{"faults": ["stale-nonce=1"], "nonce_retries": 0, "required": false}'
emulator_stop_all

# --- a fleet: every host proves its own identity; one serves another VM's document ---------------
emulator_start --fleet-size 4 --seed 7 --ca-dir "$CA_DIR" --fleet-out "$EMULATOR_WORKDIR/fleet.json"
FLEET_INVENTORY="$EMULATOR_WORKDIR/fleet.ini"
"$PYTHON" - "$EMULATOR_WORKDIR/fleet.json" "$FLEET_INVENTORY" "$PYTHON" <<'PY'
import json, sys
members = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as out:
    out.write("[fleet]\n")
    for index, member in enumerate(members):
        out.write("vm%d ansible_connection=local ansible_python_interpreter=%s imds_endpoint=%s expected_vm_id=%s\n"
                  % (index, sys.argv[3], member["url"], member["vmId"]))
PY
bad_url="$(sed -n 's/^vm2 .*imds_endpoint=\([^ ]*\).*/\1/p' "$FLEET_INVENTORY")"
"$PYTHON" - "$bad_url" <<'PY'
import json, sys, urllib.request
body = json.dumps({"emulator": {"attested": {"vm_id": "00000000-0000-4000-8000-00000000000b"}}}).encode()
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_emulator/profile", data=body, method="PUT"), timeout=5).close()
PY
ansible-playbook -i "$FLEET_INVENTORY" fleet.yml -e "ca=$CA" -e bad_host=vm2 "$@"
