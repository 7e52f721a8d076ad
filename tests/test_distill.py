"""Chapter 11, "A teacher": `bert distill` teaches a pretrained folder a teacher's sentence vectors.

- The unlabelled text holds every training review and no dev or test review (the table scores those).
- The distilled folder is a BertForPreTraining folder of the student's shape that `transformers` loads; the
  encoder moved, the MLM head's own layers (which no gradient reaches) did not, the pooler moved only when it
  made the student's vector, and training moved the student's vectors towards the teacher's.
- Bad settings stop with one line and write nothing.
"""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

from bert.distill import DistillationRun, distill, unlabelled_texts
from bert.model import read_weights
from bert.tasks import rotten_tomatoes, split_task
from conftest import WORDS
from test_bad_inputs import assert_nothing_written, assert_user_error, model_folder, run_cli, write_csv  # noqa: F401


def test_unlabelled_texts_hold_every_training_review_and_no_dev_or_test_review():
    texts = set(unlabelled_texts("rotten-tomatoes", split_seed=0, wikipedia="none"))
    splits = split_task(rotten_tomatoes(), seed=0)
    assert texts == set(splits["train"].texts)
    scored = set(splits["dev"].texts) | set(splits["test"].texts)
    assert len(scored) == 2550 and not texts & scored
    first = unlabelled_texts("rotten-tomatoes", split_seed=0)
    every = unlabelled_texts("rotten-tomatoes", split_seed=0, wikipedia="all")
    assert len(first) > len(texts) + 9000 and not set(first) & scored
    assert set(first) < set(every) and len(every) > len(first) + 20000 and not set(every) & scored


@pytest.fixture(scope="module")
def student(model_folder):
    """An untrained tiny BertForPreTraining folder with the shared test vocabulary (test_bad_inputs')."""
    return model_folder


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """200 distinct labelled texts: 160 in the training split."""
    rows = [[f"{WORDS[i % len(WORDS)]} {WORDS[i // len(WORDS)]} {'light' if i % 2 else 'dark'}",
             "pos" if i % 2 else "neg"] for i in range(200)]
    return write_csv(tmp_path_factory.mktemp("task") / "task.csv", ["text", "label"], rows)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_distilled_folder_is_the_students_shape_and_moved_towards_the_teacher(student, task, tmp_path, pooling):
    out = tmp_path / "distilled"
    run = DistillationRun(student=str(student), out=str(out), task=str(task), wikipedia="none", max_steps=60,
                          batch_size=16, eval_every_steps=30, log_every=1, device="cpu", pooling=pooling)
    summary = distill(run, progress_bar=False)
    assert summary["texts"] == {"train": 157, "held_out": 3}  # 160 training rows of the split, 2 % held out

    before, after = read_weights(student), read_weights(out)
    assert after.keys() == before.keys() and json.loads((out / "config.json").read_text())["architectures"] == [
        "BertForPreTraining"]
    assert not torch.equal(after["bert.encoder.layer.0.attention.self.query.weight"],
                           before["bert.encoder.layer.0.attention.self.query.weight"])
    for name in before:  # the MLM head's transform and the NSP head read nothing the loss uses
        if name.startswith(("cls.predictions.transform.", "cls.seq_relationship.")):
            assert torch.equal(after[name], before[name]), name
    # the pooler is trained exactly when the student's vector is the pooled [CLS]
    pooler = "bert.pooler.dense.weight"
    assert torch.equal(after[pooler], before[pooler]) == (pooling == "mean")

    logged = [json.loads(line) for line in open(out / "metrics.jsonl")]
    cosines = [record["teacher_cosine"] for record in logged if "teacher_cosine" in record]
    assert len(cosines) == 60 and sum(cosines[-10:]) / 10 > sum(cosines[:10]) / 10 + 0.1
    assert summary["held_out_cosine"] == [r for r in logged if "held_out_cosine" in r][-1]["held_out_cosine"]

    transformers = pytest.importorskip("transformers")
    theirs, info = transformers.BertForPreTraining.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info


def distill_args(student, task, out, *extra) -> list:
    return ["distill", "--student", student, "--task", task, "--out", out, "--wikipedia", "none", "--max-steps", "2",
            "--batch-size", "8", "--no-progress", "--device", "cpu", *extra]


@pytest.mark.parametrize("extra, fragments", [
    (["--eval-fraction", "1.5"], ["--eval-fraction must be"]),
    (["--max-length", "2"], ["--max-length must be at least 3"]),
    (["--teacher", "no/such/folder"], ["no/such/folder"]),
    (["--batch-size", "400"], ["cannot fill one micro-batch of 400"]),
])
def test_distill_bad_flags(capsys, tmp_path, student, task, extra, fragments):
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *distill_args(student, task, out, *extra)), *fragments, command="distill")
    assert_nothing_written(out)


def test_distill_refuses_to_write_into_its_student(capsys, student, task):
    out = student / "distilled"
    assert_user_error(*run_cli(capsys, *distill_args(student, task, out)), "inside the --student folder", "choose another --out",
                      command="distill")
    assert not out.exists()
