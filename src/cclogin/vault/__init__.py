"""HashiCorp Vault / OpenBao: settings, the client, and the Vault token as a credential.

Only `vault/client.py` imports hvac (and requests); the rest of cclogin sees
`VaultClient` and cclogin's own errors.
"""
