#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The test harness behind `make test`: runs the named steps, each against a copy of the tree of its
# own (ansible-test refuses symlinks), several at a time, keeps going after a failure, and ends with
# a time table and a closing "N passed, N failed" (one count per step).
#
#   tools/harness/run.sh [STEP | STEP/ARG ...]     default: all steps
#
# The integration step is one job per target (integration/<target> runs one target alone);
# jobs run HARNESS_JOBS at a time (default: cores + 1, since integration targets spend much of
# their time waiting on emulators, timeouts and ansible-playbook start-ups), the longest first.
# Each job's output goes to $BUILD/logs/<job>.log; a failed job's log is printed whole, a passed
# one's last lines. docs/testing.md, "Where the time goes", explains the table.
#
# Environment: VENV (default .venv) is the venv whose ansible-core and Python run the steps;
# BUILD (default .build) holds the copies and logs; HARNESS_RESULTS names a file that gets the
# summary lines (tools/harness/matrix.sh runs one VENV/BUILD pair per ansible-core).
#
# Steps: sanity units emulator harness integration eda demo lint docs changelog build examples
# Not in the default run: render (rewrites docs/plugins/ from the plugins' documentation; make docs),
# site (builds and checks the HTML site, part of docs; make docs),
# fuzz (the unit tests with Hypothesis's "long" profile; make fuzz),
# coverage (line and branch coverage of plugins/ by the unit tests; make coverage)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
HARNESS_BUILD="${BUILD:-$ROOT/.build}"
PYVER="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
ALL_STEPS=(sanity units emulator harness integration eda demo lint docs changelog build examples)
# Jobs known to take longest start first (a fresh clone has no timings of its own yet); the rest
# follow in the order of the previous run's timings ($HARNESS_BUILD/timings), longest first.
SLOW_FIRST=(integration/metadata_facts examples integration/metadata_facts_attested integration/scheduled_events eda
            integration/hostile units sanity integration/route_netns integration/inventory_placement)
export PATH="$VENV/bin:$PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8

# Each job sets BUILD (its own directory) and COPY (its copy of the tree) before its step runs.
BUILD="$HARNESS_BUILD"
COPY="$BUILD/ansible_collections/imds/azure"
export ANSIBLE_COLLECTIONS_PATH="$BUILD"

copy_tree() {
    # Tracked files plus untracked ones git does not ignore: exactly what a commit would hold.
    rm -rf "$BUILD/ansible_collections"
    mkdir -p "$COPY"
    (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
        [ -e "$f" ] && printf '%s\0' "$f"
    done | tar --null -T - -cf -) | tar -xf - -C "$COPY"
    # A repository of its own: otherwise ansible-test sees the copy as ignored files of ours.
    git -C "$COPY" init -q
}

install_pip_shim() {
    # ansible-test downloads a pip bootstrap script from a host this network blocks; seed its cache.
    local version
    version="$(python - <<'PY'
import re, ansible_test, os
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)"
    mkdir -p "$HOME/.ansible/test/cache"
    cp "$ROOT/tools/harness/ansible_test_pip_shim.py" "$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
}

ensure_ansible_test_key() {
    # ansible-test integration makes its SSH key pair (~/.ansible/test/id_rsa) on first use, with no
    # lock: integration jobs starting together in a fresh HOME raced for it and all but one failed
    # ("id_rsa already exists"). Make it once, before any job, with ansible-test's own command.
    local key="$HOME/.ansible/test/id_rsa"
    [ -f "$key" ] && [ -f "$key.pub" ] && return 0
    mkdir -p "${key%/*}" && rm -f "$key" "$key.pub" && ssh-keygen -m PEM -q -t rsa -N '' -f "$key"
}

step_sanity() {
    local ignores
    # Without shellcheck ansible-test skips its shellcheck test with a mere notice.
    if ! command -v shellcheck > /dev/null; then
        echo "shellcheck not found: the sanity step needs it to check the runme.sh files."
        echo "  Install it: apt-get install shellcheck (make test installs tools/harness/system-packages.txt)"
        return 1
    fi
    ignores="$(find "$COPY/tests/sanity" -name 'ignore-*.txt' 2>/dev/null)"
    if [ -n "$ignores" ]; then
        echo "sanity ignore files are not allowed: $ignores"
        return 1
    fi
    if command -v pwsh > /dev/null; then
        (cd "$COPY" && ansible-test sanity --venv --python "$PYVER" --color no) || return 1
    else
        sanity_without_powershell || return 1
    fi
    compile_target_code_oldest
}

