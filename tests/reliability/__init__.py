"""The reliability suite: a fault matrix, crash safety, Ctrl-C, rate limits, secrets and bad input.

See docs/reliability.md for what it proves and how to rerun it.
"""
