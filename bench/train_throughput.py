"""Pretraining-step throughput: ours against transformers, same config, same weights, same batches.

    .venv/bin/python bench/train_throughput.py [--preset mini] [--seq-len 128] [--batch-size 32] [--steps 8]

Each model gets its own AdamW; a step is forward + backward + optimizer step on a batch with 15 %
of the positions labelled and NSP labels. The three contenders alternate step by step, so that a
slow minute on a shared machine hits all of them alike, and the median step time of each is
reported as tokens/s, with the ratio ours / transformers. Model FLOP/s are divided by an fp32
sgemm peak measured in the same process (MFU), with the arithmetic that each model actually does:
6 FLOPs per parameter per token in the encoder, the attention scores and weighted sums, and the
vocabulary projection on every position (dense) or only on the masked ones (sparse).
"""

import argparse
import statistics
import tempfile
import time

import torch
import transformers

from bert.config import parameter_counts, preset
from bert.heads import BertForPreTraining


def sgemm_flops(n: int = 2048, repeats: int = 5) -> float:
    """Best measured fp32 matrix-multiply FLOP/s: the practical peak of this CPU."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_flops(config, batch_size: int, seq_len: int, decoded_tokens: int) -> float:
    """Model FLOPs of one training step (forward + backward = 3x forward)."""
    H, V, L = config.hidden_size, config.vocab_size, config.num_hidden_layers
    tokens = batch_size * seq_len
    encoder = parameter_counts(config)["encoder"]
    attention = 2 * 2 * seq_len * H * L  # QK^T and weights @ V, per token, forward
    head = 2 * (H * H + H * V)  # transform + decoder, per decoded token, forward
    return 3 * (tokens * (2 * encoder + attention) + decoded_tokens * head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per contender (after 2 warm-up steps)")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = preset(args.preset)
    ours = BertForPreTraining(config).train()
    with tempfile.TemporaryDirectory() as folder:  # identical weights, through the shared format
        ours.save_pretrained(folder)
        theirs = transformers.BertForPreTraining.from_pretrained(folder, attn_implementation="sdpa").train()

    ids = torch.randint(5, config.vocab_size, (args.batch_size, args.seq_len))
    labels = torch.where(torch.rand(ids.shape) < 0.15, ids, torch.full_like(ids, -100))
    batch = dict(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids),
                 labels=labels, next_sentence_label=torch.randint(0, 2, (args.batch_size,)))
    masked = int((labels != -100).sum())

    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-4)
                  for name, model in (("ours", ours), ("theirs", theirs))}
    contenders = {
        "ours, sparse": (ours, optimizers["ours"], dict(sparse=True), masked),
        "ours, dense": (ours, optimizers["ours"], dict(sparse=False), ids.numel()),
        "transformers": (theirs, optimizers["theirs"], {}, ids.numel()),
    }

    def step(model, optimizer, options) -> None:
        model(**batch, **options).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    peak = sgemm_flops()
    times = {name: [] for name in contenders}
    for repeat in range(args.steps + 2):
        for name, (model, optimizer, options, _) in contenders.items():
            seconds = _seconds(lambda: step(model, optimizer, options))
            if repeat >= 2:
                times[name].append(seconds)

    tokens = ids.numel()
    print(f"{args.preset}: {config.num_hidden_layers} layers, hidden {config.hidden_size}, vocab {config.vocab_size}; "
          f"batch {args.batch_size} x {args.seq_len}, {masked} masked; {torch.get_num_threads()} threads; "
          f"sgemm peak {peak / 1e9:.0f} GFLOP/s")
    reference = statistics.median(times["transformers"])
    for name, (_, _, _, decoded) in contenders.items():
        median = statistics.median(times[name])
        mfu = step_flops(config, args.batch_size, args.seq_len, decoded) / median / peak
        print(f"{name:>13}: {tokens / median:8.0f} tokens/s  {median * 1e3:7.0f} ms/step  "
              f"x{reference / median:.2f} vs transformers  MFU {mfu:.0%}")


if __name__ == "__main__":
    main()
