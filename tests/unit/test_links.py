"""Every link in the project's Markdown goes somewhere: the file exists, the anchor is a heading.

The README was split (its deep end went to ``docs/``): a link to a section
that moved, or to a file that was renamed, fails here rather than in front
of a reader.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# [text](target) and ![alt](target); the target has no spaces.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
EXPLICIT_ANCHOR = re.compile(r"<a (?:id|name)=\"([^\"]+)\"")


def markdown_files() -> list[Path]:
    """Return the Markdown files of the repository (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [ROOT / name for name in listed.stdout.split()]


def outside_fences(text: str) -> Iterator[str]:
    """Yield the lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            yield line


def prose(text: str) -> Iterator[str]:
    """Yield the lines outside fenced code blocks, with inline code spans blanked."""
    for line in outside_fences(text):
        yield re.sub(r"`[^`]*`", "``", line)


def slug(heading: str) -> str:
    """Return the anchor GitHub gives a heading: lower case, punctuation gone, '-' for spaces."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Return every anchor of a Markdown file (repeated headings get -1, -2 ...)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in outside_fences(path.read_text()):
        found.update(EXPLICIT_ANCHOR.findall(line))
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> Iterator[str]:
    """Yield the targets of the file's links that stay in the repository."""
    for line in prose(path.read_text()):
        for target in LINK.findall(line):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target):
                yield target


def broken(path: Path) -> list[str]:
    """Return the links of ``path`` whose file or anchor does not exist."""
    problems = []
    for target in links(path):
        name, _, fragment = target.partition("#")
        goal = (path.parent / name).resolve() if name else path
        if not goal.exists():
            problems.append(f"{target}: no such file")
        elif fragment and goal.suffix == ".md" and fragment not in anchors(goal):
            problems.append(f"{target}: no such heading in {goal.name}")
    return problems


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_in_the_markdown_resolves(path: Path) -> None:
    """Each relative link names an existing file, and each anchor a heading of it."""
    assert broken(path) == []


def test_the_checker_sees_a_broken_link(tmp_path: Path) -> None:
    """A missing file, a missing heading and a renamed one are caught; good links pass."""
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with words\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Same\n\n## Same\n\n"
        "[ok](#same-1) [ok](other.md#a-code-heading-with-words) [ok](https://example.com/#x)\n"
        "`[in code](#nowhere)`\n\n```\n[fenced](#nowhere)\n```\n"
        "[gone](missing.md) [no heading](#nowhere) [renamed](other.md#other)\n"
    )
    assert broken(page) == [
        "missing.md: no such file",
        "#nowhere: no such heading in page.md",
        "other.md#other: no such heading in other.md",
    ]
