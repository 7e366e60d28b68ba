"""paramsched's recorder and source contracts, against TensorBoard event files."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from paramsched.testing import RecorderContract, SourceContract

_spec = importlib.util.spec_from_file_location("_tb_conftest", Path(__file__).with_name("conftest.py"))
conf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conf)


class TestTensorBoardRecorder(RecorderContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return conf.TensorBoardBackend(tmp_path / "tb", flush_every=7)

    # Does not apply: event files are append-only, as TensorBoard's model is. A resumed run
    # writes a file of its own; the crashed run's steps from the resumed step on stay in the
    # earlier file and the reader drops them (test_resume_keeps_the_resumed_values checks
    # that each step is read once), as TensorBoard purges such orphaned steps itself.
    test_resume_stores_each_step_once = None


class TestTensorBoardSource(SourceContract):
    @pytest.fixture
    def backend(self, tmp_path):
        return conf.TensorBoardBackend(tmp_path / "tb")
