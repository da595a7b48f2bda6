"""The front door and the docs: the README stays a front door, and every relative link in it and in
`docs/` resolves to a file of the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    links = [target.split("#")[0] for target in LINK.findall(page.read_text(encoding="utf-8"))]
    return [link for link in links if link and "://" not in link and not link.startswith("mailto:")]


def test_the_readme_is_a_front_door_of_at_most_200_lines():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    missing = [link for link in relative_links(page) if not (page.parent / link).exists()]
    assert missing == [], f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_the_docs_are_linked_from_the_readme():
    linked = {(ROOT / link).resolve() for link in relative_links(ROOT / "README.md")}
    pages = {page.resolve() for page in PAGES if page.parent.name == "docs"}
    assert pages - linked == set()
