#!/usr/bin/env bash
# imds.azure.placement: facts gathered from an emulated fleet into a jsonfile (and a Redis)
# fact cache, then grouped by real ansible-inventory / ansible-playbook runs.
set -eux

source ../setup_emulator/emulator.sh
require_programs redis-server=redis-server

HERE="$(pwd)"
W="$EMULATOR_WORKDIR"
FLEET_SIZE=8
export ANSIBLE_INVENTORY_ENABLED=imds.azure.placement,ansible.builtin.ini
export ANSIBLE_GATHERING=explicit
export ANSIBLE_HOST_KEY_CHECKING=false
export ANSIBLE_CACHE_PLUGIN=jsonfile
export ANSIBLE_CACHE_PLUGIN_CONNECTION="$W/facts"
export ANSIBLE_CACHE_PLUGIN_TIMEOUT=0

# --- an emulated fleet, plus one VM with awkward tags -------------------------------------
emulator_start --fleet-size "$FLEET_SIZE" --seed 7 --fleet-out "$W/manifest.json" --rate-limit off
FLEET_BANNER="$EMULATOR_BANNER"
emulator_start --profile "$HERE/files/weird.json" --rate-limit off
WEIRD_URL="$EMULATOR_URL"

"$PYTHON" - "$W/manifest.json" "$FLEET_BANNER" "$WEIRD_URL" "$PYTHON" > "$W/hosts.ini" <<'PY'
import json, sys
manifest, banner, weird, python = sys.argv[1:]
urls = [line.split()[-1] for line in open(banner) if line.startswith("listening on ")]
vms = json.load(open(manifest))
assert [vm["url"] for vm in vms] == urls, (urls, vms)
print("[fleet]")
for vm in vms:
    print("%s azure_imds_endpoint=%s" % (vm["name"], vm["url"]))
print("weird-01 azure_imds_endpoint=%s" % weird)
# the groups the spread filter's EXAMPLES use
print("[web]\n" + "\n".join(vm["name"] for vm in vms if vm["name"].startswith("web-")))
print("[db]\n" + "\n".join(sorted(vm["name"] for vm in vms if not vm["name"].startswith("web-"))[:3]))
print("[nodata]")
print("not-gathered")
print("[all:vars]")
print("ansible_connection=local")
print("ansible_python_interpreter=%s" % python)
PY
cat "$W/hosts.ini"

ansible-playbook -i "$W/hosts.ini" playbooks/gather.yml "$@"
ls "$W/facts"

# --- fact cache source: ansible-inventory --list and --graph ------------------------------
printf 'plugin: imds.azure.placement\n' > "$W/fleet.azure_placement.yml"
cd "$W"   # a template that is evaluated would create ./EVALUATED here
ansible-inventory -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" --list --export > "$W/list.json" 2> "$W/list.err"
cat "$W/list.err"
ansible-inventory -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" --graph > "$W/graph.txt"
cat "$W/graph.txt"
"$PYTHON" "$HERE/check_inventory.py" "$W/manifest.json" "$W/list.json" "$W/graph.txt" "$W/list.err"

# --- AWX without Redis: ansible.builtin.constructed over the stored facts makes the same groups --
# (as AWX runs a constructed inventory update: the source vars in a file of their own, --playbook-dir set,
# which is where a lookup evaluated by ansible-core 2.18 and older runs)
mkdir "$W/constructed"
cp "$COLLECTION_ROOT/examples/placement/placement.constructed.yml" "$W/constructed/"
ANSIBLE_INVENTORY_ENABLED=ansible.builtin.ini,ansible.builtin.constructed ansible-inventory -i "$W/hosts.ini" \
    -i "$W/constructed/placement.constructed.yml" --playbook-dir "$W/constructed" --list --export > "$W/constructed.json"
"$PYTHON" "$HERE/check_constructed.py" "$W/list.json" "$W/constructed.json" "$W/constructed"

# --- playbooks: groups, host vars, the spread filter (and its EXAMPLES, as documented) -----
# host_vars: auto (the default), so a play sees azure_placement and azure_tags as AWX's export does
"$PYTHON" - "$COLLECTION_ROOT/plugins/filter/spread.py" "$HERE/playbooks/spread_examples_check.yml" > "$W/spread_examples.yml" <<'PY'
import ast, sys, yaml
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
examples = next(node.value.value for node in tree.body if isinstance(node, ast.Assign) and node.targets[0].id == "EXAMPLES")
plays = [{"name": "The EXAMPLES of imds.azure.spread", "hosts": "web", "gather_facts": False, "tasks": yaml.safe_load(examples)}]
print(yaml.safe_dump(plays + yaml.safe_load(open(sys.argv[2], encoding="utf-8")), sort_keys=False))
PY
ansible-playbook -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" "$HERE/playbooks/test.yml" "$W/spread_examples.yml" \
    -e "manifest_file=$W/manifest.json" "$@"
