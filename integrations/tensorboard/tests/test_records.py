"""The event-file encoding: CRCs, records and events, checked against tensorboard's own code."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked_crc32c

from paramsched_tensorboard._crc import BLOCK, masked_crc32c, masked_crc32c_py
from paramsched_tensorboard._records import (
    RowDecoder,
    RowEncoder,
    file_version_event,
    frame,
    split_records,
    text_event,
)

SERIES = ["hp/lr/g0", "hp/lr/blocks/0", "hp/betas.0/emb 1", "hp/weight_decay/" + "x" * 200]


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + 17])
def test_crc_matches_tensorboards_at_the_block_edges(length):
    data = os.urandom(length)
    assert int(masked_crc32c([data])[0]) == tb_masked_crc32c(data) == masked_crc32c_py(data)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=2500), max_size=12))
def test_crc_of_a_batch_is_each_ones_crc(strings):
    assert masked_crc32c(strings).tolist() == [tb_masked_crc32c(s) for s in strings]


def _double_event(step: int, wall: float, values: list[float], tags: list[str]) -> bytes:
    value = [summary_pb2.Summary.Value(tag=t, tensor=tensor_pb2.TensorProto(dtype=2, double_val=[v])) for t, v in zip(tags, values)]
    return event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=value)).SerializeToString()


@pytest.mark.parametrize("step", [0, 1, 127, 128, 300, 2**40])
def test_a_row_is_the_event_protobuf_would_write(step):
    values = [0.1, -0.0, 5e-324, 1.7976931348623157e308]
    encoder = RowEncoder(SERIES)
    first = event_pb2.Event.FromString(encoder.encode(step, 12.5, values))
    assert [v.metadata.plugin_data.plugin_name for v in first.summary.value] == ["scalars"] * 4
    assert [v.metadata.data_class for v in first.summary.value] == [summary_pb2.DATA_CLASS_SCALAR] * 4
    # the next rows carry no metadata: byte for byte what protobuf serializes
    assert encoder.encode(step, 12.5, values) == _double_event(step, 12.5, values, SERIES)
    decoded = event_pb2.Event.FromString(encoder.encode(step, 12.5, values))
    got = [v.tensor.double_val[0] for v in decoded.summary.value]
    assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v) for v in values]  # bit for bit, -0.0 too


def test_text_and_header_events():
    text = event_pb2.Event.FromString(text_event("paramsched/run", '{"a": "é"}', 7, 3.0))
    (value,) = text.summary.value
    assert (text.step, value.tag, value.metadata.plugin_data.plugin_name) == (7, "paramsched/run", "text")
    assert value.tensor.dtype == 7 and value.tensor.string_val == ['{"a": "é"}'.encode()]
    assert [d.size for d in value.tensor.tensor_shape.dim] == [1]
    assert event_pb2.Event.FromString(file_version_event(1.0)).file_version == "brain.Event:2"


def test_tensorboards_reader_reads_the_file_and_checks_its_crcs(tmp_path):
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea

    encoder = RowEncoder(SERIES)
    records = [file_version_event(1.0), text_event("paramsched/run", "{}", 0, 1.0)]
    records += [encoder.encode(k, 1.0 + k, [k * 0.1, 1.0, 2.0, 3.0]) for k in range(50)]
    (tmp_path / "events.out.tfevents.1.host.1.paramsched").write_bytes(frame(records))
    acc = pea.EventAccumulator(str(tmp_path), size_guidance={pea.TENSORS: 0})
    acc.Reload()
    assert acc.SummaryMetadata("hp/lr/g0").plugin_data.plugin_name == "scalars"
    assert acc.SummaryMetadata("paramsched/run").plugin_data.plugin_name == "text"
    events = acc.Tensors("hp/lr/g0")
    assert [e.step for e in events] == list(range(50))
    assert [e.tensor_proto.double_val[0] for e in events] == [k * 0.1 for k in range(50)]


def test_split_records_stops_at_a_cut_record_and_refuses_a_corrupt_one():
    records = [file_version_event(1.0), RowEncoder(SERIES).encode(3, 1.0, [1.0, 2.0, 3.0, 4.0])]
    data = frame(records)
    assert split_records(data, "f") == (records, False)
    assert split_records(data[:-1], "f") == (records[:1], True)
    assert split_records(data[:5], "f") == ([], True)
    corrupt = bytearray(data)
    corrupt[len(data) - 20] ^= 0x40
    with pytest.raises(ValueError, match=r"f: the record at byte \d+ fails its data CRC check; the event file is corrupt"):
        split_records(bytes(corrupt), "f")
    corrupt = bytearray(data)
    corrupt[0] ^= 0x01  # the first record's length
    with pytest.raises(ValueError, match="fails its length CRC check"):
        split_records(bytes(corrupt), "f")


@pytest.mark.parametrize("step", [0, 1, 127, 128, 300, 2**40, 2**63 - 1])
def test_the_fast_row_decoder_reads_what_protobuf_reads(step):
    values = [0.1, -0.0, 5e-324, 1.7976931348623157e308]
    encoder, decoder = RowEncoder(SERIES), RowDecoder(SERIES)
    first = encoder.encode(step, 12.5, values)
    assert decoder.decode(first) is None  # the first row carries the tags' metadata: protobuf reads it
    record = encoder.encode(step, 12.5, values)
    got_step, got = decoder.decode(record)
    event = event_pb2.Event.FromString(record)
    assert got_step == event.step == step
    assert [struct.pack("<d", v) for v in got] == [struct.pack("<d", v.tensor.double_val[0]) for v in event.summary.value]


def test_the_fast_row_decoder_leaves_every_other_record_to_protobuf():
    decoder = RowDecoder(SERIES)
    other = RowEncoder(SERIES[:3] + ["hp/weight_decay/other"])
    other.encode(5, 1.0, [1.0] * 4)
    for record in (
        other.encode(5, 1.0, [1.0] * 4),  # the same shape, another tag
        _double_event(5, 1.0, [1.0] * 4, SERIES[::-1]),  # the tags in another order
        text_event("paramsched/run", "{}", 5, 1.0),
        file_version_event(1.0),
        b"",
    ):
        assert decoder.decode(record) is None
