"""Data parallel training: `bert pretrain` under torchrun, two CPU processes talking through gloo.

The oracle is the single-process run that computes the same global batch as two accumulated
micro-batches: DDP's averaged gradient must be that run's accumulated gradient, so the weights
(and the logged losses) must agree, and the two processes' copies must agree exactly."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bert.model import WEIGHTS_FILE

BERT = str(Path(sys.executable).with_name("bert"))

# `pretrain(PretrainingRun(**JSON))`, and each process also saves the weights it holds when training
# ends, as replica-RANK.safetensors.
KEEP_EVERY_REPLICA = textwrap.dedent("""
    import json, os, sys
    from safetensors.torch import save_file
    import bert.pretrain
    real_train = bert.pretrain.train
    def train_then_save_replica(model, *args, **kwargs):
        state = real_train(model, *args, **kwargs)
        weights = {k: v.contiguous() for k, v in model.state_dict().items() if k not in model.tied_weights}
        save_file(weights, os.path.join(args[4], f"replica-{os.environ.get('RANK', '0')}.safetensors"))
        return state
    bert.pretrain.train = train_then_save_replica
    import torch
    from bert.scaling import start_processes
    processes = start_processes(torch.device("cpu"))  # the library's caller joins the processes
    try:
        bert.pretrain.pretrain(bert.pretrain.PretrainingRun(**json.loads(sys.argv[1])), progress_bar=False,
                               processes=processes)
    finally:
        processes.close()
""")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def run(command: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on two cores, and the same arithmetic
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]


def train_losses(out: Path) -> list[float]:
    records = map(json.loads, (out / "metrics.jsonl").read_text().splitlines())
    return [r["loss"] for r in records if r["split"] == "train"]


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.fixture
def worker(tmp_path) -> str:
    script = tmp_path / "keep_every_replica.py"
    script.write_text(KEEP_EVERY_REPLICA)
    return str(script)


@pytest.mark.parametrize("nsp, accumulate", [(False, 1), (True, 2)], ids=["mlm", "nsp-accumulating"])
def test_two_processes_train_the_model_of_one_process_that_accumulates(corpus, vocabulary, tmp_path, worker,
                                                                       nsp, accumulate):
    """2 processes x `accumulate` micro-batches == 1 process x 2 * `accumulate` micro-batches."""
    settings = dict(corpus=str(corpus), tokenizer=str(vocabulary), max_steps=4, batch_size=8, max_seq_len=32,
                    nsp=nsp, log_every=1, checkpoint_every_steps=2, device="cpu")
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    if accumulate == 1:  # the command line itself, as one types it
        run([*TORCHRUN, "--no-python", BERT, "pretrain", "--out", str(ddp), "--corpus", str(corpus),
             "--tokenizer", str(vocabulary), "--max-steps", "4", "--batch-size", "8", "--max-seq-len", "32",
             "--no-nsp", "--log-every", "1", "--checkpoint-every-steps", "2", "--device", "cpu", "--no-progress"])
    else:
        run([*TORCHRUN, worker, json.dumps({**settings, "out": str(ddp), "grad_accum_steps": accumulate})])
    run([sys.executable, worker, json.dumps({**settings, "out": str(single), "grad_accum_steps": 2 * accumulate})])

    summary = json.loads((ddp / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["replica_max_abs_diff"] == 0.0  # the ranks' own comparison
    saved, reference = load_file(ddp / WEIGHTS_FILE), load_file(single / WEIGHTS_FILE)
    if accumulate > 1:  # and ours, from the weights that each process saved
        rank0, rank1 = load_file(ddp / "replica-0.safetensors"), load_file(ddp / "replica-1.safetensors")
        assert max_abs_diff(rank0, rank1) == 0.0  # the copies never drift apart
        assert max_abs_diff(saved, rank0) == 0.0  # rank 0 saved what it held
    assert max_abs_diff(saved, reference) <= 1e-5  # and that is what one process computes alone
    halfway = load_file(single / "checkpoints" / "step-000002" / WEIGHTS_FILE)
    assert max_abs_diff(reference, halfway) > 5e-4  # the last two steps moved weights 50x the tolerance
    untouched = [k for k in reference if torch.equal(reference[k], halfway[k])]  # no gradient, no update
    assert bool(untouched) == (not nsp)  # the pooler and NSP head of an MLM-only run
    assert all(torch.equal(saved[k], reference[k]) for k in untouched)  # not even weight decay under DDP

    assert train_losses(ddp) == pytest.approx(train_losses(single), abs=1e-5)  # losses of the global batch
    assert len(train_losses(ddp)) == 4
    assert sorted(p.name for p in (ddp / "checkpoints").iterdir()) == ["step-000002", "step-000004"]


def test_a_resumed_two_process_run_repeats_the_uninterrupted_one(corpus, vocabulary, tmp_path):
    """Exact resume under torchrun: the checkpoint of step 2 (weights, Adam, random state and the
    sampler's state, which names the memory-mapped data) continues to the weights of the run that
    never stopped, each rank reading its own micro-batches of the same cached examples again."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    command = [*TORCHRUN, "--no-python", BERT, "pretrain", "--corpus", str(corpus), "--tokenizer",
               str(vocabulary), "--max-steps", "4", "--batch-size", "8", "--max-seq-len", "32", "--no-nsp",
               "--log-every", "1", "--checkpoint-every-steps", "2", "--device", "cpu", "--no-progress"]
    run([*command, "--out", str(straight)])
    shutil.copytree(straight, resumed)
    shutil.rmtree(resumed / "checkpoints" / "step-000004")  # as if it had stopped after step 2
    run([*command, "--out", str(resumed), "--resume"])
    assert train_losses(resumed) == train_losses(straight)
    assert max_abs_diff(load_file(resumed / WEIGHTS_FILE), load_file(straight / WEIGHTS_FILE)) == 0.0