# the rolling recipe: one play, one serial batch per update domain (weird-01 is in update domain 12,
# after 0-4), in order
ROLLING=("$COLLECTION_ROOT/examples/placement/rolling_update_domains.yml" -e rolling_hosts=fleet)
ansible-playbook -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" "${ROLLING[@]}" "$@" | tee "$W/rolling.out"
"$PYTHON" "$HERE/check_order.py" rolling "$W/list.json" "$W/rolling.out"
eval "$("$PYTHON" "$HERE/check_order.py" plan "$W/list.json")"
# With --limit leaving part of several update domains, each batch is still one whole (limited) update
# domain. A host that fails stops the roll, and so does an unreachable one (max_fail_percentage: 0 would not).
printf '%s ansible_python_interpreter=/nonexistent/python\n' "$ROLLING_FAIL_HOST" > "$W/rolling-fail.ini"
printf '%s ansible_remote_tmp=/proc/self/nonexistent/tmp\n' "$ROLLING_UNREACHABLE_HOST" > "$W/rolling-unreachable.ini"
for case in fail unreachable; do
    limit="" stop="$ROLLING_UNREACHABLE_HOST"
    [ "$case" = unreachable ] || limit="$ROLLING_LIMIT" stop="$ROLLING_FAIL_HOST"
    if ansible-playbook -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" -i "$W/rolling-$case.ini" "${ROLLING[@]}" \
            --limit "${limit:-all}" "$@" > "$W/rolling-$case.out"; then
        echo "the roll went on after a host failed ($case)"; exit 1
    fi
    "$PYTHON" "$HERE/check_order.py" rolling "$W/list.json" "$W/rolling-$case.out" "$limit" "$stop"
done
# Batches that are not one update domain each (a play edited wrongly) stop before any host is changed.
if ansible-playbook -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" "${ROLLING[@]}" -e "$ROLLING_MIXED" "$@" \
        > "$W/rolling-mixed.out"; then
    echo "a batch of several update domains ran"; exit 1
fi
grep "failed or unreachable: none; update domains in this batch: [2-9]" "$W/rolling-mixed.out"
if grep "TASK \[Apply the change" "$W/rolling-mixed.out"; then echo "a batch of several update domains was changed"; exit 1; fi
ansible-playbook -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" \
    "$COLLECTION_ROOT/examples/placement/canary_per_zone.yml" -e canary_hosts=fleet "$@" | tee "$W/canary.out"
"$PYTHON" "$HERE/check_order.py" canary "$W/list.json" "$W/canary.out"

# --- tree source: ansible --tree DIR, no other inventory source ----------------------------
ansible fleet -i "$W/hosts.ini" -m imds.azure.metadata_facts -a 'endpoint={{ azure_imds_endpoint }} detect=false' --tree "$W/tree" > /dev/null
# plus crafted results: host names that are group names (all, azure_no_imds...), tags that sanitise alike, a wrong-typed field
"$PYTHON" "$HERE/crafted.py" tree "$W/manifest.json" "$W/tree"
printf 'plugin: imds.azure.placement\nsources: [tree]\ntree_dir: %s\nadd_hosts: true\n' "$W/tree" > "$W/tree.azure_placement.yml"
ansible-inventory -i "$W/tree.azure_placement.yml" --list --export > "$W/tree.json" 2> "$W/tree.err"
cat "$W/tree.err"
"$PYTHON" "$HERE/check_inventory.py" "$W/manifest.json" "$W/tree.json" - - wrong-fd
"$PYTHON" "$HERE/crafted.py" check "$W/tree.json" "$W/tree.err"

# --- local source (ansible-pull on a VM): the plugin queries IMDS itself ------------------
printf 'plugin: imds.azure.placement\nsources: [local]\ndetect: "false"\nhost_vars: [placement_vars, tags]\n' > "$W/local.azure_placement.yml"
AZURE_IMDS_ENDPOINT="$WEIRD_URL" ansible-inventory -i "$W/local.azure_placement.yml" --list --export > "$W/local.json"
"$PYTHON" - "$W/local.json" "$HERE" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[2])
from check_inventory import unwrap
data = json.load(open(sys.argv[1]))
hv = unwrap(data["_meta"]["hostvars"]["localhost"])
assert hv["azure_fault_domain"] == "0" and hv["azure_zone"] == "", hv
assert hv["azure_tags"]["template"] == "{{ lookup('pipe', 'touch EVALUATED') }}", hv
assert "localhost" in data["azure_zone_none"]["hosts"], data
PY

