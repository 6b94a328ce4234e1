"""Offline check of the built site's internal links: every local href and src of every HTML page must exist.

Usage: ``python docs/check_links.py docs/_build/html``.  External links (http, https, mailto) are not fetched: CI
has no internet.  Fragment identifiers (``page.html#section``) are checked against the ids of the target page.
Exits 1 and lists every broken link.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name == "name" and tag == "a":
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link")) or (name == "src" and tag in ("img", "script")):
                self.links.append(value)


def _parse(page: Path, cache: dict[Path, _Links]) -> _Links:
    if page not in cache:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        cache[page] = parser
    return cache[page]


def broken_links(site: Path) -> list[str]:
    """Every local link of the site whose target file (or fragment) does not exist, as 'page: link'."""
    cache: dict[Path, _Links] = {}
    problems = []
    for page in sorted(site.rglob("*.html")):
        for link in _parse(page, cache).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("//"):
                continue  # external: not checked offline
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{page.relative_to(site)}: {link} (no file)")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in _parse(target, cache).ids:
                problems.append(f"{page.relative_to(site)}: {link} (no id {parts.fragment!r})")
    return problems


def main() -> int:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    if not (site / "index.html").exists():
        print(f"no built site at {site}", file=sys.stderr)
        return 1
    problems = broken_links(site)
    pages = sum(1 for _ in site.rglob("*.html"))
    if problems:
        print(f"{len(problems)} broken internal link(s) in {pages} pages:\n  " + "\n  ".join(problems))
        return 1
    print(f"internal links: {pages} pages, all local links resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
