#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The collection under the engine AWX and Automation Platform run everything through:
# the BUILT tarball installed into a clean collections path, ansible-runner (PyPI, process
# isolation off) for an inventory update (ansible-inventory --list --export) and a job, two
# controllers sharing one Redis fact cache, and the execution environment definition through
# `ansible-builder create`.
set -euo pipefail
source ../setup_emulator/emulator.sh
set -x

HERE="$(pwd)"
W="$EMULATOR_WORKDIR"

for program in redis-server ansible-runner ansible-builder ansible-galaxy; do
    if ! command -v "$program" > /dev/null; then
        echo "FAILED: $program is not installed: redis-server comes from the Debian package redis-server," \
             "the others from requirements-dev.txt (make venv)" >&2
        exit 1
    fi
done

# --- the built collection, installed into a clean collections path -------------------------
ansible-galaxy collection build "$COLLECTION_ROOT" --output-path "$W/dist" > /dev/null
TARBALL="$(ls "$W"/dist/imds-azure-*.tar.gz)"
export ANSIBLE_COLLECTIONS_PATH="$W/collections"   # first, or ansible-galaxy sees the source tree installed already
ansible-galaxy collection install "$TARBALL" -p "$W/collections"
unset AZURE_IMDS_ENDPOINT
# every imds.azure plugin now comes from the tarball, not from the source tree
ansible-doc -t inventory imds.azure.placement --json | "$PYTHON" -c '
import json, sys
path = json.load(sys.stdin)["imds.azure.placement"]["doc"]["filename"]
assert path.startswith(sys.argv[1]), path' "$W/collections/ansible_collections/imds/azure/"

# --- an emulated fleet and one Redis fact cache ----------------------------------------------
emulator_start --fleet-size 6 --seed 11 --fleet-out "$W/manifest.json" --rate-limit off
REDIS_PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$W/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$W/redis" > "$W/redis/log" 2>&1 &
REDIS_PID=$!
_runner_exit() {
    local status=$?
    set +e   # the emulators must be stopped too, whatever failed
    kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    (exit "$status")
    _emulator_exit
}
trap _runner_exit EXIT
for _ in $(seq 100); do
    "$PYTHON" -c "import redis; redis.Redis(host='127.0.0.1', port=$REDIS_PORT).ping()" 2>/dev/null && break
    sleep 0.1
done
REDIS_CONN="127.0.0.1:$REDIS_PORT:0"

"$PYTHON" - "$W/manifest.json" "$PYTHON" > "$W/hosts.ini" <<'PY'
import json, sys
manifest, python = sys.argv[1:]
print("[fleet]")
for vm in json.load(open(manifest)):
    print("%s azure_imds_endpoint=%s" % (vm["name"], vm["url"]))
print("[all:vars]")
print("ansible_connection=local")
print("ansible_python_interpreter=%s" % python)
PY

# --- controller 1 gathers into Redis, and groups from it as its configuration says -----------
export ANSIBLE_GATHERING=explicit ANSIBLE_HOST_KEY_CHECKING=false
ANSIBLE_CACHE_PLUGIN=community.general.redis ANSIBLE_CACHE_PLUGIN_CONNECTION="$REDIS_CONN" ANSIBLE_CACHE_PLUGIN_TIMEOUT=0 \
    ansible-playbook -i "$W/hosts.ini" "$HERE/files/gather.yml" "$@"
printf 'plugin: imds.azure.placement\n' > "$W/controller1.azure_placement.yml"
ANSIBLE_CACHE_PLUGIN=community.general.redis ANSIBLE_CACHE_PLUGIN_CONNECTION="$REDIS_CONN" ANSIBLE_CACHE_PLUGIN_TIMEOUT=0 \
    ansible-inventory -i "$W/hosts.ini" -i "$W/controller1.azure_placement.yml" --list --export --output "$W/controller1.json"

# --- controller 2: ansible-runner, as AWX runs an inventory update and a job -------------------
# The inventory source is a directory (an SCM source in AWX): the host list, then the placement
# plugin naming the shared Redis cache. Controller 2 has no fact cache of its own configured.
# The host list has no extension: older ansible-core (2.16 among them) skips *.ini files in a directory source.
mkdir -p "$W/source"
cp "$W/hosts.ini" "$W/source/hosts"
printf 'plugin: imds.azure.placement\nfact_cache_plugin: community.general.redis\nfact_cache_connection: "%s"\n' "$REDIS_CONN" \
    > "$W/source/zz_fleet.azure_placement.yml"
env -u ANSIBLE_CACHE_PLUGIN -u ANSIBLE_CACHE_PLUGIN_CONNECTION \
    "$PYTHON" "$HERE/runner_check.py" "$W" "$HERE/files/job.yml"

# --- the execution environment: ansible-builder create on the documented definition ---------
mkdir -p "$W/ee"
cp "$COLLECTION_ROOT/examples/execution-environment/execution-environment.yml" "$W/ee/"
cp "$TARBALL" "$W/ee/imds-azure.tar.gz"
(cd "$W/ee" && ansible-builder create -f execution-environment.yml -c context --output-filename Containerfile)
"$PYTHON" - "$W/ee/context" "$W/ee-check" <<'PY'
import os, subprocess, sys, tarfile, yaml
context, scratch = sys.argv[1:]
containerfile = open(os.path.join(context, "Containerfile")).read()
# the build installs the galaxy requirements, then introspects the collections for their Python requirements
assert "ansible-galaxy" in containerfile and "introspect" in containerfile, containerfile
tarball = os.path.join(context, "_build", "collections", "imds-azure.tar.gz")
assert os.path.exists(tarball), os.listdir(os.path.join(context, "_build"))
requirements = yaml.safe_load(open(os.path.join(context, "_build", "requirements.yml")))
assert {"name": "/build/collections/imds-azure.tar.gz", "type": "file"} in requirements["collections"], requirements
# what introspect finds in the collection the context holds: the collection's Python requirements
with tarfile.open(tarball) as archive:
    archive.extractall(os.path.join(scratch, "ansible_collections", "imds", "azure"), filter="data")
found = yaml.safe_load(subprocess.run(["ansible-builder", "introspect", scratch], check=True, capture_output=True, text=True).stdout)
wanted = [line.split("#")[0].strip() for line in open(os.path.join(scratch, "ansible_collections/imds/azure/meta/ee-requirements.txt"))]
wanted = [req for req in wanted if req]
assert wanted and all(any(req in entry for entry in found["python"]) for req in wanted), (wanted, found)
print("execution environment: build context with the collection; introspect finds %s" % ", ".join(wanted))
PY
