# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Line and branch coverage of plugins/, per file and in total, from ansible-test's combined data.

    python tools/harness/coverage_report.py DATA ROOT OUT.json

DATA is the file ``ansible-test coverage combine`` writes (tests/output/coverage/coverage; ansible-test
records branches), ROOT the copy of the tree it measured. Every Python file under ROOT/plugins is
reported, the ones no test imported at 0 %. Line % and branch % are printed apart (coverage.py's own
report blends them into one figure); OUT.json holds the same numbers, keyed by path under ROOT.
"""

from __future__ import annotations

import json
import os
import sys

import coverage


def percent(covered, total):
    return 100.0 * covered / total if total else 100.0


def main(data_file, root, out):
    data_file, out = os.path.abspath(data_file), os.path.abspath(out)
    os.chdir(root)  # json_report names files relative to the working directory
    sources = sorted(
        os.path.join(folder, name)
        for folder, _dirs, names in os.walk("plugins")
        for name in names if name.endswith(".py")
    )
    cov = coverage.Coverage(data_file=data_file, config_file=False, branch=True)
    cov.load()
    # json_report also analyses the files no test imported (all their lines and branches missed).
    report_file = out + ".raw"
    cov.json_report(morfs=sources, outfile=report_file, ignore_errors=True)
    with open(report_file) as raw:
        files = json.load(raw)["files"]
    os.remove(report_file)

    rows, totals = {}, dict.fromkeys(("lines", "lines_covered", "branches", "branches_covered"), 0)
    for path in sources:
        summary = files.get(path, {}).get("summary")
        if summary is None:
            continue  # no statements at all (an empty __init__.py)
        row = {
            "lines": summary["num_statements"],
            "lines_covered": summary["covered_lines"],
            "branches": summary["num_branches"],
            "branches_covered": summary["covered_branches"],
        }
        row["line_percent"] = round(percent(row["lines_covered"], row["lines"]), 2)
        row["branch_percent"] = round(percent(row["branches_covered"], row["branches"]), 2)
        rows[path] = row
        for key in totals:
            totals[key] += row[key]
    totals["line_percent"] = round(percent(totals["lines_covered"], totals["lines"]), 2)
    totals["branch_percent"] = round(percent(totals["branches_covered"], totals["branches"]), 2)

    with open(out, "w") as handle:
        json.dump({"files": rows, "total": totals}, handle, indent=1, sort_keys=True)
        handle.write("\n")

    width = max(len(path) for path in rows)
    print("{0:<{w}} {1:>7} {2:>7} {3:>8} {4:>8}".format("file", "lines", "line%", "branches", "branch%", w=width))
    for path, row in list(rows.items()) + [("TOTAL", totals)]:
        print("{0:<{w}} {lines:7d} {line_percent:6.1f}% {branches:8d} {branch_percent:7.1f}%".format(path, w=width, **row))
    print("written: %s" % out)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
