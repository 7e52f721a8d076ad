"""bert.speed: the FLOP count against PyTorch's FlopCounterMode, the profile's bookkeeping, the timer's turns."""

import time

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bert.config import preset
from bert.heads import BertForPreTraining
from bert.speed import matmul_flops, pretraining_parts, profile_step, time_alternating, training_step_flops

VOCAB = 1000


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    config = preset("tiny", vocab_size=VOCAB)
    model = BertForPreTraining(config).train()
    ids = torch.randint(5, VOCAB, (4, 32))
    labels = torch.where(torch.rand(ids.shape) < 0.15, ids, torch.full_like(ids, -100))
    labels[0, 0] = ids[0, 0]  # at least one label
    return config, model, ids, labels


@pytest.mark.parametrize("sparse", [False, True])
def test_training_step_flops_match_flop_counter(setup, sparse):
    config, model, ids, labels = setup
    with FlopCounterMode(display=False) as counter:
        model(ids, labels=labels, sparse=sparse).loss.backward()
    model.zero_grad(set_to_none=True)
    decoded = int((labels != -100).sum()) if sparse else ids.numel()
    formula = training_step_flops(config, *ids.shape, decoded_tokens=decoded)
    assert formula == pytest.approx(counter.get_total_flops(), rel=0.02)


def test_profile_step_splits_a_step_into_parts_within_its_wall_time(setup):
    config, model, ids, labels = setup
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        model(ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    seconds = profile_step(step, pretraining_parts(model))
    wall = time.perf_counter() - start
    for part in ("embeddings", "attention", "feed-forward", "MLM head + loss"):
        assert seconds[part, "forward"] > 0 and seconds[part, "backward"] > 0, part
    assert seconds["optimizer", "optimizer"] > 0
    assert all(v >= 0 for v in seconds.values())
    assert sum(seconds.values()) <= wall  # each moment counted once, inside the profiled call
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())  # hooks removed


def test_time_alternating_takes_turns_and_drops_the_warmup():
    calls = []
    times = time_alternating({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3, warmup=2)
    assert calls == ["a", "b"] * 5
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}


def test_matmul_flops_is_a_positive_rate():
    assert matmul_flops(64, repeats=2) > 0
