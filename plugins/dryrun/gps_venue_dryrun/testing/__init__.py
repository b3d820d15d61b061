"""Test support for the dry-run plugin: ``harness``, the conformance harness (entry-point
group ``gps.harnesses``). The dry-run venue is its own fake: its book of record is the paper store.
"""
