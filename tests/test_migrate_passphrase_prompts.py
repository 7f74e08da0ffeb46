"""`cclogin migrate` on a terminal with the encrypted file: the passphrase prompts a user sees.

Issue 10.6: every prompt says what it is for; a new passphrase is asked once per run
(a mismatched confirmation is re-asked, not carried over to the next file); a wrong
passphrase is said at once and re-asked (3 attempts) before any file is touched, not
found out in a rollback; each file's outcome appears as it happens. Driven through
the real executable on a pseudo-terminal, with three real-shaped legacy files.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cclogin.errors import InvalidInput, WrongPassphrase
from cclogin.secret import Secret
from cclogin.store import encrypted_file
from cclogin.store.encrypted_file import EncryptedFileStore
from cclogin.store.kdf import TEST_DEFAULT, KdfParams, derive_kek
from cclogin.store.passphrase import PromptSource
from support.cli import CCLOGIN
from support.legacy_home import VECTORS, LegacyHome
from support.tty import Terminal

RIGHT = "violet-kettle-harbour-93"
TYPO = "violet-kettle-harbuor-93"
WRONG = ("not-it-1", "not-it-2", "not-it-3")
SUBSCRIPTION = "subscription-login.credentials.json"  # sk-ant-oat01-test-0002
API_KEY_JSON = "claude-json-api-key.json"  # primaryApiKey sk-ant-api03-test-0001
DOTENV = "dotenv-project.env"  # ANTHROPIC_API_KEY=sk-ant-api03-test-0011

NEW_PROMPT = "New passphrase for the encrypted store"
REPEAT_PROMPT = "Repeat the new passphrase: "
OPEN_PROMPT = "Passphrase for the encrypted store"
PURPOSE = "(it protects every credential cclogin keeps here): "


# --- the scene ------------------------------------------------------------------------


class Scene:
    """Three legacy files in a home without a keychain or a passphrase source."""

    def __init__(self, home: LegacyHome) -> None:
        self.lh = home
        self.cred = home.install(SUBSCRIPTION)
        self.claude_json = home.install(API_KEY_JSON)
        self.dotenv = home.home / "proj" / ".env"
        self.dotenv.parent.mkdir()
        self.dotenv.write_bytes((VECTORS / DOTENV).read_bytes())
        self.dotenv.chmod(0o600)
        self.store = home.cclogin_home / "data" / "store.cclogin"

    @property
    def files(self) -> list[Path]:
        return [self.cred, self.claude_json, self.dotenv]

    def env(self, **more: str) -> dict[str, str]:
        env = self.lh.env(CCLOGIN_CLAUDE_LOCK_WAIT="60", **more)
        if "CCLOGIN_PASSPHRASE_FILE" not in more:
            env.pop("CCLOGIN_PASSPHRASE_FILE")  # only the terminal can unlock the store
        return env

    def args(self) -> list[str]:
        return ["migrate", "--from", str(self.dotenv), "--no-set-api-key-helper"]

    def snapshot(self) -> dict[str, tuple[int, bytes]]:
        """Every file under HOME and CCLOGIN_HOME: mode and bytes.

        Not cclogin's own lock files (`state/locks/*.lock`): empty, made once and never
        deleted by design (fsio.file_lock), the first run of `migrate` takes one.
        """
        locks = self.lh.cclogin_home / "state" / "locks"
        seen = {}
        for base in (self.lh.home, self.lh.cclogin_home):
            for path in sorted(base.rglob("*")):
                if path.parent == locks and path.suffix == ".lock":
                    assert path.stat().st_size == 0
                elif path.is_file():
                    seen[str(path)] = (path.stat().st_mode & 0o7777, path.read_bytes())
        return seen

    def passphrase_file(self, value: str) -> str:
        path = self.lh.root / f"pass-{len(list(self.lh.root.glob('pass-*')))}"
        path.write_text(value + "\n")
        path.chmod(0o600)
        return str(path)

    def token(self, profile: str, passphrase: str) -> subprocess.CompletedProcess[str]:
        return self.lh.run(
            "token", "--profile", profile, CCLOGIN_PASSPHRASE_FILE=self.passphrase_file(passphrase)
        )

    def claude_holds_config_lock(self) -> Path:
        """Claude Code's `.claude.json.lock`, fresh for the whole test (mtime in the future)."""
        lock = self.lh.home / ".claude.json.lock"
        lock.mkdir()
        later = time.time() + 3600
        os.utime(lock, (later, later))
        return lock


