"""cclogin's OAuth client for company gateways and other (non-Anthropic) providers.

The only package that imports the HTTP client. Public surface:

    Provider, discover, load_provider, to_extra, from_extra     (provider.py)
    browser_login, paste_login                                   (flows.py)
    device_login                                                 (device.py)
    refresh, revoke                                              (refresh.py, revoke.py)

There is deliberately no client for claude.ai: see `cclogin.claude_setup`.
"""
