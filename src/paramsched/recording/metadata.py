"""The run metadata document now lives in :mod:`paramsched.runformat`; this module re-exports it."""

from paramsched.runformat import FORMAT, check_metadata, utc_now  # noqa: F401
