"""The README and docs/ link only to files inside the repository, and every such file exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)|<(https?://[^>\s]+)>")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_stays_inside_the_repository_and_resolves(page: Path) -> None:
    for match in LINK.finditer(page.read_text()):
        target = match.group(1) or match.group(2)
        if target.startswith(("http://127.0.0.1", "http://localhost")):
            continue  # the walkthrough's local servers
        assert "://" not in target, f"{page.name} links outside the repository: {target}"
        resolved = (page.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name}: {target} leaves the repository"
        assert resolved.exists(), f"{page.name}: {target} does not exist"


def test_the_domain_and_the_contract_are_documented_in_the_repository() -> None:
    readme = (ROOT / "README.md").read_text()

    assert "(docs/domain.md)" in readme and "(docs/contract.md)" in readme
    assert "R1 " in (ROOT / "docs" / "domain.md").read_text()
    assert "lti-bridge events send" in (ROOT / "docs" / "contract.md").read_text()