sanity_without_powershell() {
    # validate-modules reads a PowerShell module's argument spec by running it with pwsh
    # (ps_argspec.ps1) and stops with a traceback when pwsh is missing; pslint skips itself.
    # PowerShell cannot be installed here, so validate-modules checks everything but the .ps1
    # modules (their .py documentation included), and the units step checks what it would have
    # checked of them: tests/unit/plugins/plugin_utils/_windows/test_modules.py.
    local excludes=() script
    while IFS= read -r script; do
        excludes+=(--exclude "$script")
    done < <(cd "$COPY" && find plugins/modules -name '*.ps1' | sort)
    echo "pwsh not found: validate-modules runs without the PowerShell modules ${excludes[*]//--exclude /}; pslint is skipped"
    (cd "$COPY" && ansible-test sanity --venv --python "$PYVER" --color no --skip-test validate-modules) || return 1
    (cd "$COPY" && ansible-test sanity --venv --python "$PYVER" --color no --test validate-modules "${excludes[@]}")
}

compile_target_code_oldest() {
    # ansible-test compiles for the controller's Python only; target-side code must also
    # compile on the oldest Python managed nodes may have.
    local py38
    py38="$(find "$HOME/.pyenv/versions" -maxdepth 3 -path '*/3.8.*/bin/python3.8' 2>/dev/null | sort -V | tail -n 1)"
    if [ -z "$py38" ]; then
        py38="$(command -v python3.8 || true)"
    fi
    if [ -z "$py38" ]; then
        echo "Python 3.8 not found: cannot check that modules and module_utils compile for managed nodes"
        return 1
    fi
    echo "compile for managed nodes with $py38"
    (cd "$COPY" && find plugins/modules plugins/module_utils -name '*.py' -print0 \
        | xargs -0 "$py38" -c 'import sys; [compile(open(f, "rb").read(), f, "exec", dont_inherit=True) for f in sys.argv[1:]]')
}

step_units() {
    (cd "$COPY" && ansible-test units --local --python "$PYVER" --color no)
}

step_fuzz() {
    # The unit tests with the Hypothesis profile HYPOTHESIS_PROFILE (default "long"; tests/unit/conftest.py).
    # ansible-test passes no HYPOTHESIS_* variable to pytest, so this runs pytest the way
    # ansible-test units does (its collection loader plugin), with the environment kept.
    local plugins
    plugins="$(python -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_util/target/pytest/plugins"))')"
    (cd "$COPY" && HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-long}" ANSIBLE_CONTROLLER_MIN_PYTHON_VERSION="$PYVER" \
        PYTHONPATH="$plugins" PYTEST_PLUGINS=ansible_pytest_collections \
        python -m pytest -q -p no:cacheprovider -n "${FUZZ_WORKERS:-2}" --rootdir "$COPY" --confcutdir "$COPY" \
        --hypothesis-show-statistics "${FUZZ_TESTS:-tests/unit}")
}

step_coverage() {
    # step_coverage [UNIT TEST...]: the unit tests under ansible-test's coverage (its configuration records
    # branches), then line % and branch % of every file of plugins/ and in total (tools/harness/coverage_report.py)
    # into $HARNESS_BUILD/coverage/: coverage.txt (the table), coverage.json, coverage.data (the combined data).
    local out="$HARNESS_BUILD/coverage"
    python -c 'import coverage' 2> /dev/null || { echo "coverage is not installed in $VENV (requirements-dev.txt): make venv"; return 1; }
    rm -rf "$out" && mkdir -p "$out" &&
    (cd "$COPY" && ansible-test units --local --python "$PYVER" --color no --coverage "$@") &&
    (cd "$COPY" && ansible-test coverage combine --color no) &&
    cp "$COPY/tests/output/coverage/coverage" "$out/coverage.data" &&
    python "$ROOT/tools/harness/coverage_report.py" "$out/coverage.data" "$COPY" "$out/coverage.json" | tee "$out/coverage.txt"
}

step_emulator() {
    # The emulator's own suite, next to it (it is a product too: docs/docsite/rst/emulator.rst).
    (cd "$COPY" && python -m pytest -q -p no:cacheprovider tools/imds_emulator/tests)
}

step_harness() {
    # The harness's own tests: the network guard, the integration targets' helpers, the examples runner.
    (cd "$COPY" && python -m pytest -q -p no:cacheprovider tests/harness)
}

