"""gps: route multi-leg crypto option strategies to the best venue and execute them safely.

The public plugin API is :mod:`gps_core.api`: everything a venue plugin may import, from the
hooks marker and ``HOOKSPEC_VERSION`` (defined with the hooks in :mod:`gps_core.hookspecs`) to
the data, errors and utilities. :mod:`gps_core.testing` is the plugin test kit.
"""

#: The version of gps-core, kept here only (pyproject.toml reads it).
__version__ = "0.1.0"
