"""Encoder inference throughput on real weights: ours against transformers, same batches.

    .venv/bin/python bench/inference.py [--batch-size 32] [--batches 12]

Both libraries load all-MiniLM-L6-v2 from the same folder and encode the same padded batches of
real Wikipedia sentences (the embedded corpus), in eval mode without gradients. The two alternate
batch by batch; the report is the median throughput in real (non-padding) tokens per second, the
ratio ours / transformers, and model FLOP/s over an sgemm peak measured in the same process.
"""

import argparse
import statistics
import time

import torch
import transformers

from bert.config import parameter_counts
from bert.data import split_sentences
from bert.model import BertModel
from bert.tokenizer import BertTokenizer, minilm_path, wikipedia_summaries
from train_throughput import sgemm_flops


def forward_flops(config, batch: dict) -> float:
    """2 FLOPs per encoder parameter per position, plus the attention scores and weighted sums."""
    B, L = batch["input_ids"].shape
    attention = 2 * 2 * L * config.hidden_size * config.num_hidden_layers
    return B * L * (2 * parameter_counts(config)["encoder"] + attention)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=12)
    args = parser.parse_args()

    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    ours = BertModel.from_pretrained(minilm_path())
    theirs = transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()
    sentences = [s for text in wikipedia_summaries()[:2000] for s in split_sentences(text)]
    batches = [tokenizer(sentences[i:i + args.batch_size], max_length=128)
               for i in range(0, args.batch_size * args.batches, args.batch_size)]

    peak = sgemm_flops()
    times = {"ours": [], "transformers": []}
    for model in (ours, theirs):  # warm-up
        model(**batches[0])
    for batch in batches:
        for name, model in (("ours", ours), ("transformers", theirs)):
            start = time.perf_counter()
            model(**batch)
            times[name].append(time.perf_counter() - start)

    real_tokens = statistics.median(int(b["attention_mask"].sum()) for b in batches)
    flops = statistics.median(forward_flops(ours.config, b) for b in batches)
    padding = 1 - sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["input_ids"].numel() for b in batches)
    print(f"all-MiniLM-L6-v2, {args.batches} batches of {args.batch_size} Wikipedia sentences "
          f"({padding:.0%} padding); {torch.get_num_threads()} threads; sgemm peak {peak / 1e9:.0f} GFLOP/s")
    reference = statistics.median(times["transformers"])
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:>12}: {real_tokens / median:8.0f} real tokens/s  {median * 1e3:6.1f} ms/batch  "
              f"x{reference / median:.2f} vs transformers  MFU {flops / median / peak:.0%}")


if __name__ == "__main__":
    main()