step_integration() {
    # step_integration [TARGET...]: the named targets (the job runner gives one), else every enabled one.
    (cd "$COPY" && ansible-test integration --local --python "$PYVER" --color no --allow-root --allow-destructive \
        --continue-on-error "$@")
}

integration_targets() {
    # The targets `ansible-test integration` runs by default (not disabled, not support targets).
    (cd "$COPY" && ansible-test integration --list-targets --color no --allow-root --allow-destructive 2> /dev/null)
}

step_eda() {
    # The EDA event source under the real ansible-rulebook, which needs a Java >= 17 runtime (Debian:
    # openjdk-17-jre-headless). Its target is 'disabled' so that the integration step, and with it the
    # version matrix, leave it out: ansible-rulebook is in requirements-dev.txt only.
    (cd "$COPY" && ansible-test integration --local --python "$PYVER" --color no --allow-root --allow-destructive \
        --allow-disabled eda_scheduled_events)
}

step_demo() {
    (cd "$COPY" && python -m tools.demo)
}

step_lint() {
    local targets=()
    for path in roles examples playbooks; do
        if [ -d "$COPY/$path" ]; then
            targets+=("$path")
        fi
    done
    if [ "${#targets[@]}" -eq 0 ]; then
        echo "nothing to lint yet"
        return 0
    fi
    (cd "$COPY" && ansible-lint --offline --profile production "${targets[@]}")
}

render_plugin_docs() {
    # Plugin and role reference pages, rendered from the copy's documentation.
    rm -rf "$1" && mkdir -p "$1" &&
    (cd "$COPY" && antsibull-docs collection --use-current --dest-dir "$1" --output-format simplified-rst \
        --squash-hierarchy --no-add-antsibull-docs-version --no-breadcrumbs --fail-on-error imds.azure > /dev/null) &&
    # The guides are docs/docsite/rst/ already; no second copy of them.
    rm -rf "$1/docsite"
}

step_render() {
    render_plugin_docs "$ROOT/docs/plugins"
}

step_docs() {
    local fresh="$BUILD/docs-plugins"
    (cd "$COPY" && antsibull-docs lint-collection-docs --plugin-docs .) &&
    render_plugin_docs "$fresh" &&
    if ! diff -ru "$COPY/docs/plugins" "$fresh"; then
        echo "docs/plugins/ is stale: run 'make docs' and commit the result"
        return 1
    fi &&
    step_site
}

step_site() {
    # The HTML site (tools/docs_site.py: antsibull-docs sphinx-init and its build, warnings are errors) into
    # .build/docs-site/build/html, then its internal links and Chromium's rendering of every page
    # (tests/docs_site, in a network namespace); the quick start's screenshot is .build/docs-site/quickstart.png.
    (cd "$COPY" && python tools/docs_site.py build "$HARNESS_BUILD/docs-site") &&
    (cd "$COPY" && DOCS_SITE="$HARNESS_BUILD/docs-site" "$COPY/tools/run-in-netns.sh" python -m pytest -q -p no:cacheprovider tests/docs_site)
}

step_examples() {
    # Every example of the documentation (plugin EXAMPLES, the guides, the READMEs) run against the emulator,
    # in network and mount namespaces of its own: tests/docs_examples/run.py, docs/testing.md "Documentation examples".
    (cd "$COPY" && python tests/docs_examples/run.py)
}

step_changelog() {
    (cd "$COPY" && antsibull-changelog lint)
}

# shellcheck disable=SC2016  # the single-quoted script is expanded by the inner shell
run_installed_playbooks() {
    # "Try it without Azure" from the installed tarball ($1), as the README says, in a venv with only ansible-core
    # and in a network namespace of its own (the emulator's port is the documented 127.0.0.1:8080).
    local venv="$BUILD/core-venv"
    python "$ROOT/tools/harness/core_venv.py" "$venv" > /dev/null &&
    "$ROOT/tools/run-in-netns.sh" env -u PYTHONPATH PATH="$venv/bin:/usr/bin:/bin" HOME="$BUILD/core-home" \
        ANSIBLE_COLLECTIONS_PATH="$1" bash -euo pipefail -c '
            rm -rf "$HOME" && mkdir -p "$HOME/.ansible/imds_emulator"
            trap "ansible-playbook imds.azure.emulator -e emulator_state=stopped > /dev/null" EXIT
            # An earlier emulator'"'"'s log at the same address must not pass for the new one'"'"'s.
            echo "listening on http://127.0.0.1:1" > "$HOME/.ansible/imds_emulator/127.0.0.1_8080.log"
            started="$(ansible-playbook imds.azure.emulator -e emulator_lifetime=600)"
            grep -q "listening on http://127.0.0.1:8080 " <<< "$started" || { echo "$started"; exit 1; }
            facts="$(AZURE_IMDS_ENDPOINT=http://127.0.0.1:8080 ansible localhost -m imds.azure.metadata_facts -a detect=false)"
            grep -q "\"vmId\": \"[0-9a-f-]\{36\}\"" <<< "$facts" || { echo "$facts"; exit 1; }
            demo="$(ansible-playbook imds.azure.demo)"
            grep "demo finished in" <<< "$demo" || { echo "$demo"; exit 1; }'
}

