"""The training loop: schedule, optimizer groups, exact resume after SIGKILL, crash-safe checkpoints, NaN."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from bert.config import preset
from bert.data import MaskingCollator
from bert.heads import BertForPreTraining
from bert.pretrain import freeze_unused_heads
from bert.tokenizer import BertTokenizer
from bert.checkpoints import latest_checkpoint, load_checkpoint
from bert.tasks import train
from bert.trainer import TrainingConfig, TrainingDiverged, configure_optimizer, learning_rate
from conftest import WORDS, kill_when_exists

BERT = str(Path(sys.executable).with_name("bert"))


@pytest.fixture(scope="module")
def pretrain_command(corpus, vocabulary):
    """`bert pretrain` for 12 steps on the small corpus with the fixed vocabulary, plus extra flags."""
    def command(out: Path, *extra: str) -> list[str]:
        return [BERT, "pretrain", "--corpus", str(corpus), "--tokenizer", str(vocabulary), "--out", str(out),
                "--max-steps", "12", "--batch-size", "8", "--max-seq-len", "32", "--log-every", "1",
                "--checkpoint-every-steps", "4", "--no-progress", "--device", "cpu", *extra]
    return command


def train_losses(out: Path) -> list[tuple[int, float]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if r["split"] == "train"]


def test_learning_rate_schedule_closed_form():
    assert learning_rate(0.0, 1e-3, 0.1) == 0.0
    assert learning_rate(0.05, 1e-3, 0.1) == pytest.approx(5e-4)
    assert learning_rate(0.1, 1e-3, 0.1) == pytest.approx(1e-3)
    assert learning_rate(0.55, 1e-3, 0.1) == pytest.approx(5e-4)
    assert learning_rate(1.0, 1e-3, 0.1) == 0.0


def test_no_weight_decay_on_biases_and_layernorm():
    model = BertForPreTraining(preset("tiny", vocab_size=100))
    decay, no_decay = configure_optimizer(model, TrainingConfig(max_steps=1)).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.dim() >= 2 for p in decay["params"]) and decay["weight_decay"] == 0.01
    assert no_decay["weight_decay"] == 0.0
    assert {names[id(p)] for p in no_decay["params"]} == {
        n for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n}


def test_config_needs_exactly_one_stopping_rule():
    with pytest.raises(ValueError, match="exactly one of max_steps, minutes and epochs"):
        TrainingConfig()
    with pytest.raises(ValueError, match="exactly one of max_steps, minutes and epochs"):
        TrainingConfig(max_steps=5, minutes=1)


@pytest.mark.parametrize("architecture", ["bert", "modernbert"])
def test_resume_after_sigkill_repeats_the_uninterrupted_run(pretrain_command, tmp_path, architecture):
    straight = tmp_path / "straight"
    subprocess.run(pretrain_command(straight, "--architecture", architecture), check=True, capture_output=True)
    reference = train_losses(straight)
    assert [step for step, _ in reference] == list(range(1, 13))
    assert json.loads((straight / "config.json").read_text())["model_type"] == architecture

    killed = tmp_path / "killed"
    kill_when_exists(pretrain_command(killed, "--architecture", architecture),
                     killed / "checkpoints" / "step-000008")  # after the 2nd checkpoint
    assert not (killed / "summary.json").exists()

    subprocess.run(pretrain_command(killed, "--resume"), check=True, capture_output=True)
    assert train_losses(killed) == reference  # same steps, bit-identical losses


def test_resume_rebuilds_a_lost_data_cache_and_refuses_changed_data(corpus, vocabulary, tmp_path):
    """The sampler's state is in the checkpoint: a resumed run whose tokenized corpus was deleted
    rebuilds it and repeats the uninterrupted run bit for bit; one whose corpus changed is refused."""
    text = tmp_path / "corpus.txt"
    text.write_text(corpus.read_text())
    cache = tmp_path / "cache"

    def command(out, *extra):
        return [BERT, "pretrain", "--corpus", str(text), "--tokenizer", str(vocabulary), "--out", str(out),
                "--max-steps", "8", "--batch-size", "8", "--max-seq-len", "32", "--log-every", "1",
                "--checkpoint-every-steps", "4", "--no-progress", "--device", "cpu", "--data-cache", str(cache),
                *extra]

    straight = tmp_path / "straight"
    subprocess.run(command(straight), check=True, capture_output=True)
    killed = tmp_path / "killed"
    kill_when_exists(command(killed), killed / "checkpoints" / "step-000004")
    state = json.loads((killed / "checkpoints" / "step-000004" / "trainer_state.json").read_text())
    assert state["sampler"]["data"].startswith("examples-") and state["sampler"]["micro_batch_size"] == 8

    shutil.rmtree(cache)
    subprocess.run(command(killed, "--resume"), check=True, capture_output=True)
    assert train_losses(killed) == train_losses(straight)

    text.write_text(text.read_text().replace("river", "River", 1))  # the same size, another corpus
    result = subprocess.run(command(straight, "--resume", "--max-steps", "12"), capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "was trained on other data ({'examples'" in result.stderr and "resume it on the corpus" in result.stderr


KILL_DURING_SAVE = textwrap.dedent("""
    import os, signal, sys
    import bert.checkpoints
    from bert.cli import main
    real_save_file, calls = bert.checkpoints.save_file, []
    def save_file_then_die(tensors, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: model.safetensors is written, the rest is not
            os.kill(os.getpid(), signal.SIGKILL)
        return real_save_file(tensors, path, *args, **kwargs)
    bert.checkpoints.save_file = save_file_then_die
    sys.exit(main(sys.argv[1:]))
""")


def test_kill_during_checkpoint_write_keeps_the_previous_checkpoint(pretrain_command, tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-c", KILL_DURING_SAVE, *pretrain_command(out)[1:]]
    result = subprocess.run(command, capture_output=True)
    assert result.returncode == -signal.SIGKILL
    assert (out / "checkpoints" / "step-000008.tmp").exists()  # the half-written one
    checkpoint = latest_checkpoint(out)
    assert checkpoint.name == "step-000004"

    config = json.loads((checkpoint / "config.json").read_text())
    model = BertForPreTraining(preset("tiny", vocab_size=config["vocab_size"]))
    freeze_unused_heads(model, nsp=False)  # as the MLM-only run did
    state = load_checkpoint(checkpoint, model, configure_optimizer(model, TrainingConfig(max_steps=1)))
    assert state["step"] == 4 and all(torch.isfinite(p).all() for p in model.parameters())

    subprocess.run(pretrain_command(out, "--resume"), check=True, capture_output=True)
    assert [step for step, _ in train_losses(out)] == list(range(1, 13))
    assert not (out / "checkpoints" / "step-000008.tmp").exists()


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizer.from_pretrained(vocab)
    g = torch.Generator().manual_seed(0)
    examples = [{"input_ids": [2, *torch.randint(5, 5 + len(WORDS), (20,), generator=g).tolist(), 3],
                 "token_type_ids": [0] * 22} for _ in range(64)]
    torch.manual_seed(0)
    model = BertForPreTraining(preset("tiny", vocab_size=tokenizer.vocab_size))
    forward, calls = model.forward, []

    def forward_that_diverges(*args, **kwargs):
        out = forward(*args, **kwargs)
        calls.append(1)
        if len(calls) == 6:
            out.loss = out.loss * float("nan")
        return out

    model.forward = forward_that_diverges
    config = TrainingConfig(max_steps=10, batch_size=8, checkpoint_every_steps=4)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 6.*step-000004"):
        train(model, examples, None, MaskingCollator(tokenizer), config, tmp_path, progress_bar=False)
    assert latest_checkpoint(tmp_path).name == "step-000004"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000004"]


def test_resume_without_a_checkpoint_is_a_clear_error(pretrain_command, tmp_path):
    result = subprocess.run(pretrain_command(tmp_path / "empty", "--resume"), capture_output=True, text=True)
    assert result.returncode == 1
    assert "no run.json" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def one_thread():
    """Tiny steps stay tiny on a busy machine only without thread oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_time_budget_ends_the_run(tmp_path, one_thread):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizer.from_pretrained(vocab)
    examples = [{"input_ids": [2, 5, 6, 7, 8, 3], "token_type_ids": [0] * 6}] * 32
    model = BertForPreTraining(preset("tiny", vocab_size=tokenizer.vocab_size))
    budget = 0.05  # minutes
    state = train(model, examples, None, MaskingCollator(tokenizer),
                  TrainingConfig(minutes=budget, batch_size=8, checkpoint_every_minutes=0, log_every=1),
                  tmp_path, progress_bar=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    # the first step past the budget is the last (metrics.jsonl rounds elapsed to 0.01 s)
    assert records[-2]["elapsed"] < budget * 60 + 0.01 and budget * 60 <= state["elapsed"]
    rates = [r["lr"] for r in records]
    peak = rates.index(max(rates))
    assert rates[peak:] == sorted(rates[peak:], reverse=True) and rates[-1] < rates[peak]  # decaying to the end
