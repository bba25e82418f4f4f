"""The built docs site loads nothing from another host: ``python -m tests.site_assets site``.

``make docs`` runs it after ``mkdocs build``. An external asset is a URL with a host
(``https://...``, ``//...``) that a page or a stylesheet makes the browser fetch: a
``<link>`` (stylesheets, fonts, preconnect), ``<script src>``, an image or frame source,
or a CSS ``url()`` / ``@import``. Links a reader may follow (``<a href>``) are not assets.

NOTE - mkdocs-material's JavaScript also names two URLs on a CDN that it loads only on
demand: a ResizeObserver polyfill for browsers without one, and mermaid for pages with
mermaid diagrams (these docs have none). Both sit inside the theme's bundle, not in a
page, so they are not reported here.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

#: Attributes by which an element makes the browser fetch something.
FETCHING = {
    "link": ("href",),
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
_EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.IGNORECASE | re.DOTALL)


def is_external(url: str) -> bool:
    """Whether ``url`` names another host (``data:`` and relative URLs do not)."""
    return bool(_EXTERNAL.match(url))


def css_externals(css: str) -> list[str]:
    """External URLs in ``url()`` and ``@import`` of a stylesheet or ``style`` attribute."""
    found = []
    for match in _CSS_URL.finditer(css):
        url = match.group(2) if match.group(2) is not None else match.group(4)
        if is_external(url):
            found.append(url)
    return found


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in FETCHING.get(tag, ()):
            value = values.get(name) or ""
            urls = (
                [part.split()[0] for part in value.split(",") if part.strip()]
                if name == "srcset"
                else [value]
            )
            self.found += [f"<{tag} {name}={url}>" for url in urls if is_external(url)]
        self.found += [f"<{tag} style> {url}" for url in css_externals(values.get("style") or "")]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [f"<style> {url}" for url in css_externals(data)]


def html_externals(html: str) -> list[str]:
    """External assets a page makes the browser fetch."""
    page = _Page()
    page.feed(html)
    return page.found


def site_externals(site: Path) -> list[str]:
    """``"path: asset"`` for every external asset of the built site in ``site``."""
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            assets = html_externals(path.read_text(errors="replace"))
        elif path.suffix == ".css":
            assets = css_externals(path.read_text(errors="replace"))
        else:
            continue
        found += [f"{path.relative_to(site)}: {asset}" for asset in assets]
    return found


def main(argv: list[str]) -> int:
    """Print each external asset of the site in ``argv[0]``; exit 1 if there is any."""
    site = Path(argv[0] if argv else "site")
    pages = list(site.rglob("*.html"))
    if not pages:
        print(f"{site}: no built pages; run mkdocs build first", file=sys.stderr)
        return 2
    found = site_externals(site)
    for line in found:
        print(line, file=sys.stderr)
    if found:
        print(f"{len(found)} external asset(s) in {site}: serve them from the site", file=sys.stderr)
        return 1
    print(f"{site}: {len(pages)} pages, no external assets")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