step_build() {
    local dist="$BUILD/dist" inst="$BUILD/installed"
    rm -rf "$dist" "$inst"
    (cd "$COPY" && ansible-galaxy collection build --output-path "$dist") &&
    ANSIBLE_COLLECTIONS_PATH="$inst" ansible-galaxy collection install "$dist"/imds-azure-*.tar.gz -p "$inst" &&
    ANSIBLE_COLLECTIONS_PATH="$inst" ansible-galaxy collection verify --offline imds.azure &&
    for type in module lookup inventory filter; do
        ANSIBLE_COLLECTIONS_PATH="$inst" ansible-doc -t "$type" --list imds.azure || return 1
        # Every plugin's documentation renders from the installed tarball.
        for name in $(ANSIBLE_COLLECTIONS_PATH="$inst" ansible-doc -t "$type" --list --json imds.azure |
                      python -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin))))'); do
            ANSIBLE_COLLECTIONS_PATH="$inst" ansible-doc -t "$type" "$name" > /dev/null || { echo "ansible-doc failed: $type $name"; return 1; }
        done
    done
    ANSIBLE_COLLECTIONS_PATH="$inst" ansible-doc -t role imds.azure.route > /dev/null &&
    run_installed_playbooks "$inst" &&
    # Execution environments: ansible-builder must find the controller requirements.
    ansible-builder introspect "$inst" > "$BUILD/introspect.yml" &&
    cat "$BUILD/introspect.yml" &&
    python - "$BUILD/introspect.yml" "$COPY/meta/ee-requirements.txt" <<'PY'
import sys, yaml
found = yaml.safe_load(open(sys.argv[1]))["python"]
wanted = [line.split("#")[0].strip() for line in open(sys.argv[2])]
missing = [req for req in wanted if req and not any(req in entry for entry in found)]
sys.exit("ansible-builder introspect misses %s" % missing if missing else 0)
PY
}

run_job() {
    # run_job JOB: STEP or STEP/ARG in a fresh copy of the tree under $HARNESS_BUILD/jobs/.
    local job="$1" step="${1%%/*}" args=()
    [ "$job" = "$step" ] || args=("${job#*/}")
    BUILD="$HARNESS_BUILD/jobs/${job//\//-}"
    COPY="$BUILD/ansible_collections/imds/azure"
    export ANSIBLE_COLLECTIONS_PATH="$BUILD"
    rm -rf "$BUILD" && copy_tree && "step_$step" "${args[@]}"
}

order_jobs() {
    # Print the jobs named on stdin: SLOW_FIRST's, then the rest by the previous run's time, longest first.
    python3 -c '
import sys
jobs = sys.stdin.read().split()
slow = sys.argv[1].split()
timings = {}
try:
    for line in open(sys.argv[2]):
        name, seconds = line.split()
        timings[name] = float(seconds)
except (OSError, ValueError):
    pass
first = [job for job in slow if job in jobs]
rest = sorted((job for job in jobs if job not in first), key=lambda job: -timings.get(job, 0))
print("\n".join(first + rest))
' "${SLOW_FIRST[*]}" "$HARNESS_BUILD/timings"
}

requested=("$@")
[ "${#requested[@]}" -eq 0 ] && requested=("${ALL_STEPS[@]}")
for job in "${requested[@]}"; do
    if ! declare -F "step_${job%%/*}" > /dev/null; then
        echo "unknown step: ${job%%/*} (known: ${ALL_STEPS[*]})" >&2
        exit 2
    fi
done

mkdir -p "$HARNESS_BUILD"
exec {lock}> "$HARNESS_BUILD/.harness.lock"
if ! flock -n "$lock"; then
    echo "another harness run uses $HARNESS_BUILD: wait for it to end, or give this one its own BUILD=..." >&2
    exit 2
