# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every message docs/docsite/rst/troubleshooting.rst quotes still exists in the code.

The page quotes each message as a definition-list term (a line that starts and ends with two
backquotes, then its explanation indented by three spaces), with run-time parts in angle brackets.
A message is found when its words, between the run-time parts, are the words of string literals
of plugins/, extensions/, roles/ or examples/ in order: a literal's format specifiers (%s, {name}) may sit
between two runs of words, so a message the code builds from several pieces is found too, but
every run must be at least two words of one literal (or a whole literal), so a reworded message
is not. Messages the page marks "From ansible-core" are ansible-core's and are not checked.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "docsite" / "rst" / "troubleshooting.rst"

_SPEC = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfix]|\{[^{}]*\}")
_RUN_TIME = re.compile(r"<[^>]*>|\.\.\.|\b\d+\b")  # placeholders, elisions, and numbers the code formats
_TERM = re.compile(r"(?m)^``(.+)``\n   (\S.*)")
_MESSAGES = re.compile(r"``(?: / |, | or )``")
_LONGEST_RUN = 60


def _words(text):
    # A plural "s" the code adds with a specifier ("item%s") must not count as another word.
    return tuple(word[:-1] if len(word) > 3 and word.endswith("s") else word for word in re.findall(r"\w+", text))


def _code_literals():
    for path in sorted(ROOT.joinpath("plugins").rglob("*.py")) + sorted(ROOT.joinpath("extensions").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                yield from _SPEC.split(node.value)
            elif isinstance(node, ast.JoinedStr):
                for value in node.values:
                    if isinstance(value, ast.Constant):
                        yield value.value
    for path in sorted(ROOT.joinpath("roles").rglob("*.yml")) + sorted(ROOT.joinpath("examples").rglob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            yield from re.split(r"\{\{.*?\}\}", line)


class Corpus(object):
    """The word runs of the code's string literals."""

    def __init__(self, literals):
        self.runs, self.whole = set(), set()
        for literal in literals:
            words = _words(literal)
            self.whole.add(words)
            for start in range(len(words)):
                for end in range(start + 1, min(len(words), start + _LONGEST_RUN) + 1):
                    self.runs.add(words[start:end])

    def missing(self, message):
        """The words of ``message`` no literal holds (None when it is found)."""
        for fragment in _RUN_TIME.split(message):
            words, start = _words(fragment), 0
            while start < len(words):
                end = max((end for end in range(start + 1, len(words) + 1) if words[start:end] in self.runs), default=start)
                if end == start or (end - start < 2 and end < len(words) and words[start:end] not in self.whole):
                    return " ".join(words[start:start + 6])
                start = end
        return None


def _quoted_messages():
    for term, explanation in _TERM.findall(PAGE.read_text(encoding="utf-8")):
        if not explanation.startswith("From ansible-core"):
            yield from _MESSAGES.split(term)


# Built when the module is imported: ansible-test runs every test in a fork of its worker
# (its ansible_forked plugin), so a fixture of any scope would be built again for each of the
# ~170 tests (about 2 s of CPU each), while what the worker built at import is inherited.
_CORPUS = Corpus(_code_literals())


@pytest.fixture
def corpus():
    return _CORPUS


def test_the_page_quotes_messages():
    assert len(list(_quoted_messages())) > 100


@pytest.mark.parametrize("message", sorted(set(_quoted_messages())))
def test_every_quoted_message_exists_in_the_code(corpus, message):
    assert corpus.missing(message) is None, "troubleshooting.rst quotes %r, but the code no longer says %r" % (message, corpus.missing(message))


@pytest.mark.parametrize("message", [
    "IMDS <method> <path> failed: the connection was ended without a complete answer (<reason>)",  # a word changed
    "gather_subset: unknown subset '<entry>'; accepted subsets are listed below",                     # reworded
    "the endpoint was refused by policy",                                                              # not in the code
])
def test_a_message_the_code_does_not_say_is_found_missing(corpus, message):
    assert corpus.missing(message) is not None
