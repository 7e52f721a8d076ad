"""Pretraining-step throughput: ours against transformers, same config, same weights, same batches.

    .venv/bin/python bench/train_throughput.py [--preset mini] [--seq-len 128] [--batch-size 32]
        [--steps 8] [--warmup 2] [--out bench/results/train_throughput-mini.json]

Each model gets its own AdamW; a step is forward + backward + optimizer step on a batch with 15 %
of the positions labelled and NSP labels. The three contenders alternate step by step, so that a
slow minute on a shared machine hits all of them alike, and the median step time of each is
reported as tokens/s, with the ratio ours / transformers. Model FLOP/s are divided by an fp32
matrix-multiply peak measured in the same process, once before and once in every round (MFU), with the arithmetic that each model
actually does (bert.speed.training_step_flops): the vocabulary projection on every position (dense)
or only on the masked ones (sparse). With --out, the results are also written there as JSON.
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch
import transformers

from bert.config import config_to_dict, preset
from bert.files import atomic_write
from bert.heads import BertForPreTraining
from bert.speed import machine_info, matmul_flops, time_alternating, training_step_flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="mini", help="a preset of bert.config (mini, small, ...)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per contender first")
    parser.add_argument("--out", type=Path, help="write the results to this JSON file")
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
    contenders = {  # name: (model, optimizer, extra arguments, rows the MLM head decodes)
        "ours, sparse": (ours, optimizers["ours"], dict(sparse=True), masked),
        "ours, dense": (ours, optimizers["ours"], dict(sparse=False), ids.numel()),
        "transformers": (theirs, optimizers["theirs"], {}, ids.numel()),
    }

    def step(model, optimizer, options):
        def run() -> None:
            model(**batch, **options).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return run

    n = 2048  # the peak is measured before and in every round: on a shared machine, the best of them
    a, b = torch.randn(n, n), torch.randn(n, n)
    rounds = {name: step(*c[:3]) for name, c in contenders.items()} | {"matmul": lambda: torch.mm(a, b)}
    peak = matmul_flops(n)
    times = time_alternating(rounds, args.steps, args.warmup)
    peak = max(peak, 2 * n**3 / min(times.pop("matmul")))

    tokens = ids.numel()
    title = (f"pretraining step, BERT-{args.preset} ({config.num_hidden_layers} layers, hidden "
             f"{config.hidden_size}, vocab {config.vocab_size}), batch {args.batch_size} x {args.seq_len}, "
             f"{masked} masked")
    print(f"{title}; {torch.get_num_threads()} threads; fp32 peak {peak / 1e9:.0f} GFLOP/s")
    reference = statistics.median(times["transformers"])
    rows = {}
    for name, (_, _, _, decoded) in contenders.items():
        median = statistics.median(times[name])
        flops = training_step_flops(config, args.batch_size, args.seq_len, decoded)
        rows[name] = {"median_s": median, "tokens_per_s": tokens / median, "ratio_vs_transformers": reference / median,
                      "flops_per_step": flops, "mfu": flops / median / peak, "times_s": times[name]}
        print(f"{name:>13}: {tokens / median:8.0f} tokens/s  {median * 1e3:7.0f} ms/step  "
              f"x{reference / median:.2f} vs transformers  MFU {rows[name]['mfu']:.0%}")

    if args.out:
        result = {"benchmark": "train_throughput", "title": title, "unit": "tokens/s",
                  "preset": args.preset, "config": config_to_dict(config), "batch_size": args.batch_size,
                  "seq_len": args.seq_len, "masked_tokens": masked, "warmup_steps": args.warmup,
                  "timed_steps": args.steps, "machine": machine_info(), "transformers": transformers.__version__,
                  "peak_flops": peak, "contenders": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
