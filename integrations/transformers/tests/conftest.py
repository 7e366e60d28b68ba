"""The Trainer tests build their models from code: make sure nothing reaches the Hub."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
