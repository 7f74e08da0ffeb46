"""What every use case needs: paths, the environment, how to reach stores, and I/O.

Tests build one with a temporary `CCLOGIN_HOME`; the CLI builds one per process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from ..model import Profile
from ..paths import Paths, get_paths
from ..store.base import SecretStore


def _quiet(line: str) -> None:
    pass


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class AppContext:
    # A plain class: `dataclasses` stays off the token hot path (see model.py).
    def __init__(
        self,
        paths: Paths,
        environ: Mapping[str, str],
        backend_flag: str | None = None,
        interactive: bool = False,
        notify: Callable[[str], None] = _stderr,  # human-facing notes, on stderr
    ) -> None:
        self.paths = paths
        self.environ = environ
        self.backend_flag = backend_flag
        self.interactive = interactive
        self.notify = notify
        # `--verbose` explains what happens through this; never with a secret in it.
        self.debug: Callable[[str], None] = _quiet
        self._stores: dict[str, SecretStore] = {}

    def __repr__(self) -> str:  # the environment may hold secrets: never shown
        return f"AppContext(home={self.paths.config_dir.parent}, backend={self.backend_flag})"

    @classmethod
    def from_environment(cls, backend_flag: str | None = None) -> AppContext:
        from ..store.select import is_interactive

        return cls(
            paths=get_paths(),
            environ=os.environ,
            backend_flag=backend_flag,
            interactive=is_interactive(),
        )

    def with_environ(self, environ: Mapping[str, str]) -> AppContext:
        """This context seen with another environment (`exec --env-file`: the one its
        child starts from); paths, opened stores and I/O are shared, not copied."""
        other = AppContext(self.paths, environ, self.backend_flag, self.interactive, self.notify)
        other.debug = self.debug
        other._stores = self._stores
        return other

    def profile_env(self) -> str | None:
        return self.environ.get("CCLOGIN_PROFILE") or None

    def store_named(self, name: str) -> SecretStore:
        """A backend by name, opened once per process, never probed."""
        store = self._stores.get(name)
        if store is None and name == "vault":
            from .vault_login import open_vault_store

            store = open_vault_store(self)
            self._stores[name] = store
        if store is None:
            from ..store.select import open_backend

            store = open_backend(name, self.paths, self.environ)
            self.debug(f"opened backend {name}: {store.describe().description}")
            self._stores[name] = store
        return store

    def store_for(self, profile: Profile) -> SecretStore:
        if profile.backend == "vault" and "vault_path" in profile.extra:
            key = f"vault-shared:{profile.name}"  # a team profile: the shared secret
            if key not in self._stores:
                from .team import shared_store

                self._stores[key] = shared_store(self, profile)
            return self._stores[key]
        return self.store_named(profile.backend)

    def select_store(self) -> SecretStore:
        """The store for a new credential: explicit choice, probe, or fallback."""
        from ..store.select import explicit_choice, select_store

        choice = explicit_choice(self.paths, self.environ, self.backend_flag)
        if choice is not None and choice[0] == "vault":
            self.debug(f"selected backend vault (by {choice[1]})")
            return self.store_named("vault")
        selection = select_store(self.paths, self.environ, self.backend_flag)
        self.debug(f"selected backend {selection.store.name} (by {selection.source})")
        if selection.notice:
            self.notify(f"cclogin: notice: {selection.notice}")
        self._stores.setdefault(selection.store.name, selection.store)
        return selection.store
