"""The status table stays aligned whatever the labels, and shows a Claude login's hours left."""

from __future__ import annotations

import time

from cclogin.accounts.status import StatusReport
from cclogin.cli.status_cmd import _render


def row(name: str, account: str | None, kind: str = "oauth", expires: float | None = None) -> dict[str, object]:
    return {
        "name": name, "active": False, "kind": kind, "account": account, "provider": None,
        "backend": "secret-service", "storage_class": "keychain", "expires_at": expires,
        "expired": False, "needs_login": False, "source": None,
    }


def test_long_labels_keep_every_column_aligned() -> None:
    long_account = "https://gateway.example.test/tenants/" + "x" * 80
    report = StatusReport(0, "logged in", "a", False, [
        row("a", "alice@example.test"),
        row("a-very-long-profile-name-indeed", long_account),
    ])
    lines = _render(report).splitlines()
    table = lines[2:]
    starts = {line.index("EXPIRES") if "EXPIRES" in line else line.rindex(" -") + 1 for line in table}
    assert len(starts) == 1, lines  # the last column starts at one offset on every line
    assert "x" * 80 not in lines[-1] and "\u2026" in lines[-1]  # cut, and says so


def test_claude_login_shows_the_time_left() -> None:
    soon = time.time() + 3 * 3600 + 600
    report = StatusReport(0, "logged in", "claude", False, [row("claude", None, "claude_login", soon)])
    assert "(3 h 10 min left)" in _render(report) or "(3 h 9 min left)" in _render(report)