@pytest.fixture
def scene(legacy_home: LegacyHome) -> Scene:
    return Scene(legacy_home)


class SplitTerminal(Terminal):
    """Like Terminal, but stdout goes to a file: what a prompt would leak there is seen."""

    def __init__(self, args: list[str], env: dict[str, str], stdout: Path) -> None:
        self.master, slave = os.openpty()
        with stdout.open("wb") as out:
            self.proc = subprocess.Popen([CCLOGIN, *args], stdin=slave, stdout=out,
                                         stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.screen = ""


def wait_for(term: Terminal, done: Callable[[str], bool], what: str, timeout: float = 30) -> None:
    """Read the terminal until `done(screen)` (Terminal.expect finds only a first occurrence)."""
    deadline = time.monotonic() + timeout
    while not done(term.screen):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"never saw {what}; screen:\n{term.screen}")
        ready, _, _ = select.select([term.master], [], [], left)
        if ready:
            try:
                chunk = os.read(term.master, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"exited before {what}; screen:\n{term.screen}")
            term.screen += chunk.decode(errors="replace")


def answer(term: Terminal, prompt: str, nth: int, typed: str) -> None:
    """Wait for the nth showing of `prompt`, then type `typed`."""
    wait_for(term, lambda s: s.count(prompt) >= nth, f"{prompt!r} #{nth}")
    term.type(typed)


def in_order(screen: str, *texts: str) -> None:
    at = -1
    for text in texts:
        found = screen.find(text, at + 1)
        assert found > at, f"{text!r} not after the previous line; screen:\n{screen}"
        at = found


def no_secret_on(screen: str, *passphrases: str) -> None:
    assert "-test-00" not in screen  # every fake credential carries this marker
    for value in passphrases:
        assert value not in screen


# --- first run: a new store -----------------------------------------------------------


def test_first_run_one_new_passphrase_exchange_for_three_files(scene: Scene) -> None:
    lock = scene.claude_holds_config_lock()  # holds the second file at Claude Code's lock
    term = Terminal(scene.args(), scene.env())
    answer(term, f"{NEW_PROMPT} {scene.store} {PURPOSE}", 1, RIGHT)
    answer(term, REPEAT_PROMPT, 1, TYPO)
    term.expect("cclogin: the passphrases did not match; try again")
    assert not scene.store.exists()
    answer(term, f"{NEW_PROMPT} {scene.store} {PURPOSE}", 2, RIGHT)
    answer(term, REPEAT_PROMPT, 2, RIGHT)

    # The first file's outcome is on the screen while the second still waits for its
    # lock: reported as it happens, not at the end.
    term.expect(f"Claude Code holds {lock}")
    assert f"migrated {scene.cred} into profile 'claude'" in term.screen
    assert f"migrated {scene.claude_json}" not in term.screen
    assert b"sk-ant-api03-test-0001" in scene.claude_json.read_bytes()
    lock.rmdir()

    term.expect("now? [y/N]")  # the offer of `login --claude` after a subscription login
    term.type("n")
    assert term.finish() == 0, term.screen
    screen = term.screen

    # One exchange: two tries of the new passphrase, never a prompt per file or for a rollback.
    assert screen.count(NEW_PROMPT) == 2
    assert screen.count(REPEAT_PROMPT) == 2
    assert OPEN_PROMPT not in screen
    in_order(
        screen,
        "the passphrases did not match; try again",
        f"found Claude subscription login (claudeAiOauth) in {scene.cred}",
        f"migrated {scene.cred} into profile 'claude'; the file is removed",
        f"found Console API key (primaryApiKey) in {scene.claude_json}",
        f"migrated {scene.claude_json} into profile 'claude-api-key'",
        f"found ANTHROPIC_API_KEY line in {scene.dotenv}",
        f"migrated {scene.dotenv} into profile 'env-proj'",
        "done: 3 file(s) migrated into encrypted-file",
    )
    assert "error" not in screen and "rolled back" not in screen
    no_secret_on(screen, RIGHT, TYPO)

    # The store opens with the passphrase typed twice, not with the typo.
    assert scene.token("claude-api-key", RIGHT).stdout == "sk-ant-api03-test-0001\n"
    assert scene.token("env-proj", RIGHT).stdout == "sk-ant-api03-test-0011\n"
    assert scene.token("claude", RIGHT).returncode == 0
    assert scene.token("claude", TYPO).returncode == 1
    assert not scene.cred.exists()
    assert scene.lh.plaintext_left() == []
    assert scene.lh.leftovers() == []


