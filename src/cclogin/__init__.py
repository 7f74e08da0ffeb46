"""cclogin: developer-CLI credentials in the OS keychain instead of plaintext files."""

__version__ = "0.1.0"
