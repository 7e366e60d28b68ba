"""Series names now live in :mod:`paramsched.naming`; this module re-exports them."""

from paramsched.naming import (  # noqa: F401
    PREFIX,
    STEP_SERIES,
    check_key_name,
    check_series_name,
    group_label,
    parse_series_name,
    sanitize_label,
    series_name,
)
