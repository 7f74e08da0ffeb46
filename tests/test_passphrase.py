"""Where the passphrase comes from: command, file, variable, prompt, in that order."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cclogin.errors import InvalidInput, PassphraseUnavailable
from cclogin.store.passphrase import (
    CommandSource,
    EnvSource,
    FileSource,
    PromptSource,
    passphrase_source,
)


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


def _script(tmp_path: Path, body: str) -> str:
    """A command line running a tiny Python program (no shell involved)."""
    script = tmp_path / "cmd.py"
    script.write_text(body)
    return f"{sys.executable} {script}"


# --- precedence ---------------------------------------------------------------


def test_precedence_command_file_variable_prompt(tmp_path: Path) -> None:
    env = {
        "CCLOGIN_PASSPHRASE_COMMAND": "pass show cclogin",
        "CCLOGIN_PASSPHRASE_FILE": str(tmp_path / "p"),
        "CCLOGIN_PASSPHRASE": "env-pass",
    }
    assert isinstance(passphrase_source(env, interactive=True), CommandSource)
    del env["CCLOGIN_PASSPHRASE_COMMAND"]
    assert isinstance(passphrase_source(env, interactive=True), FileSource)
    del env["CCLOGIN_PASSPHRASE_FILE"]
    assert isinstance(passphrase_source(env, interactive=True), EnvSource)
    del env["CCLOGIN_PASSPHRASE"]
    assert isinstance(passphrase_source(env, interactive=True), PromptSource)
    assert passphrase_source(env, interactive=False) is None


def test_empty_variables_count_as_unset() -> None:
    env = {"CCLOGIN_PASSPHRASE_COMMAND": "", "CCLOGIN_PASSPHRASE_FILE": "", "CCLOGIN_PASSPHRASE": ""}
    assert passphrase_source(env, interactive=False) is None


def test_descriptions_name_the_source_never_the_secret(tmp_path: Path) -> None:
    env = {"CCLOGIN_PASSPHRASE": "env-pass-fake"}
    source = passphrase_source(env, interactive=False)
    assert source is not None and "env-pass-fake" not in source.description
    file_source = passphrase_source({"CCLOGIN_PASSPHRASE_FILE": "/x/p"}, interactive=False)
    assert file_source is not None and file_source.description == "CCLOGIN_PASSPHRASE_FILE=/x/p"


# --- command ------------------------------------------------------------------


def test_command_stdout_with_one_newline_stripped(tmp_path: Path) -> None:
    cmd = _script(tmp_path, "print('cmd pass ')\n")
    assert CommandSource(cmd).get(confirm=True).reveal() == "cmd pass "


def test_command_runs_without_a_shell_and_without_our_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCLOGIN_PASSPHRASE", "leaky-fake")
    cmd = _script(tmp_path, "import os, sys\nprint(os.environ.get('CCLOGIN_PASSPHRASE', 'none'))\n")
    assert CommandSource(cmd + " ; echo injected").get(confirm=False).reveal() == "none"


def test_failing_command_names_the_command_not_its_output(tmp_path: Path) -> None:
    cmd = _script(tmp_path, "import sys\nprint('half-secret-fake')\nsys.exit(3)\n")
    with pytest.raises(PassphraseUnavailable) as caught:
        CommandSource(cmd).get(confirm=False)
    text = caught.value.message + caught.value.hint
    assert "exited with status 3" in text and "cmd.py" in text
    assert "half-secret-fake" not in text


def test_missing_empty_and_slow_commands(tmp_path: Path) -> None:
    with pytest.raises(PassphraseUnavailable, match="was not found"):
        CommandSource("/nonexistent/cclogin-pass").get(confirm=False)
    with pytest.raises(PassphraseUnavailable, match="empty passphrase"):
        CommandSource(_script(tmp_path, "print()\n")).get(confirm=False)
    slow = _script(tmp_path, "import time\ntime.sleep(5)\n")
    with pytest.raises(PassphraseUnavailable, match="did not finish"):
        CommandSource(slow, timeout=0.2).get(confirm=False)
    with pytest.raises(PassphraseUnavailable, match="cannot be parsed"):
        CommandSource("pass show 'unbalanced").get(confirm=False)


# --- file ---------------------------------------------------------------------


def test_file_with_one_newline_stripped(tmp_path: Path) -> None:
    path = _private(tmp_path / "p", "file pass\n\n")
    assert FileSource(path).get(confirm=True).reveal() == "file pass\n"
    _private(path, "crlf-pass\r\n")
    assert FileSource(path).get(confirm=True).reveal() == "crlf-pass"


def test_group_readable_or_symlinked_file_is_refused(tmp_path: Path) -> None:
    path = _private(tmp_path / "p", "file-pass")
    os.chmod(path, 0o640)
    with pytest.raises(PassphraseUnavailable, match="readable or writable by other") as caught:
        FileSource(path).get(confirm=False)
    assert "chmod 600" in caught.value.hint
    os.chmod(path, 0o600)
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(PassphraseUnavailable, match="symlink"):
        FileSource(link).get(confirm=False)


def test_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(PassphraseUnavailable, match="does not exist"):
        FileSource(tmp_path / "nope").get(confirm=False)
    with pytest.raises(PassphraseUnavailable, match="is empty"):
        FileSource(_private(tmp_path / "p", "\n")).get(confirm=False)


# --- variable -----------------------------------------------------------------


def test_variable_works_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    source = passphrase_source({"CCLOGIN_PASSPHRASE": "env-pass-fake"}, interactive=False)
    assert source is not None
    assert source.get(confirm=True).reveal() == "env-pass-fake"
    err = capsys.readouterr().err
    assert err.startswith("cclogin: warning: CCLOGIN_PASSPHRASE")
    assert "env-pass-fake" not in err


# --- prompt -------------------------------------------------------------------


class Typist:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


def test_prompt_asks_twice_only_when_creating() -> None:
    typist = Typist("typed-pass", "typed-pass", "typed-pass")
    source = PromptSource(typist)
    assert source.get(confirm=True).reveal() == "typed-pass"
    assert len(typist.prompts) == 2
    assert source.get(confirm=False).reveal() == "typed-pass"
    assert len(typist.prompts) == 3


def test_prompt_mismatch_is_re_asked_then_a_clear_error() -> None:
    said: list[str] = []
    typist = Typist("typed-pass", "typo-pass", "typed-pass", "typed-pass")
    source = PromptSource(typist, store_path=Path("/x/store.cclogin"), say=said.append)
    assert source.get(confirm=True).reveal() == "typed-pass"
    assert typist.prompts == [
        "New passphrase for the encrypted store /x/store.cclogin "
        "(it protects every credential cclogin keeps here): ",
        "Repeat the new passphrase: ",
    ] * 2
    assert said == ["cclogin: the passphrases did not match; try again"]

    said.clear()
    three = Typist("zq-a", "zq-b", "zq-c", "zq-d", "zq-e", "zq-f", "never")
    with pytest.raises(InvalidInput, match="not typed the same way twice") as caught:
        PromptSource(three, say=said.append).get(confirm=True)
    assert three.answers == ["never"]  # bounded: three pairs, no fourth
    assert len(said) == 2
    assert "zq-" not in caught.value.message + caught.value.hint


def test_prompt_empty_and_end_of_input() -> None:
    said: list[str] = []
    typist = Typist("", "typed-pass")
    assert PromptSource(typist, say=said.append).get(confirm=False).reveal() == "typed-pass"
    assert typist.prompts == ["Passphrase for the encrypted store: "] * 2
    assert said == ["cclogin: an empty passphrase is not allowed; try again"]
    with pytest.raises(InvalidInput, match="empty passphrase"):
        PromptSource(Typist("", "", ""), say=said.append).get(confirm=False)
    with pytest.raises(PassphraseUnavailable, match="end of input"):
        PromptSource(Typist()).get(confirm=False)
