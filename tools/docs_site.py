# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's HTML documentation site: antsibull-docs' Sphinx setup, built offline and strictly.

    python tools/docs_site.py build DEST   # DEST/build/html/index.html; the collection must be on ANSIBLE_COLLECTIONS_PATH
    python tools/docs_site.py links HTML   # every internal link and anchor of the built site resolves

``build`` runs ``antsibull-docs sphinx-init`` into DEST and then the ``build.sh`` it wrote (``antsibull-docs
collection`` renders the plugin and role reference and the guides of docs/docsite/, ``sphinx-build -W
--keep-going`` with ``nitpicky`` builds the HTML), so a broken reference, an undefined label or a bad directive
fails the build. The generated configuration would download intersphinx inventories (Python, Jinja2, Ansible);
the build is offline, so conf.py gets one local inventory instead, written from ANSIBLE_DOCS_LABELS: the few
pages of Ansible's own documentation that the rendered reference links to. A new link into Ansible's docs
fails the build until it is added there.

``links`` reads every HTML page of the site and checks each link that stays inside the site (relative URLs):
the page exists and, for ``#fragment``, has an element with that id. External links are not followed (no network).
"""

from __future__ import annotations

import argparse
import html.parser
import os
import posixpath
import shutil
import subprocess
import sys
import urllib.parse
import zlib

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# (domain:role, name, page#anchor, title) of the pages of Ansible's documentation the rendered reference links to.
ANSIBLE_DOCS_LABELS = [
    ("std:label", "action_plugins", "plugins/action.html#action-plugins", "Action plugins"),
    ("std:label", "common_return_values", "reference_appendices/common_return_values.html#common-return-values", "Return Values"),
    ("std:label", "ansible_configuration_settings", "reference_appendices/config.html#ansible-configuration-settings",
     "Ansible Configuration Settings"),
] + [
    ("std:label", "ansible_collections.%s.%s_module" % (collection, module),
     "collections/%s/%s_module.html#ansible-collections-%s-%s-module" % (
         collection.replace(".", "/"), module, collection.replace(".", "-"), module.replace("_", "-")),
     "%s.%s module" % (collection, module))
    for collection, module in (("ansible.builtin", "setup"), ("ansible.builtin", "uri"), ("ansible.windows", "win_reboot"),
                               ("ansible.windows", "win_route"))
] + [
    ("std:envvar", name, "reference_appendices/config.html#envvar-%s" % name, name)
    for name in ("ANSIBLE_CACHE_PLUGIN", "ANSIBLE_CACHE_PLUGIN_CONNECTION", "ANSIBLE_CACHE_PLUGIN_PREFIX", "ANSIBLE_CACHE_PLUGIN_TIMEOUT")
]

CONF_OVERRIDES = """
# --- imds.azure (tools/docs_site.py): offline and strict
project = 'imds.azure'
copyright = 'imds.azure contributors'
title = html_short_title = 'imds.azure documentation'
intersphinx_mapping = {'ansible_devel': (%r, '../ansible_devel.inv')}
nitpicky = True
# The logo links to the published site (galaxy.yml's documentation), not to "/" of whatever host serves the pages;
# nothing is loaded from elsewhere.
html_theme_options = {'documentation_home_url': %r, 'show_extranav': False, 'show_rtd_ethical_ads': False}
"""


def _write_inventory(path):
    """A Sphinx objects.inv (version 2) holding ANSIBLE_DOCS_LABELS."""
    lines = "".join("%s %s -1 %s %s\n" % (name, role, uri, title) for role, name, uri, title in ANSIBLE_DOCS_LABELS)
    with open(path, "wb") as handle:
        handle.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
                     b"# The remainder of this file is compressed using zlib.\n")
        handle.write(zlib.compress(lines.encode("utf-8")))


def build(dest):
    """Build the site into ``dest`` (recreated); returns the HTML directory."""
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest, mode=0o700)  # antsibull-docs wants a directory only its owner can write
    subprocess.run(["antsibull-docs", "sphinx-init", "--use-current", "--squash-hierarchy", "--fail-on-error",
                    "--no-add-antsibull-docs-version", "--dest-dir", dest, "imds.azure"], check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as galaxy:
        published = yaml.safe_load(galaxy)["documentation"]
    with open(os.path.join(dest, "conf.py"), "a", encoding="utf-8") as conf:
        conf.write(CONF_OVERRIDES % (ANSIBLE_DOCS, published))
    _write_inventory(os.path.join(dest, "ansible_devel.inv"))
    subprocess.run(["bash", os.path.join(dest, "build.sh")], check=True)
    return os.path.join(dest, "build", "html")


class _Page(html.parser.HTMLParser):
    """The ids and the links (href and src) of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])


def parse_page(path):
    page = _Page()
    with open(path, encoding="utf-8") as handle:
        page.feed(handle.read())
    return page


def dead_links(html_dir, pages=None):
    """``["page: link (why)", ...]`` for every internal link of the site (or of ``pages``, paths relative to
    ``html_dir``) that does not resolve. Links with a scheme or a host, mailto: and javascript: are external."""
    html_dir = os.path.abspath(html_dir)
    parsed = {}

    def page_at(relative):
        if relative not in parsed:
            parsed[relative] = parse_page(os.path.join(html_dir, relative))
        return parsed[relative]

    if pages is None:
        pages = sorted(os.path.relpath(os.path.join(root, name), html_dir) for root, _dirs, names in os.walk(html_dir)
                       for name in names if name.endswith(".html"))
    dead = []
    for relative in pages:
        for link in page_at(relative).links:
            url = urllib.parse.urlsplit(link)
            if url.scheme or url.netloc:
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(relative), urllib.parse.unquote(url.path))) if url.path else relative
            if target.startswith("../") or not os.path.isfile(os.path.join(html_dir, target)):
                dead.append("%s: %s (no such file in the site)" % (relative, link))
            elif url.fragment and target.endswith(".html") and urllib.parse.unquote(url.fragment) not in page_at(target).ids:
                dead.append("%s: %s (%s has no id %r)" % (relative, link, target, url.fragment))
    return dead


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the HTML site into DEST").add_argument("dest")
    commands.add_parser("links", help="check the internal links of a built site").add_argument("html")
    args = parser.parse_args(argv)
    if args.command == "build":
        print("docs site: %s" % os.path.join(build(os.path.abspath(args.dest)), "index.html"))
        return 0
    dead = dead_links(args.html)
    for line in dead:
        print("dead link: %s" % line)
    print("docs site links: %d dead" % len(dead))
    return 1 if dead else 0


if __name__ == "__main__":
    sys.exit(main())
