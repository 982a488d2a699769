# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built HTML documentation site (tools/docs_site.py) in a real headless browser.

Run by the docs step after the build, inside a network namespace of its own (tools/run-in-netns.sh), so the
browser reaches nothing but the files: ``DOCS_SITE`` names the site's directory (``build/html`` below it),
``DOCS_SITE_SCREENSHOT`` where the quick start's screenshot goes.

The browser is Debian's Chromium, driven through the DevTools protocol that Chromium itself serves
(``--remote-debugging-port``, a websocket): one browser process loads every page, runs its scripts and
answers questions about the rendered DOM; ``--dump-dom`` would start a browser per page, and WebDriver
(chromium-driver plus a client) or Playwright would add a server or Node.js for the same calls.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from websockets.sync.client import connect

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools import docs_site  # noqa: E402  pylint: disable=wrong-import-position

SITE = pathlib.Path(os.environ.get("DOCS_SITE", ROOT / ".build" / "docs-site"))
HTML = SITE / "build" / "html"
SCREENSHOT = pathlib.Path(os.environ.get("DOCS_SITE_SCREENSHOT", SITE / "quickstart.png"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--remote-debugging-port=0", "--window-size=1280,1000"]
# What the page shows, as the browser rendered it: headings, text, tables, links (resolved by the browser) and ids.
_PAGE_FACTS = """(() => {
  const main = document.querySelector('[role=main]') || document.body;
  return {url: document.URL, title: document.title, h1: (main.querySelector('h1') || {innerText: ''}).innerText.replace(/[\\u00b6\\uf0c1]/g, '').trim(),
          text: main.innerText, tables: main.querySelectorAll('table').length,
          nav: Array.from(document.querySelectorAll('.wy-menu-vertical a')).map(a => a.innerText.trim()),
          links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
          ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
            .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name))};
})()"""


class Browser(object):
    """Headless Chromium and one page of it, over the DevTools protocol."""

    def __init__(self):
        chromium = shutil.which("chromium")
        if chromium is None:
            pytest.fail("chromium not found: the docs site test needs it (Debian package chromium; make test installs "
                        "tools/harness/system-packages.txt)")
        self.profile = tempfile.mkdtemp(prefix="imds-docs-chromium-")  # a fresh --user-data-dir
        self.process = subprocess.Popen([chromium] + CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile, "about:blank"],  # pylint: disable=consider-using-with
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = pathlib.Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) == 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail("chromium did not start its DevTools server (exit code %s)" % self.process.poll())
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port, timeout=10) as answer:
            page = [target for target in json.load(answer) if target["type"] == "page"][0]
        self.socket = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError("%s: %s" % (method, message["error"]))
                return message["result"]
            self.events.append(message.get("method"))

    def open(self, url):
        """Load ``url`` (scripts run, load event fired) and return what _PAGE_FACTS says about it."""
        del self.events[:]
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while "Page.loadEventFired" not in self.events:
            assert time.monotonic() < deadline, "%s did not load within 60 s" % url
            self.events.append(json.loads(self.socket.recv(timeout=60)).get("method"))
        result = self.call("Runtime.evaluate", expression=_PAGE_FACTS, returnByValue=True)
        return result["result"]["value"]

    def screenshot(self, path):
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def close(self):
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").is_file():
        pytest.fail("no docs site at %s: build it first (make docs, or tools/harness/run.sh site)" % HTML)
    chromium = Browser()
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def rendered(browser):
    """url -> page facts, for the index, every guide and every plugin and role page, loaded once each."""
    guides = [name for section in yaml.safe_load((ROOT / "docs" / "docsite" / "extra-docs.yml").read_text())["sections"]
              for name in section["toctree"]]
    pages = ["index.html"] + ["docsite/%s.html" % name for name in guides] + sorted(
        path.name for path in HTML.glob("*_*.html") if path.name != "environment_variables.html")
    return dict((page, browser.open((HTML / page).as_uri())) for page in pages), guides


def test_every_internal_link_of_the_site_resolves():
    assert (HTML / "index.html").is_file(), "no docs site at %s" % HTML
    assert docs_site.dead_links(HTML) == []