def test_three_mismatches_end_the_run_before_any_file_is_touched(scene: Scene) -> None:
    before = scene.snapshot()
    term = Terminal(scene.args(), scene.env())
    for n in (1, 2, 3):
        answer(term, NEW_PROMPT, n, RIGHT)
        answer(term, REPEAT_PROMPT, n, f"{TYPO}-{n}")
    assert term.finish() == 1, term.screen
    assert term.screen.count(NEW_PROMPT) == 3
    assert "the new passphrase was not typed the same way twice (3 tries)" in term.screen
    assert "nothing was migrated" in term.screen
    assert "found " not in term.screen
    assert not scene.store.exists()
    assert scene.snapshot() == before
    no_secret_on(term.screen, RIGHT, TYPO)


# --- a rerun: the store exists ----------------------------------------------------------


def _existing_store(scene: Scene) -> None:
    """An earlier, non-interactive login made the store with RIGHT (another key)."""
    done = scene.lh.run(
        "login", "--profile", "earlier", "--with-api-key", stdin="sk-ant-api03-test-0099\n",
        CCLOGIN_PASSPHRASE_FILE=scene.passphrase_file(RIGHT),
    )
    assert done.returncode == 0, done.stderr
    assert scene.store.exists()
    assert all(path.exists() for path in scene.files)


def test_rerun_wrong_passphrase_is_said_at_once_and_re_asked(scene: Scene, tmp_path: Path) -> None:
    _existing_store(scene)
    before = scene.snapshot()
    stdout = tmp_path / "stdout"
    term = SplitTerminal(scene.args(), scene.env(), stdout)
    answer(term, f"{OPEN_PROMPT} {scene.store}: ", 1, WRONG[0])
    term.expect("cclogin: wrong passphrase; try again")
    wait_for(term, lambda s: s.count(OPEN_PROMPT) == 2, "the second prompt")
    # Said before anything happened: no file touched, no line about any file yet.
    assert "found " not in term.screen
    assert scene.snapshot() == before
    term.type(RIGHT)
    term.expect("now? [y/N]")
    term.type("n")
    assert term.finish() == 0, term.screen
    screen = term.screen

    assert screen.count(OPEN_PROMPT) == 2  # the second is the retry, not a rollback's
    assert NEW_PROMPT not in screen and REPEAT_PROMPT not in screen
    in_order(
        screen,
        "wrong passphrase; try again",
        f"migrated {scene.cred}",
        f"migrated {scene.claude_json}",
        f"migrated {scene.dotenv}",
        "done: 3 file(s) migrated into encrypted-file",
    )
    assert "error" not in screen and "rolled back" not in screen
    assert stdout.read_bytes() == b""  # prompts and reports never on stdout
    no_secret_on(screen, RIGHT, *WRONG)
    assert scene.token("env-proj", RIGHT).stdout == "sk-ant-api03-test-0011\n"
    assert scene.lh.plaintext_left() == []
    assert scene.lh.leftovers() == []


def test_rerun_three_wrong_passphrases_change_nothing(scene: Scene) -> None:
    _existing_store(scene)
    before = scene.snapshot()
    term = Terminal(scene.args(), scene.env())
    for n, guess in enumerate(WRONG, start=1):
        answer(term, f"{OPEN_PROMPT} {scene.store}: ", n, guess)
    assert term.finish() == 1, term.screen
    screen = term.screen
    assert screen.count(OPEN_PROMPT) == 3
    assert screen.count("wrong passphrase; try again") == 2
    assert (
        f"cclogin: error: wrong passphrase: 3 attempts did not open the encrypted store "
        f"{scene.store}" in screen
    )
    assert "nothing was migrated, every file is as it was" in screen
    assert "cclogin: hint: type the passphrase chosen when the store was created" in screen
    assert "found " not in screen and "rolled back" not in screen
    # Every legacy file byte for byte and mode for mode, the store as it was, and no
    # journal, backup, lock or temp file left behind.
    assert scene.snapshot() == before
    assert scene.lh.leftovers() == []
    no_secret_on(screen, RIGHT, *WRONG)


