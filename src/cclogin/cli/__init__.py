"""The command line: parse, call one use case, print. No logic of its own."""
