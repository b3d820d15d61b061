"""Test helpers for gps and for venue plugins (fake servers, conformance suite)."""
