"""What an instructor may place through deep linking."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from lti_bridge.domain.errors import ValidationError
from lti_bridge.domain.model import LinkAccess

_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


@dataclass(frozen=True)
class PlacedItem:
    """A resource link to create in the platform, with the custom parameters the tool reads."""

    title: str
    item: str
    access: LinkAccess
    content_url: str | None = None

    def custom_parameters(self) -> dict[str, str]:
        custom = {"item": self.item, "access": self.access.value}
        if self.content_url:
            custom["content_url"] = self.content_url
        return custom


def place_item(title: str, item: str, access: str, content_url: str = "") -> PlacedItem:
    """Check the picker's fields and return the item to place; every bad field is named."""
    problems: dict[str, str] = {}
    title = title.strip()
    item = item.strip()
    content_url = content_url.strip()
    if not title:
        problems["title"] = "Give the item a title."
    elif len(title) > 255:
        problems["title"] = "Keep the title under 256 characters."
    if not _ITEM_ID.match(item):
        problems["item"] = (
            "The item id is 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a "
            "letter or digit."
        )
    try:
        access_value = LinkAccess(access)
    except ValueError:
        problems["access"] = "Choose open or for-credit."
        access_value = LinkAccess.OPEN
    if content_url:
        parts = urlsplit(content_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            problems["content_url"] = "The content URL must be an absolute http(s) URL."
    if problems:
        raise ValidationError(
            "; ".join(f"{k}: {v}" for k, v in problems.items()),
            public_message="Some fields need attention.",
            fields=problems,
        )
    return PlacedItem(title, item, access_value, content_url or None)
