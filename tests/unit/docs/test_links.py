"""Every relative link in README.md and the roles' READMEs names a file that exists,
and the docsite lists exactly the guides it has (docs/docsite/extra-docs.yml)."""

from __future__ import annotations

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
READMES = [ROOT / "README.md", *sorted(ROOT.glob("roles/*/README.md"))]
DOCSITE = ROOT / "docs" / "docsite"
# [text](target) and [text](target "title"); images too. Code spans are dropped first.
LINK = re.compile(r"\[[^\]]*\]\(\s*(?:<([^>]*)>|([^)\s]+))(?:\s+\"[^\"]*\")?\s*\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
OUTSIDE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # https:, mailto:, //host


def relative_links(text):
    """The relative link targets of a Markdown text, without their #fragment."""
    targets = []
    for bracketed, bare in LINK.findall(CODE.sub("", text)):
        target = bracketed or bare
        if OUTSIDE.match(target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[a](docs/x.rst) and [b](../y.md#part)", ["docs/x.rst", "../y.md"]),
        ('[a](<docs/x y.rst>) [t](z.md "title")', ["docs/x y.rst", "z.md"]),
        ("[web](https://example.org/a) [m](mailto:x@example.org) [here](#anchor)", []),
        ("`[not](a-link.md)` and\n```\n[nor](this.md)\n```\n[yes](that.md)", ["that.md"]),
    ],
)
def test_relative_links_are_found(text, expected):
    assert relative_links(text) == expected


@pytest.mark.parametrize("readme", READMES, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(readme):
    text = readme.read_text(encoding="utf-8")
    missing = [target for target in relative_links(text) if not (readme.parent / target).exists()]
    assert not missing, f"{readme.relative_to(ROOT)} links to what does not exist: {missing}"


def test_readme_links_to_every_guide():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {pathlib.PurePosixPath(target).name for target in relative_links(text)}
    guides = {path.name for path in (DOCSITE / "rst").glob("*.rst")}
    assert guides - linked == set()


def test_extra_docs_lists_every_guide_once():
    sections = yaml.safe_load((DOCSITE / "extra-docs.yml").read_text(encoding="utf-8"))["sections"]
    listed = [name for section in sections for name in section["toctree"]]
    on_disk = sorted(path.stem for path in (DOCSITE / "rst").glob("*.rst"))
    assert sorted(listed) == on_disk
    assert len(listed) == len(set(listed))
