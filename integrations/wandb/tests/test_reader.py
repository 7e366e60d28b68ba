"""The offline reader on real wandb 0.31 files: blocks, split records, truncation, corruption."""

from __future__ import annotations

import math
import struct
import warnings
import zlib

import pytest

from paramsched_wandb import WandbRecorder, iter_records, read_offline_run
from paramsched_wandb.reader import BLOCK_SIZE, find_run_file, is_finished

STEPS = 600
BIG = "x" * 100_000  # one config value three blocks long: FIRST, MIDDLE..., LAST records


@pytest.fixture(scope="module")
def big_run(module_env, h):
    """A finished offline run of 600 steps x 12 series with a 100 kB config value."""
    rec = WandbRecorder(project="ps-reader", name="big", chart_every=1)  # every row in the history
    rec.start(h.metadata(STEPS))
    expected = {0: h.values_at(0)}
    rec.record(0, expected[0])
    rec.flush()  # the run is open once the first row is in
    rec.run.config.update({"big": BIG})
    for k in range(1, STEPS):
        expected[k] = h.values_at(k)
        rec.record(k, expected[k])
    rec.close()
    (run_dir,) = h.run_dirs(module_env)
    run = h.read_run(run_dir)
    return run_dir, find_run_file(run_dir), run, expected


def test_every_value_and_the_split_config_record_read_back(big_run, h):
    run_dir, file, run, expected = big_run
    assert file.stat().st_size > 4 * BLOCK_SIZE
    assert run.config["big"] == BIG
    assert run.config["paramsched"] == h.metadata(STEPS)
    got = h.hp_rows(run.history)
    assert sorted(got) == list(range(STEPS))
    assert all(h.same_floats(got[k], expected[k]) for k in range(STEPS))
    assert run.finished and not run.truncated and is_finished(run_dir)
    assert read_offline_run(file).history == run.history  # the file or its directory


def test_a_file_cut_anywhere_reads_as_a_prefix(big_run, tmp_path):
    _, file, full, _ = big_run
    data = file.read_bytes()
    head = 4 * BLOCK_SIZE  # holds the split config record and many rows
    cuts = set(range(7, head, 997))
    for boundary in range(BLOCK_SIZE, head + 1, BLOCK_SIZE):  # around block boundaries
        cuts.update(range(boundary - 9, boundary + 9))
    cuts.update(range(len(data) - 12, len(data)))
    part = tmp_path / "run-cut.wandb"
    truncated_seen = 0
    for cut in sorted(cuts):
        part.write_bytes(data[:cut])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = read_offline_run(part)
        assert run.history == full.history[: len(run.history)], cut
        assert run.truncated == bool(caught), cut
        assert not run.finished and not is_finished(part), cut
        truncated_seen += run.truncated
    assert truncated_seen > len(cuts) // 2
    part.write_bytes(data[: len(data) // 2])
    with pytest.warns(RuntimeWarning, match=r"ends inside a record \(it is still being written, or its writer stopped mid-record\); read the \d+ complete record"):
        read_offline_run(part)


def test_a_corrupt_record_in_the_middle_is_an_error(big_run, tmp_path):
    _, file, _, _ = big_run
    data = bytearray(file.read_bytes())
    data[BLOCK_SIZE + 100] ^= 0xFF
    bad = tmp_path / "run-bad.wandb"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"run-bad.wandb': checksum mismatch in the record at byte \d+"):
        read_offline_run(bad)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b":W&", r"is not a W&B run file: 3 bytes, shorter than the 7-byte ':W&B' header"),
        (b"SQLite format 3\x00", r"is not a W&B run file: it starts with b'SQLite', expected b':W&B' followed by the magic number 0xBEE1"),
        (b":W&B\xe1\xbe\x01", r"uses W&B log format version 1; this reader knows version 0"),
        (b":W&B\xe1\xbe\x00" + struct.pack("<IHB", 0, 5, 9) + b"hello", r"corrupt record header at byte 7 \(type 9, length 5"),
    ],
)
def test_not_a_run_file(tmp_path, content, match):
    path = tmp_path / "run-x.wandb"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_offline_run(path)


