# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""make demo's placement report: the tag groups' hosts line up in a terminal, whatever the script of the tag names."""

from __future__ import annotations

from tools import demo


def test_tag_table_aligns_wide_characters(capsys):
    groups = {
        "azure_tag_owner_张伟": ["web-01"],
        "azure_tag_ville_Zürich___東京": ["weird-01"],
        "azure_tag_owner_Zoë_Åström": ["api-02", "web-07"],
        "azure_tag_role_web": ["web-01", "web-07"],
    }
    inventory = {name: {"hosts": hosts} for name, hosts in groups.items()}
    inventory["azure_tags"] = {"children": ["azure_tag_owner", "azure_tag_ville", "azure_tag_role"]}
    inventory["_meta"] = {"hostvars": {}}
    demo._report(inventory)  # pylint: disable=protected-access
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  azure_tag_")]
    assert len(lines) == 4
    # the column (in terminal cells) where each line's host list starts
    starts = {demo._width(line[:line.index(groups[line.split()[0]][0])]) for line in lines}  # pylint: disable=protected-access
    assert len(starts) == 1, lines
    assert demo._width("张伟") == 4 and demo._width("Zoë") == 3 and demo._width("e\u0301") == 1  # pylint: disable=protected-access
