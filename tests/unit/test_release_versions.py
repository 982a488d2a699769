# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's version, its changelog and the versions its documentation names agree.

galaxy.yml carries the version being developed: once a release is in changelogs/changelog.yaml,
galaxy.yml moves to the next one, or ``antsibull-changelog release`` would fold the unreleased
fragments into the release that is already out (its notes would then speak of "earlier versions").
Every version a plugin or a guide names as the one where something appeared (``version_added``,
"since X.Y.Z") is a release or the version being developed, never a later one.
"""

from __future__ import annotations

import pathlib
import re

import yaml

from ansible.module_utils.compat.version import LooseVersion

ROOT = pathlib.Path(__file__).resolve().parents[2]
_VERSION_ADDED = re.compile(r"\bversion_added:\s*['\"]?(\d+\.\d+\.\d+)")
_SINCE = re.compile(r"\bsince (?:version )?(\d+\.\d+\.\d+)")


def _galaxy_version():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"]


def _released():
    changelog = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
    return sorted(changelog.get("releases") or {}, key=LooseVersion)


def _fragments():
    return sorted(path.name for path in (ROOT / "changelogs" / "fragments").iterdir() if path.suffix in (".yml", ".yaml"))


def _named_versions():
    """(file, version) for every version_added of the plugins and the role, and every "since X.Y.Z" of the docs."""
    sources = [(path, _VERSION_ADDED) for folder in ("plugins", "extensions", "roles")
               for path in sorted((ROOT / folder).rglob("*")) if path.suffix in (".py", ".yml", ".yaml")]
    sources += [(path, _SINCE) for path in sorted((ROOT / "docs" / "docsite").rglob("*.rst")) + [ROOT / "README.md"]]
    for path, pattern in sources:
        for version in pattern.findall(path.read_text(encoding="utf-8")):
            yield path.relative_to(ROOT).as_posix(), version


def test_unreleased_changes_go_to_a_new_version():
    version, released = _galaxy_version(), _released()
    if _fragments():
        assert version not in released, (
            "galaxy.yml says %s, which is released already, and changelogs/fragments holds unreleased changes (%s): "
            "set galaxy.yml's version to the next release" % (version, ", ".join(_fragments())))
    assert not released or LooseVersion(version) >= LooseVersion(released[-1]), (version, released)


def test_named_versions_are_released_or_in_development():
    version, released = _galaxy_version(), set(_released())
    wrong = ["%s: %s" % (path, named) for path, named in _named_versions() if named not in released and named != version]
    assert not wrong, "versions that are neither released (%s) nor galaxy.yml's %s: %s" % (sorted(released), version, wrong)