def test_the_link_check_finds_dead_links(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.html").write_text('<h1 id="top">A</h1><a href="sub/b.html#here">b</a><a href="https://example.com/x">out</a>'
                                     '<img src="_static/logo.png"><a href="#top">top</a>')
    (tmp_path / "sub" / "b.html").write_text('<p id="there"></p><a href="../a.html#nowhere">a</a><a href="../../outside.html">x</a>')
    assert docs_site.dead_links(tmp_path) == [
        "a.html: sub/b.html#here (sub/b.html has no id 'here')",
        "a.html: _static/logo.png (no such file in the site)",
        "sub/b.html: ../a.html#nowhere (a.html has no id 'nowhere')",
        "sub/b.html: ../../outside.html (no such file in the site)"]


def _title(rst):
    """The page title of a guide: the text above the first ==== line, inline markup removed."""
    lines = rst.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if re.match(r"^=+$", line) and i > 0 and lines[i - 1].strip())
    return re.sub(r"``|\*\*", "", lines[index - 1]).replace("'", "\u2019")


def test_guides_render(rendered):
    pages, guides = rendered
    for name in guides:
        page = pages["docsite/%s.html" % name]
        assert page["h1"] == _title(ROOT / "docs" / "docsite" / "rst" / ("%s.rst" % name)), page["url"]
        assert len(page["text"]) > 1500, (page["url"], page["text"][:200])
        # reStructuredText that did not render would show its markup as text
        assert not re.search(r":ref:`|\.\. code::|``\w", page["text"]), page["url"]
    # every guide is in the navigation of every page
    assert set(pages["index.html"]["nav"]) >= set(_title(ROOT / "docs" / "docsite" / "rst" / ("%s.rst" % name)) for name in guides)


def test_plugin_reference_renders(rendered):
    pages, _guides = rendered
    reference = dict((name, page) for name, page in pages.items() if "/" not in name and name != "index.html")
    assert set(reference) >= {"metadata_facts_module.html", "scheduled_events_module.html", "metadata_route_module.html",
                              "metadata_lookup.html", "token_lookup.html", "placement_inventory.html", "spread_filter.html",
                              "route_role.html"}
    for name, page in reference.items():
        kind = name[:-len(".html")].rsplit("_", 1)[1]
        assert re.match(r"imds\.azure\.\w+ %s – \w" % kind, page["h1"]), (name, page["h1"])
        assert page["tables"] > 0 or "parameter-" in " ".join(page["ids"]), name
        assert len(page["text"]) > 1500 and (kind == "role" or "Examples" in page["text"]), name
    facts = pages["metadata_facts_module.html"]
    assert "gather_subset" in facts["text"] and "ansible_facts.azure_imds" in facts["text"]


def test_internal_links_resolve_in_the_browser(rendered, browser):
    """Every link from a rendered page to another page of the site loads that page and finds its anchor."""
    pages, _guides = rendered
    site = HTML.as_uri() + "/"
    wanted = {}
    for page in pages.values():
        for link in page["links"]:
            url = urllib.parse.urlsplit(link)
            if link.startswith(site) and url.path.endswith(".html"):
                wanted.setdefault(urllib.parse.urlunsplit(url._replace(fragment="")), set()).add(urllib.parse.unquote(url.fragment))
    assert len(wanted) > 15
    dead = []
    for target, fragments in sorted(wanted.items()):
        relative = target[len(site):]
        page = pages.get(relative) or browser.open(target)
        if not page["h1"] or page["url"].startswith("chrome-error:"):
            dead.append(target)
            continue
        dead.extend("%s#%s" % (target, fragment) for fragment in sorted(fragments) if fragment and fragment not in page["ids"])
    assert not dead, "links that do not resolve: %s" % dead


def test_quickstart_screenshot(browser):
    browser.open((HTML / "docsite" / "quickstart.html").as_uri())
    data = browser.screenshot(SCREENSHOT)
    assert data.startswith(b"\x89PNG") and len(data) > 20000, len(data)