# --- unsafe: nothing from a tag value was ever evaluated ----------------------------------
test ! -e "$W/EVALUATED"
test ! -e "$HERE/EVALUATED"
cd "$HERE"

# --- Redis fact cache shared by two inventory runs -----------------------------------------
if ! "$PYTHON" -c 'import sys
from ansible.plugins.loader import cache_loader, init_plugin_loader
init_plugin_loader()
sys.exit(0 if cache_loader.find_plugin("community.general.redis") else 1)'; then
    echo "FAILED: the community.general collection (redis cache plugin) is missing;"
    echo "  requirements-dev.txt installs it with the pip package 'ansible' (make venv)."
    exit 1
fi
REDIS_PORT="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
mkdir -p "$W/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$W/redis" --daemonize no > "$W/redis/log" 2>&1 &
REDIS_PID=$!
stop_redis() {
    if kill "$REDIS_PID" 2>/dev/null; then
        wait "$REDIS_PID" 2>/dev/null || true
    fi
}
emulator_on_exit stop_redis
for _ in $(seq 50); do
    "$PYTHON" -c "import redis, sys; redis.Redis(host='127.0.0.1', port=$REDIS_PORT).ping()" 2>/dev/null && break
    sleep 0.1
done
"$PYTHON" -c "import redis; redis.Redis(host='127.0.0.1', port=$REDIS_PORT).ping()" 2>/dev/null ||
    { echo "FAILED: redis-server did not answer on port $REDIS_PORT within 5 s:" >&2; cat "$W/redis/log" >&2; exit 1; }
REDIS_CONN="127.0.0.1:$REDIS_PORT:0"
ANSIBLE_CACHE_PLUGIN=community.general.redis ANSIBLE_CACHE_PLUGIN_CONNECTION="$REDIS_CONN" \
    ansible-playbook -i "$W/hosts.ini" playbooks/gather.yml "$@"
"$PYTHON" "$HERE/crafted.py" redis "$W/manifest.json" "$REDIS_CONN"
# controller 1: the fact cache comes from Ansible's configuration
ANSIBLE_CACHE_PLUGIN=community.general.redis ANSIBLE_CACHE_PLUGIN_CONNECTION="$REDIS_CONN" \
    ansible-inventory -i "$W/hosts.ini" -i "$W/fleet.azure_placement.yml" --list --export > "$W/redis1.json"
# controller 2, as AWX runs an inventory source from a project directory: no fact cache configured;
# discovery first (a stand-in of azure.azcollection.azure_rm), then placement naming the shared Redis
# (add_hosts: true also adds weird-01, which only the cache knows)
mkdir "$W/awx-inventory"
"$PYTHON" "$HERE/make_discovery.py" "$W/manifest.json" > "$W/awx-inventory/01-fleet.yml"
printf 'plugin: imds.azure.placement\nfact_cache_plugin: community.general.redis\nfact_cache_connection: "%s"\nadd_hosts: true\n' \
    "$REDIS_CONN" > "$W/awx-inventory/02-fleet.azure_placement.yml"
(unset ANSIBLE_INVENTORY_ENABLED; ANSIBLE_CACHE_PLUGIN=memory ANSIBLE_INVENTORY_UNPARSED_FAILED=true \
    ansible-inventory -i "$W/awx-inventory" --list --export > "$W/redis2.json" 2> "$W/redis2.err")
cat "$W/redis2.err"
"$PYTHON" - "$W/manifest.json" "$W/redis2.json" "$HERE" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3])
from check_inventory import unwrap
hostvars = unwrap(json.load(open(sys.argv[2]))["_meta"]["hostvars"])
for vm in json.load(open(sys.argv[1])):
    found = hostvars[vm["name"]]
    assert found["id"] == vm["resource_id"] and found["location"] == vm["location"], found   # discovery's variables stay
    assert found["azure_placement"]["update_domain"] == vm["update_domain"], found            # placement's are added
PY
"$PYTHON" "$HERE/check_inventory.py" "$W/manifest.json" "$W/redis1.json" - -
"$PYTHON" "$HERE/check_inventory.py" "$W/manifest.json" "$W/redis2.json" - - wrong-fd
"$PYTHON" "$HERE/crafted.py" check "$W/redis2.json" "$W/redis2.err"
stop_redis
