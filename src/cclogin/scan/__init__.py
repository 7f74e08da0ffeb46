"""Finding plaintext Anthropic credentials in a home, without printing them.

`cclogin scan` is read-only: it walks the home's known places and the given roots
(`walk`), reads each file once in bounded blocks (`detect`) with patterns on bytes
(`patterns`, `histories`), then asks git (`gitinfo`) and the store (`instore`)
about each hit, and reports (`report`). Each finding carries what a fixer needs to
move the secret into the store and scrub it: the file, the line, the byte spans of
the secret, its line and its history entry, the variable and how it is quoted, and
the file's shape. The JSON schema is specified in docs/scan.md.
"""

from __future__ import annotations

from .engine import DEFAULT_MAX_SIZE, ScanOptions, scan
from .findings import SCHEMA, Finding, ScanResult

__all__ = ["DEFAULT_MAX_SIZE", "SCHEMA", "Finding", "ScanOptions", "ScanResult", "scan"]
