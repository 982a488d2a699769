#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The test harness behind `make test`: runs the named steps against a copy of the tree at
# .build/ansible_collections/imds/azure (ansible-test refuses symlinks), keeps going after a
# failure, and ends with one summary line per step and a closing "N passed, N failed".
#
#   tools/harness/run.sh [STEP...]     default: all steps
#
# Environment: VENV (default .venv) is the venv whose ansible-core and Python run the steps;
# BUILD (default .build) holds the copy; HARNESS_RESULTS names a file that gets the summary
# lines (tools/harness/matrix.sh runs one VENV/BUILD pair per ansible-core).
#
# Steps: sanity units emulator integration eda demo lint docs changelog build
# Not in the default run: render (rewrites docs/plugins/ from the plugins' documentation; make docs),
# site (builds and checks the HTML site, part of docs; make docs),
# fuzz (the unit tests with Hypothesis's "long" profile; make fuzz)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
BUILD="${BUILD:-$ROOT/.build}"
COPY="$BUILD/ansible_collections/imds/azure"
PYVER="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
ALL_STEPS=(sanity units emulator integration eda demo lint docs changelog build)
export PATH="$VENV/bin:$PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8
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
    install_pip_shim
    (cd "$COPY" && ansible-test sanity --venv --python "$PYVER" --color no) || return 1
    compile_target_code_oldest
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

step_emulator() {
    (cd "$COPY" && python -m pytest -q -p no:cacheprovider tests/emulator tests/harness)
}

step_integration() {
    (cd "$COPY" && ansible-test integration --local --python "$PYVER" --color no --allow-root --allow-destructive \
        --continue-on-error)
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
    (cd "$COPY" && python tools/docs_site.py build "$BUILD/docs-site") &&
    (cd "$COPY" && DOCS_SITE="$BUILD/docs-site" "$COPY/tools/run-in-netns.sh" python -m pytest -q -p no:cacheprovider tests/docs_site)
}

step_changelog() {
    (cd "$COPY" && antsibull-changelog lint)
}

run_installed_playbooks() {
    # "Try it without Azure" from the installed tarball ($1), as the README says, in a venv with only ansible-core
    # and in a network namespace of its own (the emulator's port is the documented 127.0.0.1:8080).
    local venv="$BUILD/core-venv"
    python "$ROOT/tools/harness/core_venv.py" "$venv" > /dev/null &&
    "$ROOT/tools/run-in-netns.sh" env -u PYTHONPATH PATH="$venv/bin:/usr/bin:/bin" HOME="$BUILD/core-home" \
        ANSIBLE_COLLECTIONS_PATH="$1" bash -euo pipefail -c '
            rm -rf "$HOME" && mkdir -p "$HOME"
            trap "ansible-playbook imds.azure.emulator -e emulator_state=stopped > /dev/null" EXIT
            ansible-playbook imds.azure.emulator -e emulator_lifetime=600
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

steps=("$@")
[ "${#steps[@]}" -eq 0 ] && steps=("${ALL_STEPS[@]}")
for step in "${steps[@]}"; do
    if ! declare -F "step_$step" > /dev/null; then
        echo "unknown step: $step (known: ${ALL_STEPS[*]})" >&2
        exit 2
    fi
done

copy_tree
results=()
passed=0
failed=0
for step in "${steps[@]}"; do
    echo "=== $step"
    start=$SECONDS
    if "step_$step"; then
        results+=("PASS  $step ($((SECONDS - start)) s)")
        passed=$((passed + 1))
    else
        results+=("FAIL  $step ($((SECONDS - start)) s)")
        failed=$((failed + 1))
    fi
done

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
if [ -n "${HARNESS_RESULTS:-}" ]; then
    printf '%s\n' "${results[@]}" > "$HARNESS_RESULTS"
fi
echo "harness: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
