"""Test support for the Deribit plugin: never imported by the venue itself.

``fake_server`` (a fake Deribit on 127.0.0.1 speaking JSON-RPC over HTTP), ``fake_exchange``
(its book of record: accounts, books, orders, faults), ``fake_chain`` (the option chain it
lists), ``fake_combos`` (its combo books) and ``harness`` (the conformance harness,
entry-point group ``gps.harnesses``).
"""
