"""Reading a catalog file (TOML or JSON, by extension) into the mapping ``parse_catalog`` takes
(``catalog_schema.py``)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from lti_bridge.domain.errors import LtiBridgeError

#: The extensions the importer reads, and the format each one means.
FORMATS = {".toml": "TOML", ".json": "JSON"}


class CatalogFileError(LtiBridgeError):
    """A catalog file that cannot be read or decoded; the message is one line naming the file."""

    public_message = "The catalog file could not be read."


def read_catalog_file(path: Path) -> dict[str, object]:
    """Return the decoded content of a .toml or .json catalog file."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise CatalogFileError(
            f"{path}: unknown catalog format {path.suffix or '(no extension)'!r}; "
            "name the file .toml or .json"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    # A UTF-8 byte order mark is legal in neither format, but some editors write one anyway.
    text = text.removeprefix("\ufeff")
    if kind == "TOML":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogFileError(f"{path}: invalid TOML: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogFileError(
            f"{path}: invalid JSON: {exc.msg} (at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(document, dict):
        raise CatalogFileError(f"{path}: the JSON must be an object at the top level")
    return document
