#!/usr/bin/env bash
# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The version matrix behind `make test-matrix` and `make test-units-matrix`: runs harness steps
# (tools/harness/run.sh) once per supported ansible-core, each in a venv of its own and with a
# build directory of its own, keeps going after a failure, and ends with a core x step summary
# and a closing "N passed, N failed".
#
#   tools/harness/matrix.sh [CORE...]          default: every supported core
#   MATRIX_STEPS="units" tools/harness/matrix.sh   default steps: sanity units integration
#
# ansible-core 2.21 uses the project venv (.venv, requirements-dev.txt); every other core X.Y
# gets .venv-X.Y from tests/matrix/requirements-X.Y.txt + constraints-X.Y.txt, created on first
# use and re-installed when either file changes.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
ALL_CORES=(2.16 2.17 2.18 2.19 2.20 2.21)
NEWEST=2.21
read -r -a STEPS <<< "${MATRIX_STEPS:-sanity units integration}"

python_for() {
    # ansible-core 2.16-2.19 run on Python 3.11 (2.16's controller stops at 3.12), 2.20+ need 3.12.
    local version
    case "$1" in
        2.16|2.17|2.18|2.19) version=3.11 ;;
        *) version=3.12 ;;
    esac
    local found
    found="$(find "$HOME/.pyenv/versions" -maxdepth 3 -path "*/$version.*/bin/python$version" 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] || found="$(command -v "python$version" || true)"
    [ -n "$found" ] || { echo "Python $version not found (needed by ansible-core $1)" >&2; return 1; }
    echo "$found"
}

venv_for() {
    # Print the venv of core $1, creating or refreshing it first (install output goes to stderr).
    local core="$1"
    if [ "$core" = "$NEWEST" ]; then
        make -C "$ROOT" --no-print-directory venv >&2 || return 1
        echo "$ROOT/.venv"
        return 0
    fi
    local venv="$ROOT/.venv-$core"
    local req="$ROOT/tests/matrix/requirements-$core.txt" con="$ROOT/tests/matrix/constraints-$core.txt"
    if [ ! -f "$req" ] || [ ! -f "$con" ]; then
        echo "missing $req or $con" >&2
        return 1
    fi
    local want have
    want="$(cat "$req" "$con" | sha256sum | cut -d' ' -f1)"
    have="$(cat "$venv/.installed" 2>/dev/null || true)"
    if [ "$want" != "$have" ]; then
        local python
        python="$(python_for "$core")" || return 1
        echo "--- creating $venv ($("$python" --version 2>&1), ansible-core $core)" >&2
        rm -rf "$venv"
        # uv comes from the project venv (make venv), which the newest core's steps need anyway.
        if ! make -C "$ROOT" --no-print-directory venv >&2 || ! "$python" -m venv "$venv" ||
           ! "$ROOT/.venv/bin/uv" pip install -q --system-certs --python "$venv/bin/python" -r "$req" -c "$con" >&2; then
            echo "installing $venv failed" >&2
            return 1
        fi
        echo "$want" > "$venv/.installed"
    fi
    echo "$venv"
}

cores=("$@")
[ "${#cores[@]}" -eq 0 ] && cores=("${ALL_CORES[@]}")
for core in "${cores[@]}"; do
    case " ${ALL_CORES[*]} " in
        *" $core "*) ;;
        *) echo "unknown ansible-core: $core (supported: ${ALL_CORES[*]})" >&2; exit 2 ;;
    esac
done

declare -A RESULT
declare -A VERSIONS
matrix_start=$SECONDS
for core in "${cores[@]}"; do
    echo "##### ansible-core $core: ${STEPS[*]}"
    build="$ROOT/.build/matrix-$core"
    results="$build/results.txt"
    mkdir -p "$build"
    rm -f "$results"
    start=$SECONDS
    if venv="$(venv_for "$core")"; then
        VERSIONS[$core]="$("$venv/bin/python" -c 'import platform
from ansible.release import __version__
print(__version__, platform.python_version())')"
        VENV="$venv" BUILD="$build" HARNESS_RESULTS="$results" "$ROOT/tools/harness/run.sh" "${STEPS[@]}"
    else
        VERSIONS[$core]="- -"
    fi
    for step in "${STEPS[@]}"; do
        # run.sh's summary line "PASS  units (93 s)" -> "PASS 93 s"
        line="$(grep -E "^(PASS|FAIL) +$step " "$results" 2>/dev/null | head -n 1)"
        if [ -n "$line" ]; then
            seconds="${line##*(}"
            RESULT[$core/$step]="${line%% *} ${seconds%)}"
        else
            RESULT[$core/$step]="FAIL not run"
        fi
    done
    RESULT[$core/total]="$((SECONDS - start)) s"
done

echo
echo "##### matrix summary"
passed=0
failed=0
header="$(printf '%-6s %-13s %-8s' core ansible-core python)"
for step in "${STEPS[@]}"; do
    header+="$(printf ' %-13s' "$step")"
done
echo "$header total"
for core in "${cores[@]}"; do
    read -r core_version python_version <<< "${VERSIONS[$core]}"
    row="$(printf '%-6s %-13s %-8s' "$core" "$core_version" "$python_version")"
    for step in "${STEPS[@]}"; do
        case "${RESULT[$core/$step]}" in
            PASS*) passed=$((passed + 1)) ;;
            *) failed=$((failed + 1)) ;;
        esac
        row+="$(printf ' %-13s' "${RESULT[$core/$step]}")"
    done
    echo "$row ${RESULT[$core/total]}"
done
echo "matrix time: $((SECONDS - matrix_start)) s"
echo "matrix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