def test_finding_the_run_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no W&B offline run at path=.*nowhere.*: no such file or directory"):
        read_offline_run(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"expected a run-<id>.wandb file or a wandb/offline-run-\* directory"):
        read_offline_run(tmp_path)
    (tmp_path / "run-a.wandb").write_bytes(b"")
    (tmp_path / "run-b.wandb").write_bytes(b"")
    with pytest.raises(ValueError, match=r"holds several .wandb files \(run-a.wandb, run-b.wandb\); pass one of them"):
        read_offline_run(tmp_path)


# -- synthetic files: forms wandb 0.31 can read but does not write by default ---------------


def _write_log(path, payloads):
    """Frame protobuf payloads the way wandb does (used only to build inputs for the reader)."""
    out = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))
    for data in payloads:
        first = True
        while True:
            room = BLOCK_SIZE - len(out) % BLOCK_SIZE
            if room < 7:
                out += b"\x00" * room
                continue
            chunk, data = data[: room - 7], data[room - 7 :]
            kind = (1 if not data else 2) if first else (4 if not data else 3)
            out += struct.pack("<IHB", zlib.crc32(bytes((kind,)) + chunk), len(chunk), kind) + chunk
            first = False
            if not data:
                break
    path.write_bytes(bytes(out))


def test_typed_values_nested_keys_and_config_removal(tmp_path):
    from wandb.proto import wandb_internal_pb2 as pb

    run = pb.Record()
    run.run.run_id, run.run.display_name, run.run.project = "abc", "typed", "p"
    for key, value in (("keep", "1"), ("drop", "2")):
        item = run.run.config.update.add()
        item.key, item.value_json = key, value
    config = pb.Record()
    removed = config.config.remove.add()
    removed.key = "drop"
    nested = config.config.update.add()
    nested.nested_key.extend(["opt", "lr"])
    nested.value_json = "-0"
    history = pb.Record()
    for key, field, value in (
        ("hp/step", "integer", 3),
        ("hp/lr/g0", "number", 5e-324),
        ("hp/wd/g0", "number", -0.0),
        ("flag", "boolean", True),
        ("tag", "text", "a"),
        ("blob", "json", '{"k": [1, 2]}'),
    ):
        item = history.history.item.add()
        item.key = key
        setattr(item, field, value)
    empty = history.history.item.add()
    empty.nested_key.extend(["media", "w"])
    empty.none = 0
    exit_record = pb.Record()
    exit_record.exit.exit_code = 0
    path = tmp_path / "run-abc.wandb"
    _write_log(path, [r.SerializeToString() for r in (run, config, history, exit_record)])

    got = read_offline_run(tmp_path)
    assert (got.run_id, got.name, got.project, got.finished) == ("abc", "typed", "p", True)
    assert got.config == {"keep": 1, "opt": {"lr": -0.0}}
    assert math.copysign(1.0, got.config["opt"]["lr"]) == -1.0
    (row,) = got.history
    assert row == {"hp/step": 3, "hp/lr/g0": 5e-324, "hp/wd/g0": -0.0, "flag": True, "tag": "a", "blob": {"k": [1, 2]}, "media.w": None}
    assert math.copysign(1.0, row["hp/wd/g0"]) == -1.0
    assert [r.WhichOneof("record_type") for r in iter_records(path)] == ["run", "config", "history", "exit"]


def test_a_record_that_interrupts_a_split_record_is_an_error(tmp_path, big_run):
    _, file, _, _ = big_run
    data = bytearray(file.read_bytes())
    # find the FIRST fragment of the big config record and turn its MIDDLE successor into FULL
    pos, first_seen = 7, False
    while pos < len(data):
        room = BLOCK_SIZE - pos % BLOCK_SIZE
        if room < 7:
            pos += room
            continue
        crc, length, kind = struct.unpack_from("<IHB", data, pos)
        if first_seen and kind in (3, 4):
            chunk = bytes(data[pos + 7 : pos + 7 + length])
            struct.pack_into("<IHB", data, pos, zlib.crc32(b"\x01" + chunk), length, 1)
            break
        first_seen = first_seen or kind == 2
        pos += 7 + length
    bad = tmp_path / "run-split.wandb"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"a record at byte \d+ interrupts a split record"):
        read_offline_run(bad)
