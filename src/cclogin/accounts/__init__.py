"""Use cases: login, logout, switch, status, token, exec, doctor.

Owns profiles (non-secret metadata) and the refresh single-flight. The CLI calls one
function here per command; nothing here imports click.
"""