fi
copy_tree
install_pip_shim
ensure_ansible_test_key || { echo "ssh-keygen failed: ansible-test integration needs its key pair (Debian package openssh-client)" >&2; exit 2; }
jobs=()
for job in "${requested[@]}"; do
    if [ "$job" = integration ]; then
        mapfile -t targets < <(integration_targets)
        [ "${#targets[@]}" -gt 0 ] || { echo "no integration targets found" >&2; exit 2; }
        jobs+=("${targets[@]/#/integration/}")
    else
        jobs+=("$job")
    fi
done
mapfile -t jobs < <(printf '%s\n' "${jobs[@]}" | order_jobs)

LOGS="$HARNESS_BUILD/logs"
rm -rf "$LOGS" && mkdir -p "$LOGS"
max_jobs="${HARNESS_JOBS:-$(( $(nproc) + 1 ))}"
declare -A job_of started wall cpu status
harness_start=$SECONDS
next=0
running=0
echo "=== ${#jobs[@]} jobs, $max_jobs at a time: ${jobs[*]}"
while [ "$next" -lt "${#jobs[@]}" ] || [ "$running" -gt 0 ]; do
    while [ "$running" -lt "$max_jobs" ] && [ "$next" -lt "${#jobs[@]}" ]; do
        job="${jobs[next]}"
        next=$((next + 1))
        log="$LOGS/${job//\//-}"
        # `time` on the subshell counts the CPU of every process the job waited for.
        # The lock stays with this shell: a process a job leaves behind must not hold it.
        ( exec {lock}>&-; TIMEFORMAT='%U %S'; { time ( run_job "$job" > "$log.log" 2>&1; echo $? > "$log.rc" ) ; } 2> "$log.cpu" ) &
        job_of[$!]="$job"
        started[$job]=$SECONDS
        running=$((running + 1))
    done
    wait -n -p done_pid
    running=$((running - 1))
    job="${job_of[$done_pid]}"
    log="$LOGS/${job//\//-}"
    wall[$job]=$((SECONDS - started[$job]))
    cpu[$job]="$(awk '{ printf "%d", $1 + $2 }' "$log.cpu" 2>/dev/null)"
    if [ "$(cat "$log.rc" 2>/dev/null)" = 0 ]; then
        status[$job]=PASS
        echo "=== $job: PASS in ${wall[$job]} s (CPU ${cpu[$job]} s); last lines of $log.log:"
        tail -n 15 "$log.log"
    else
        status[$job]=FAIL
        echo "=== $job: FAIL in ${wall[$job]} s (CPU ${cpu[$job]} s); $log.log:"
        cat "$log.log"
    fi
done
harness_wall=$((SECONDS - harness_start))

# One line per step (a step's time is the sum of its jobs' times: what it costs the run).
results=()
passed=0
failed=0
for step in "${requested[@]}"; do
    result=PASS seconds=0
    for job in "${jobs[@]}"; do
        if [ "$job" = "$step" ] || { [ "${step%%/*}" = "$step" ] && [ "${job%%/*}" = "$step" ] && [ "$job" != "$step" ]; }; then
            [ "${status[$job]}" = PASS ] || result=FAIL
            seconds=$((seconds + wall[$job]))
        fi
    done
    results+=("$result  $step ($seconds s)")
    if [ "$result" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

echo
echo "=== time table (wall and CPU seconds per job, longest first)"
total_cpu=0
for job in "${jobs[@]}"; do
    printf '%s %-45s %6s %6s\n' "${status[$job]}" "$job" "${wall[$job]}" "${cpu[$job]}"
done | sort -k3,3nr
for job in "${jobs[@]}"; do total_cpu=$((total_cpu + ${cpu[$job]:-0})); done
for job in "${jobs[@]}"; do echo "$job ${wall[$job]}"; done > "$HARNESS_BUILD/timings"
if [ -n "${HARNESS_SETUP_SECONDS:-}" ]; then
    printf '%s %-45s %6s %6s\n' PASS "set-up (packages, .venv)" "$HARNESS_SETUP_SECONDS" -
fi
echo
echo "=== summary"
printf '%s\n' "${results[@]}"
if [ -n "${HARNESS_RESULTS:-}" ]; then
    printf '%s\n' "${results[@]}" > "$HARNESS_RESULTS"
fi
echo "harness time: $harness_wall s wall, $total_cpu s CPU, $max_jobs jobs at a time"
echo "harness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
