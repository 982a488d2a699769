# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How tests/docs_examples/run.py reads the documentation: kinds, markers, commands (the runs themselves are the
examples step)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("docs_examples_run", ROOT / "tests" / "docs_examples" / "run.py")
run = sys.modules[_SPEC.name] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(run)


def _block(lang, text):
    block = run.Block("page.rst:1", "page.rst", lang, text)
    run.classify(block)
    return block


def test_every_block_of_the_documentation_is_one_the_runner_can_run():
    blocks = run.collect()
    assert len(blocks) > 50
    for block in blocks:
        run.classify(block)  # raises for a block of a kind it cannot run
    kinds = set(block.kind for block in blocks)
    assert kinds >= {"tasks", "playbook", "inventory", "commands", "python", "rulebook", "profile", "variables", "file"}
    assert all(block.parse_only.split(":")[0] in ("Needs Azure", "Needs Windows", "Needs podman", "Runs elsewhere")
               for block in blocks if block.parse_only)


def test_kinds():
    assert _block("yaml", "- name: a task\n  ansible.builtin.debug:\n").kind == "tasks"
    assert _block("yaml", "- hosts: all\n  tasks: []\n").kind == "playbook"
    assert _block("yaml", "plugin: imds.azure.placement\n").kind == "inventory"
    assert _block("yaml", "x: \"{{ lookup('imds.azure.metadata', 'compute') }}\"\n").kind == "variables"
    assert _block("yaml", "compute:\n  name: db-07\n").kind == "profile"
    named = _block("ini", "# ansible.cfg\n[defaults]\nforks = 5\n")
    assert (named.kind, named.file) == ("file", "ansible.cfg")
    assert _block("yaml", "# ansible-pull on each VM (local.azure_placement.yml)\nplugin: imds.azure.placement\n").file == \
        "local.azure_placement.yml"
    for lang, text in (("yaml", "just: words\n"), ("ini", "[Unit]\nA=b\n"), ("powershell", "Get-Item .\n")):
        with pytest.raises(ValueError):
            _block(lang, text)


def test_markers():
    whole = _block("yaml", "# Needs Azure: a real Key Vault\n- name: read it\n  ansible.builtin.uri:\n    url: https://x\n")
    assert whole.parse_only == "Needs Azure: a real Key Vault"
    items = _block("yaml", "- name: runs\n  ansible.builtin.debug:\n\n# Needs Windows: cmd.exe\n- name: parsed\n  ansible.builtin.raw: dir\n")
    assert (items.parse_only, items.items_parse_only) == ("", [1])
    # the words must be exactly these: no other comment skips an example
    assert _block("yaml", "# needs azure later\n- name: runs\n  ansible.builtin.debug:\n").parse_only == ""
    assert _block("yaml", "# Needs a sunny day: no\n- name: runs\n  ansible.builtin.debug:\n").parse_only == ""


def test_commands():
    console = _block("console", "$ ip route get 169.254.169.254   # dev must be eth0\n> route print 169.254.169.254\n"
                                "some output\n$ ansible localhost -m ping \\\n    -e a=b  # fails: it should\n")
    assert console.data == [("ip route get 169.254.169.254   # dev must be eth0", "", False),
                            ("route print 169.254.169.254", "Windows command", False),
                            ("ansible localhost -m ping \\\n    -e a=b  # fails: it should", "", True)]
    shell = _block("sh", "# a comment\nmake demo\n# Needs podman: an engine\npodman push x\n")
    assert shell.data == [("make demo", "", False), ("podman push x", "Needs podman: an engine", False)]


def test_commented_inventory_configurations():
    text = ("plugin: imds.azure.placement\n\n# Redis:\n# plugin: imds.azure.placement\n# add_hosts: true\n"
            "# cache: true                   # keep it\n\n# plugin: imds.azure.placement\n# keyed_groups:\n#   - key: a\n")
    assert run._commented_configs(text) == ["plugin: imds.azure.placement\nadd_hosts: true\ncache: true\n",
                                            "plugin: imds.azure.placement\nkeyed_groups:\n  - key: a\n"]
