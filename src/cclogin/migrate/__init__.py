"""Moving legacy plaintext credential files into a store, crash-safe."""
