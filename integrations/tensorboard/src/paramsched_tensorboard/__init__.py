"""paramsched-tensorboard: record every applied value to TensorBoard, and replay TensorBoard logs.

>>> from paramsched_tensorboard import TensorBoardRecorder, TensorBoardSource
>>> TensorBoardRecorder.name, TensorBoardSource.name
('tensorboard', 'tensorboard')

``recorders=["tensorboard:runs/tb"]`` and ``paramsched.replay.load("runs/tb")``
find these through the entry points ``paramsched.recorders`` /
``paramsched.sources``. Writing needs only numpy; reading imports the
``tensorboard`` package's protocol buffers when a log is loaded.
"""

from paramsched_tensorboard._records import EVENT_TAG, METADATA_TAG
from paramsched_tensorboard.recorder import FILE_SUFFIX, TensorBoardRecorder
from paramsched_tensorboard.source import TensorBoardSource

__all__ = ["EVENT_TAG", "FILE_SUFFIX", "METADATA_TAG", "TensorBoardRecorder", "TensorBoardSource"]
