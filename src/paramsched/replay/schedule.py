"""`ReplaySchedule` is a schedule: it lives in :mod:`paramsched.schedules.replayed`; re-exported here."""

from paramsched.schedules.replayed import AFTER_END, GAPS, ReplaySchedule  # noqa: F401
