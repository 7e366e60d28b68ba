"""The command line names runs from different sources, each with its own key map, and answers a
bad log or a bad option with one line and exit code 2 (cli/_common.py; diff, export, compare)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import paramsched as ps
from paramsched.cli import main
from paramsched.cli._common import RunSpec, UserError, parse_source

TOTAL = 6


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """One lr schedule, as paramsched, a Hugging Face checkpoint, Lightning and a custom log hold it."""
    monkeypatch.chdir(tmp_path)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with ps.ParamScheduler(opt, {"lr": ps.Cosine(0.1, 0.0)}, TOTAL, recorders=["csv:runs/a"]) as sched:
        for _ in range(TOTAL):
            opt.step()
            sched.step()
    lr = ps.replay.load("runs/a").frame["hp/lr/g0"].to_dict()
    history = [{"learning_rate": v, "loss": 1.0, "step": k + 1} for k, v in lr.items()]  # global_step = k + 1
    Path("out/checkpoint-6").mkdir(parents=True)
    Path("out/checkpoint-6/trainer_state.json").write_text(json.dumps({"log_history": history}))
    Path("metrics.csv").write_text("epoch,lr-SGD,step,train_loss\n" + "".join(f"0,{v!r},{k},0.5\n" for k, v in lr.items()))
    Path("custom.csv").write_text("it,my_lr\n" + "".join(f"{k},{v!r}\n" for k, v in lr.items()))
    Path("km.json").write_text(json.dumps({"columns": {"my_lr": ["lr", "g0"]}, "step_column": "it"}))
    return lr


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "text, expected",
    [
        ("runs/a", RunSpec("runs/a")),
        ("hf:mlflow://abc?tracking_uri=sqlite:///m.db", RunSpec("mlflow://abc?tracking_uri=sqlite:///m.db", {"keymap": "hf"})),
        ("lightning:logs/metrics.csv#gaps=previous&before_start=first",
         RunSpec("logs/metrics.csv", {"keymap": "lightning", "gaps": "previous", "before_start": "first"})),
        ("log.csv#keymap=km.json&step_column=it", RunSpec("log.csv", {"keymap": "km.json", "step_column": "it"})),
        ("hf://out/checkpoint-5", RunSpec("hf://out/checkpoint-5")),  # a scheme, not a key map prefix
        ("C:/runs/a", RunSpec("C:/runs/a")),
        ("runs/odd#name", RunSpec("runs/odd#name")),  # no '=': not options
    ],
)
def test_parse_source(text, expected):
    assert parse_source(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("log.csv#keymp=hf", r"^log\.csv#keymp=hf: source options are NAME=VALUE joined by '&' with NAME one of keymap, step_column, gaps, before_start, got 'keymp=hf'$"),
        ("hf:log.csv#keymap=hf", r"^hf:log\.csv#keymap=hf: the key map is given twice \(hf: and #keymap=\)$"),
        ("log.csv#gaps=previous&gaps=linear", r"option 'gaps' is given twice$"),
        ("hf:#gaps=previous", r"no source before the options$"),
    ],
)
def test_parse_source_errors(text, message):
    with pytest.raises(UserError, match=message):
        parse_source(text)


def test_diff_mixes_sources_each_with_its_own_keymap(logs, capsys):
    identical = "all 1 series are identical"
    for argv in (
        ("runs/a", "out/checkpoint-6"),  # trainer_state.json: the HF convention is applied by itself
        ("runs/a", "metrics.csv#keymap=lightning"),
        ("lightning:metrics.csv", "custom.csv#keymap=km.json"),
        ("out", "metrics.csv", "--keymap", "-", "--keymap", "lightning"),
        ("runs/a", "metrics.csv", "--keymap", "auto"),  # once: for the sources that need one
        ("hf:out/checkpoint-6/trainer_state.json", "runs/a"),
    ):
        code, out, err = run_cli(capsys, "diff", *argv)
        assert (code, out.splitlines()[-1]) == (0, identical), (argv, out, err)
    code, out, err = run_cli(capsys, "diff", "runs/a", "out/checkpoint-6")
    assert "note: " in err and "logged step s was read as update s - 1" in err


def test_export_a_foreign_log_keeps_its_metrics(logs, capsys):
    code, out, err = run_cli(capsys, "export", "metrics.csv#keymap=lightning", "-o", "copy")
    assert code == 0 and out.startswith("wrote copy (values.csv (no metadata); 6 steps, 1 series)")
    copy = ps.replay.load("copy")
    assert copy.frame["hp/lr/g0"].to_dict() == logs
    assert copy.metrics["train_loss"].tolist() == [0.5] * TOTAL


def test_compare_draws_foreign_and_paramsched_runs_on_one_page(logs, capsys):
    pytest.importorskip("plotly")
    code, out, err = run_cli(capsys, "compare", "runs/a", "out", "lightning:metrics.csv", "-o", "c.html", "-q")
    assert code == 0, err
    assert Path("c.html").read_text(encoding="utf-8").count('<section class="run"') == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (("diff", "runs/a", "metrics.csv"),
         r"metrics\.csv: no series columns .*pass keymap='lightning', .* \(on the command line: --keymap NAME, "
         r"NAME:SRC or SRC#keymap=NAME\)$"),
        (("diff", "runs/a", "metrics.csv", "--keymap", "hf", "--keymap", "hf", "--keymap", "hf"),
         r"^--keymap is given 3 times for 2 sources: give it once \(for every source\) or once per source"),
        (("diff", "runs/a", "metrics.csv", "--keymap", "tb"),
         r"^--keymap must be one of auto, hf, lightning, paramsched, timm or a \.json keymap file, got 'tb'$"),
        (("diff", "runs/a", "custom.csv#keymap=nope.json"), r"^no keymap file at 'nope\.json'$"),
        (("diff", "runs/a", "custom.csv#keymap=bad.json"), r"^keymap file 'bad\.json' is not valid JSON: "),
        (("diff", "runs/a", "custom.csv#keymap=list.json"), r"^keymap file 'list\.json' must hold a JSON object"),
        (("export", "big", "-o", "copy"), r"big/values\.csv: column 'step' must hold steps < 2\*\*63 \(int64\), got 99999999999999999999 at line 3$"),
        (("export", "underscore", "-o", "copy"), r"underscore/values\.csv: series 'hp/lr/g0' has a non-numeric value '1_0' at step 1$"),
        (("diff", "runs/a", "deep"), r"deep/trainer_state\.json: not a trainer_state\.json \(JSON nested too deeply\)$"),
        (("export", "deeprun", "-o", "copy"), r"^deeprun: cannot be read: RecursionError: "),
        (("export", "runs/a#gaps=hold", "-o", "copy"), r"^gaps must be one of 'error', 'previous', 'linear', got gaps='hold'$"),
    ],
)
def test_user_mistakes_get_one_line_and_exit_2(logs, capsys, argv, message):
    Path("bad.json").write_text("{nope")
    Path("list.json").write_text("[1]")
    for name, row in (("big", "99999999999999999999,0.2"), ("underscore", "1,1_0")):
        Path(name).mkdir()
        Path(name, "values.csv").write_text(f"step,hp/lr/g0\n0,0.1\n{row}\n")
    for folder, name in (("deep", "trainer_state.json"), ("deeprun", "run.json")):
        Path(folder).mkdir()
        Path(folder, name).write_text("[" * 100_000 + "]" * 100_000)
    Path("deeprun/values.csv").write_text("step,hp/lr/g0\n0,0.1\n")
    code, out, err = run_cli(capsys, *argv)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("paramsched: error: ")
    assert re.search(message, lines[0][len("paramsched: error: "):]), lines[0]
