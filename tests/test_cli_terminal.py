"""What a person at a terminal sees: hidden key prompt, confirmations, a chooser."""

from __future__ import annotations

from pathlib import Path

from support.cli import make_encrypted_world
from support.tty import Terminal

KEY_A = "sk-ant-api03-test-tty-000A"
KEY_B = "sk-ant-api03-test-tty-000B"


def test_login_prompt_hides_the_key(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    term = Terminal(["login", "--with-api-key", "--profile", "work"], world.environ())
    term.expect("API key")
    term.type(KEY_A)
    assert term.finish() == 0
    assert KEY_A not in term.screen  # not echoed while typed
    assert world.cclogin("token").stdout == KEY_A + "\n"


def test_replacing_a_profile_asks_first_and_no_keeps_the_old_key(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    assert world.login("work", KEY_A).rc == 0
    term = Terminal(["login", "--with-api-key", "--profile", "work"], world.environ())
    term.expect("API key")
    term.type(KEY_B)
    term.expect("replace it?")
    term.type("n")
    assert term.finish() == 1
    assert world.cclogin("token").stdout == KEY_A + "\n"

    term = Terminal(["login", "--with-api-key", "--profile", "work"], world.environ())
    term.expect("API key")
    term.type(KEY_B)
    term.expect("replace it?")
    term.type("y")
    assert term.finish() == 0
    assert world.cclogin("token").stdout == KEY_B + "\n"


def test_switch_without_a_name_offers_a_choice(tmp_path: Path) -> None:
    world = make_encrypted_world(tmp_path)
    assert world.login("personal", KEY_A).rc == 0
    assert world.login("work", KEY_B).rc == 0
    assert world.cclogin("token").stdout == KEY_B + "\n"
    term = Terminal(["switch"], world.environ())
    term.expect("switch to")
    assert "1) personal" in term.screen and "2) work" in term.screen
    term.type("1")
    assert term.finish() == 0
    assert "active profile is now 'personal'" in term.screen
    assert world.cclogin("token").stdout == KEY_A + "\n"