def test_wrong_passphrase_file_is_one_error_before_any_file_is_touched(scene: Scene) -> None:
    _existing_store(scene)
    before = scene.snapshot()
    wrong = scene.passphrase_file(WRONG[0])
    result = scene.lh.run(*scene.args(), CCLOGIN_PASSPHRASE_FILE=wrong)
    assert result.returncode == 1
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("cclogin: error:")]
    assert errors == [
        f"cclogin: error: the passphrase from CCLOGIN_PASSPHRASE_FILE={wrong} does not open "
        f"the encrypted store {scene.store} (or its header is damaged); nothing was migrated, "
        "every file is as it was"
    ]
    assert "cclogin: hint: check CCLOGIN_PASSPHRASE_FILE" in result.stderr
    assert "found " not in result.stderr and "rolled back" not in result.stderr
    assert scene.snapshot() == before
    assert scene.lh.leftovers() == []
    no_secret_on(result.stderr, RIGHT, WRONG[0])


def test_a_passphrase_file_on_a_terminal_asks_nothing(scene: Scene) -> None:
    """A configured source wins over the prompt, as before: no question at all."""
    _existing_store(scene)
    term = Terminal(scene.args(), scene.env(CCLOGIN_PASSPHRASE_FILE=scene.passphrase_file(RIGHT)))
    term.expect("now? [y/N]")
    term.type("n")
    assert term.finish() == 0, term.screen
    for prompt in (OPEN_PROMPT, NEW_PROMPT, REPEAT_PROMPT, "wrong passphrase"):
        assert prompt not in term.screen
    assert "done: 3 file(s) migrated into encrypted-file" in term.screen
    assert scene.lh.plaintext_left() == []


# --- the store itself: one question, one key derivation per process -----------------------


class Typist:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


@pytest.fixture
def derivations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often the encrypted store runs Argon2id."""
    calls: list[int] = []

    def counting(passphrase: Secret, salt: bytes, params: KdfParams) -> bytes:
        calls.append(1)
        return derive_kek(passphrase, salt, params)

    monkeypatch.setattr(encrypted_file, "derive_kek", counting)
    return calls


def test_new_store_chosen_once_derived_once(tmp_path: Path, derivations: list[int]) -> None:
    path = tmp_path / "store.cclogin"
    said: list[str] = []
    typist = Typist(RIGHT, TYPO, RIGHT, RIGHT)
    store = EncryptedFileStore(path, PromptSource(typist, say=said.append),
                               _test_only_kdf=TEST_DEFAULT)
    store.unlock()
    assert not path.exists()  # chosen, not written: a run that stores nothing leaves no file
    for i in range(3):
        store.set(f"profile:p{i}", f"value-{i}".encode())
    assert store.get("profile:p1") == b"value-1"
    assert store.delete("profile:p2")
    assert typist.prompts == [f"{NEW_PROMPT} {path} {PURPOSE}", REPEAT_PROMPT] * 2
    assert said == ["cclogin: the passphrases did not match; try again"]
    assert len(derivations) == 1


def test_existing_store_wrong_then_right_derives_per_attempt_only(
    tmp_path: Path, derivations: list[int]
) -> None:
    path = tmp_path / "store.cclogin"
    EncryptedFileStore(path, PromptSource(Typist(RIGHT, RIGHT)),
                       _test_only_kdf=TEST_DEFAULT).set("profile:a", b"v")
    derivations.clear()
    said: list[str] = []
    typist = Typist(WRONG[0], RIGHT)
    store = EncryptedFileStore(path, PromptSource(typist, say=said.append),
                               _test_only_kdf=TEST_DEFAULT)
    store.unlock()
    assert store.get("profile:a") == b"v"
    store.set("profile:b", b"w")
    assert store.delete("profile:a")
    assert typist.prompts == [f"{OPEN_PROMPT} {path}: "] * 2
    assert said == ["cclogin: wrong passphrase; try again"]
    assert len(derivations) == 2  # one per attempt, none per record

    guesses = Typist(*WRONG, RIGHT)
    with pytest.raises(WrongPassphrase, match="3 attempts") as caught:
        EncryptedFileStore(path, PromptSource(guesses, say=said.append),
                           _test_only_kdf=TEST_DEFAULT).unlock()
    assert guesses.answers == [RIGHT]  # bounded: never a fourth question
    assert not any(g in caught.value.message + caught.value.hint for g in WRONG)


def test_no_new_passphrase_no_store(tmp_path: Path) -> None:
    path = tmp_path / "store.cclogin"
    store = EncryptedFileStore(path, PromptSource(Typist("a1", "b1", "a2", "b2", "a3", "b3"),
                                                  say=lambda _line: None),
                               _test_only_kdf=TEST_DEFAULT)
    with pytest.raises(InvalidInput, match="3 tries"):
        store.unlock()
    assert not path.exists()
