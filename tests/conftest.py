"""Shared fixtures. Each support module owns one real stand-in (daemon, server)."""

from __future__ import annotations

# Fixture modules register here, one import line each.
from support.claude_code import claude_code, messages_stub  # noqa: F401
from support.legacy_home import legacy_home  # noqa: F401
from support.oauth2_mock import oauth2_mock  # noqa: F401
from support.oidc import oidc_server  # noqa: F401
from support.openbao import (  # noqa: F401
    bao_cluster,
    bao_cluster_shared,
    bao_dev,
    bao_dev_tls,
    bao_kv,
)
from support.secret_service import secret_service, secret_service_daemon  # noqa: F401
