# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two rules of the code's layout (issue 25), read from the sources with ``ast``.

- Every name imported from one of the collection's modules is defined there, never passed on from
  another module (so a reader finds it where the import says).
- Every error the collection raises derives from ``_errors.ImdsAzureError``, whose ``kind`` is the
  ``imds_error`` keyword: there is one root and one way to read the keyword.
"""

from __future__ import annotations

import ast
import functools
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = "ansible_collections.imds.azure."
SOURCES = [path for folder in ("plugins", "extensions", "tests", "bench") for path in sorted((ROOT / folder).rglob("*.py"))]
# Exceptions that never reach a user, each converted where it is caught: the transport contract's errors
# (the client turns them into ImdsError), an AnsibleError for ansible-core's inventory, and the private ones.
NOT_REPORTED = {"TransportError", "FactCacheError", "AiaFetchError"}


@functools.lru_cache(maxsize=None)
def _tree(path):
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _top_level(body):
    """The statements of ``body``, with those of its top-level ``try`` and ``if`` (a fallback such as ``fcntl = None``)."""
    for node in body:
        yield node
        if isinstance(node, (ast.Try, ast.If)):
            for block in (node.body, node.orelse, getattr(node, "finalbody", []), *[h.body for h in getattr(node, "handlers", [])]):
                yield from _top_level(block)


@functools.lru_cache(maxsize=None)
def _defined(path):
    """The names ``path`` defines at its top level (functions, classes, assignments)."""
    names = set()
    for node in _top_level(_tree(path).body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(name.id for name in ast.walk(target) if isinstance(name, ast.Name))
    return names


def test_every_name_is_imported_from_the_module_that_defines_it():
    """``from <module> import name``, and ``<module>.name`` after ``from <package> import <module>`` where another
    module of module_utils defines ``name`` (a module's own imports, such as ``sys``, are its business)."""
    module_utils = sorted((ROOT / "plugins" / "module_utils").glob("*.py"))
    elsewhere = dict((path, set().union(*[_defined(other) for other in module_utils if other != path])) for path in module_utils)
    wrong = []
    for path in SOURCES:
        modules = {}
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE + "plugins."):
                source = ROOT.joinpath(*node.module[len(PACKAGE):].split("."))
                for alias in node.names:
                    if source.with_suffix(".py").is_file() and alias.name not in _defined(source.with_suffix(".py")):
                        wrong.append("%s:%d imports %s from %s" % (path.relative_to(ROOT), node.lineno, alias.name, node.module))
                    elif (source / (alias.name + ".py")).is_file():
                        modules[alias.asname or alias.name] = source / (alias.name + ".py")
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                source = modules[node.value.id]
                if node.attr in elsewhere.get(source, ()) and node.attr not in _defined(source):
                    wrong.append("%s:%d reads %s from %s" % (path.relative_to(ROOT), node.lineno, node.attr, source.relative_to(ROOT)))
    assert not wrong, "\n".join(wrong)


def test_every_error_of_the_collection_has_one_root():
    classes = {}
    for path in SOURCES:
        if path.parts[len(ROOT.parts)] not in ("plugins", "extensions"):
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = (path, [base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                                             for base in node.bases])

    def chain(name):
        """``name`` and its first bases up to the first that is not the collection's."""
        names = [name]
        while name in classes and name != "ImdsAzureError":
            name = classes[name][1][0] if classes[name][1] else ""
            names.append(name)
        return names

    errors = [name for name in classes if name.endswith(("Error", "Failure", "Timeout")) and not name.startswith("_")]
    assert "ImdsAzureError" in errors and len(errors) > 10, errors
    wrong = ["%s (%s) derives from %s" % (name, classes[name][0].relative_to(ROOT), chain(name)[-1])
             for name in errors if not NOT_REPORTED & set(chain(name)) and chain(name)[-1] != "ImdsAzureError"]
    assert not wrong, "\n".join(wrong)
    assert not any("getattr(exc, \"kind\"" in path.read_text(encoding="utf-8") for path in SOURCES if "plugins" in path.parts)
