"""A stand-in for `claude setup-token` that behaves like the real one.

It prints Claude Code's chatter on stdout, then the long-lived token, the way the real
command does; FAKE_CLAUDE_MODE picks a failure instead:
  ok        chatter, then the token (default)
  prompt    asks on stdout (no newline) for a code, reads it from stdin, then the token
  wrapped   the token broken over lines at 80 columns, as a narrow renderer would
  cancel    chatter, then exits 130 as after Ctrl-C
  fail      an error on stderr, exit status 1
  no-token  chatter and exit 0, but no token
FAKE_CLAUDE_TOKEN sets the token; FAKE_CLAUDE_ARGV, if set, is a file that receives
the argv and whether CCLOGIN_PASSPHRASE* reached the child.

`install(bin_dir)` writes an executable `claude` into bin_dir that runs this file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_TOKEN = "sk-ant-oat01-" + "FakeTokenForTests_" * 5 + "AbCd-1234"


def main() -> int:
    mode = os.environ.get("FAKE_CLAUDE_MODE", "ok")
    token = os.environ.get("FAKE_CLAUDE_TOKEN", DEFAULT_TOKEN)
    record = os.environ.get("FAKE_CLAUDE_ARGV")
    if record:
        leaked = any(k.startswith("CCLOGIN_PASSPHRASE") for k in os.environ)
        Path(record).write_text(f"{sys.argv[1:]!r}\npassphrase_env={leaked}\n")
    if sys.argv[1:] != ["setup-token"]:
        print(f"error: unknown command {sys.argv[1:]}", file=sys.stderr)
        return 2
    out = sys.stdout
    out.write("\x1b[1mWelcome to Claude Code\x1b[0m\n\n")
    out.write("Opening browser to sign in...\n")
    out.write("Browser didn't open? Use the url below to sign in:\n\n")
    out.write("https://claude.ai/oauth/authorize?code=true&client_id=fake&state=fake\n\n")
    out.flush()
    if mode == "fail":
        print("Error: OAuth error: Request failed with status code 400", file=sys.stderr)
        return 1
    if mode == "cancel":
        out.write("Login cancelled\n")
        return 130
    if mode == "prompt":
        out.write("Paste code here if prompted > ")
        out.flush()
        if not sys.stdin.readline().strip():
            return 1
    out.write("\u2713 Long-lived authentication token created successfully!\n\n")
    if mode == "no-token":
        out.write("Your token is ready.\n")
        return 0
    out.write("Your OAuth token (valid for 1 year):\n\n")
    if mode == "wrapped":
        out.write("\n".join(token[i:i + 80] for i in range(0, len(token), 80)) + "\n\n")
    else:
        out.write(f"{token}\n\n")
    out.write("Store this token securely. You won't be able to see it again.\n\n")
    out.write("Use this token by setting: export CLAUDE_CODE_OAUTH_TOKEN=<token>\n")
    return 0


def install(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "claude"
    exe.write_text(f"#!{sys.executable}\nimport runpy\n"
                   f"runpy.run_path({str(Path(__file__).resolve())!r}, run_name='__main__')\n")
    exe.chmod(0o755)
    return exe


if __name__ == "__main__":
    sys.exit(main())
