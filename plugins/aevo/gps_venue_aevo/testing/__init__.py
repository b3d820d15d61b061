"""Test support for the Aevo plugin: never imported by the venue itself.

``fake_server`` (a fake Aevo REST API on 127.0.0.1 that checks HMAC headers and EIP-712
order signatures and keeps the book of record) and ``harness`` (the conformance harness,
entry-point group ``gps.harnesses``).
"""
