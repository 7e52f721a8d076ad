"""Encoder inference throughput on real weights: ours against transformers, same batches.

    .venv/bin/python bench/inference.py [--batch-size 32] [--batches 12] [--out bench/results/inference.json]

Both libraries load all-MiniLM-L6-v2 from the same folder and encode the same padded batches of
real Wikipedia sentences (the embedded corpus), in eval mode without gradients. The two alternate
batch by batch; the report is the median throughput in real (non-padding) tokens per second, the
ratio ours / transformers, and model FLOP/s (of the real tokens, each sequence at its own length)
over an fp32 matrix-multiply peak measured in the same process, before and after every batch. With --out, the results are also written there as JSON.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import transformers

from bert.files import atomic_write
from bert.data import split_sentences
from bert.model import BertModel
from bert.speed import encoder_forward_flops, machine_info, matmul_flops, time_alternating
from bert.tokenizer import BertTokenizer
from bert.files import minilm_path, wikipedia_summaries


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--out", type=Path, help="write the results to this JSON file")
    args = parser.parse_args()

    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    ours = BertModel.from_pretrained(minilm_path())
    theirs = transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()
    sentences = [s for text in wikipedia_summaries()[:2000] for s in split_sentences(text)]
    batches = [tokenizer(sentences[i:i + args.batch_size], max_length=128)
               for i in range(0, args.batch_size * args.batches, args.batch_size)]

    n = 2048  # the peak is measured before and after every batch: on a shared machine, the best of them
    a, b = torch.randn(n, n), torch.randn(n, n)
    peak = matmul_flops(n)
    contenders = {"ours": ours, "transformers": theirs}
    times = {name: [] for name in contenders}
    for model in contenders.values():  # warm-up
        model(**batches[0])
    for batch in batches:  # the two take turns on each batch
        for name, model in contenders.items():
            start = time.perf_counter()
            model(**batch)
            times[name].append(time.perf_counter() - start)
        peak = max(peak, 2 * n**3 / min(time_alternating({"matmul": lambda: torch.mm(a, b)}, 1, 0)["matmul"]))

    real_tokens = statistics.median(int(b["attention_mask"].sum()) for b in batches)
    flops = statistics.median(  # the arithmetic of the real tokens: padding is not work the model needs
        sum(encoder_forward_flops(ours.config, 1, int(n)) for n in b["attention_mask"].sum(1)) for b in batches)
    padding = 1 - sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["input_ids"].numel() for b in batches)
    title = (f"encoder inference, all-MiniLM-L6-v2, {args.batches} batches of {args.batch_size} Wikipedia "
             f"sentences ({padding:.0%} padding)")
    print(f"{title}; {torch.get_num_threads()} threads; fp32 peak {peak / 1e9:.0f} GFLOP/s")
    reference = statistics.median(times["transformers"])
    rows = {}
    for name, seconds in times.items():
        median = statistics.median(seconds)
        rows[name] = {"median_s": median, "tokens_per_s": real_tokens / median, "ratio_vs_transformers": reference / median,
                      "flops_per_batch": flops, "mfu": flops / median / peak, "times_s": seconds}
        print(f"{name:>12}: {real_tokens / median:8.0f} real tokens/s  {median * 1e3:6.1f} ms/batch  "
              f"x{reference / median:.2f} vs transformers  MFU {rows[name]['mfu']:.0%}")

    if args.out:
        result = {"benchmark": "inference", "title": title, "unit": "real tokens/s", "model": "all-MiniLM-L6-v2",
                  "batch_size": args.batch_size, "batches": args.batches, "padding": padding,
                  "machine": machine_info(), "transformers": transformers.__version__, "peak_flops": peak,
                  "contenders": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
