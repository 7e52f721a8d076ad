"""Unpadding on a CPU: inference, sentence embeddings and a pretraining step, each against its baseline in the same run.

    .venv/bin/python bench/unpadding.py [--rounds 3] [--out bench/results/unpadding/unpadding.json]

1. Inference: all-MiniLM-L6-v2 on bench/inference.py's batches (12 batches of 32 Wikipedia
   sentences in the corpus's order, 55 % padding): transformers' BertModel (SDPA), our padded
   BertModel, and our UnpaddedBertModel with four ways of attending per text: scores in the padded
   rectangle (the package's), one attention call per text, nested tensors, and one block-diagonal
   mask over all the batch's real tokens. Contenders take turns on every batch; medians.
2. Sentence embeddings: `bert.finetune.embed` of 512 sentences (256 reviews, 256 Wikipedia
   sentences, alternating), batch 32, padded and unpadded, against sentence-transformers'
   `encode` of the same model (mean pooling, unit length), whose vectors must agree within 1e-5.
   sentence-transformers is not a dependency of the package: `make bench-unpadding` installs it
   into .cache/bench-packages for this script only; without it, this part is skipped.
3. A pretraining step (forward, backward, AdamW) of BERT-mini with sparse MLM on 15 % of the
   tokens: padded batches of 32 Wikipedia sentences, the same batches unpadded, and the same real
   tokens packed into full rows of 128 (chapter 7's layout). Throughput in real tokens per second.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers

from bert.config import preset
from bert.data import split_sentences
from bert.files import atomic_write, minilm_path, wikipedia_summaries
from bert.finetune import embed
from bert.heads import BertForPreTraining
from bert.model import BertModel
from bert.speed import machine_info
from bert.tasks import rotten_tomatoes
from bert.tokenizer import BertTokenizer
from bert.unpadding import Unpadded, UnpaddedBertModel, unpadded
import bert.unpadding

ROOT = Path(__file__).resolve().parents[1]


def attention_per_text(attention, x, where: Unpadded):
    """One fused attention call per text, on its own tokens."""
    heads, d = attention.num_heads, attention.head_size
    lengths = torch.bincount(where.indices // where.seq_len, minlength=where.batch_size).tolist()
    q, k, v = (proj(x) for proj in (attention.query, attention.key, attention.value))
    out, start = [], 0
    for n in lengths:
        q_, k_, v_ = (t[start:start + n].view(n, heads, d).transpose(0, 1) for t in (q, k, v))
        out.append(F.scaled_dot_product_attention(q_, k_, v_).transpose(0, 1).reshape(n, heads * d))
        start += n
    return torch.cat(out)


def attention_nested(attention, x, where: Unpadded):
    """PyTorch's jagged nested tensors: one call, no padding inside it."""
    heads, d = attention.num_heads, attention.head_size
    lengths = torch.bincount(where.indices // where.seq_len, minlength=where.batch_size)
    offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)])
    q, k, v = (torch.nested.nested_tensor_from_jagged(proj(x).view(-1, heads, d), offsets).transpose(1, 2)
               for proj in (attention.query, attention.key, attention.value))
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).values().reshape(-1, heads * d)


def attention_block_diagonal(attention, x, where: Unpadded):
    """All T real tokens as one sequence, a (T, T) mask that keeps each text to itself."""
    heads, d = attention.num_heads, attention.head_size
    text = where.indices // where.seq_len
    same = text[:, None] == text[None, :]
    q, k, v = (proj(x).view(-1, heads, d).transpose(0, 1)[None] for proj in (attention.query, attention.key, attention.value))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=same)
    return out[0].transpose(0, 1).reshape(-1, heads * d)


def with_attention(model, attend):
    """A call of the unpadded model with another attention (swapped in for the call only)."""
    def run(**batch):
        original = bert.unpadding.attend_real_tokens
        bert.unpadding.attend_real_tokens = attend
        try:
            return model(**batch)
        finally:
            bert.unpadding.attend_real_tokens = original
    return run


def wikipedia_sentences() -> list[str]:
    return [s for text in wikipedia_summaries()[:2000] for s in split_sentences(text)]


@torch.no_grad()
def inference(tokenizer, rounds: int) -> dict:
    padded = BertModel.from_pretrained(minilm_path())
    ours = UnpaddedBertModel.from_pretrained(minilm_path())
    theirs = transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()
    sentences = wikipedia_sentences()
    batches = [tokenizer(sentences[i:i + 32], max_length=128) for i in range(0, 32 * 12, 32)]
    contenders = {
        "transformers": theirs,
        "ours, padded": padded,
        "ours, unpadded": ours,
        "ours, unpadded, attention per text": with_attention(ours, attention_per_text),
        "ours, unpadded, nested tensors": with_attention(ours, attention_nested),
        "ours, unpadded, block-diagonal mask": with_attention(ours, attention_block_diagonal),
    }
    worst = {}
    for name, model in contenders.items():  # warm-up, and every contender agrees with the padded model
        for batch in batches:
            mask = batch["attention_mask"].bool()
            diff = (model(**batch).last_hidden_state - padded(**batch).last_hidden_state)[mask].abs().max()
            worst[name] = max(worst.get(name, 0.0), float(diff))
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for batch in batches:
            for name, model in contenders.items():
                start = time.perf_counter()
                model(**batch)
                times[name].append(time.perf_counter() - start)
    padding = 1 - sum(int(b["attention_mask"].sum()) for b in batches) / sum(b["input_ids"].numel() for b in batches)
    real = statistics.median(int(b["attention_mask"].sum()) for b in batches)
    reference = statistics.median(times["transformers"])
    rows = {name: {"median_s": statistics.median(t), "tokens_per_s": real / statistics.median(t),
                   "ratio_vs_transformers": reference / statistics.median(t),
                   "max_abs_difference_vs_padded": worst[name], "times_s": t} for name, t in times.items()}
    return {"title": f"MiniLM inference, 12 batches of 32 Wikipedia sentences ({padding:.0%} padding)",
            "padding": padding, "batches": len(batches), "batch_size": 32, "contenders": rows}


def embedding(tokenizer, rounds: int) -> dict | None:
    sys.path.insert(0, str(ROOT / ".cache" / "bench-packages"))
    try:
        from sentence_transformers import SentenceTransformer, models
    except ImportError:
        print("sentence-transformers is not installed: `make bench-unpadding` installs it; skipping part 2")
        return None
    import sentence_transformers

    reviews, wiki = rotten_tomatoes().texts[:256], wikipedia_sentences()[:256]
    texts = [t for pair in zip(reviews, wiki) for t in pair]
    transformer = models.Transformer(str(minilm_path()), max_seq_length=128)
    theirs = SentenceTransformer(modules=[transformer, models.Pooling(384, "mean"), models.Normalize()], device="cpu")
    padded = BertModel.from_pretrained(minilm_path())
    ours = UnpaddedBertModel.from_pretrained(minilm_path())
    contenders = {
        "sentence-transformers": lambda: theirs.encode(texts, batch_size=32, convert_to_tensor=True),
        "ours, padded": lambda: embed(padded, tokenizer, texts, batch_size=32, truncate=True),
        "ours, unpadded": lambda: embed(ours, tokenizer, texts, batch_size=32, truncate=True),
    }
    vectors = {name: fn().float() for name, fn in contenders.items()}  # warm-up and check
    agree = {name: float((v - vectors["sentence-transformers"]).abs().max()) for name, v in vectors.items()}
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    reference = statistics.median(times["sentence-transformers"])
    rows = {name: {"median_s": statistics.median(t), "ratio_vs_sentence_transformers": reference / statistics.median(t),
                   "max_abs_difference_vs_sentence_transformers": agree[name], "times_s": t}
            for name, t in times.items()}
    return {"title": f"embed 512 sentences (256 reviews, 256 Wikipedia sentences), batch 32",
            "sentence_transformers": sentence_transformers.__version__, "contenders": rows}


def training(rounds: int) -> dict:
    torch.manual_seed(0)
    config = preset("mini")
    tokenizer = BertTokenizer.from_pretrained(minilm_path())  # any vocabulary: ids are cut to mini's
    sentences = wikipedia_sentences()
    generator = torch.Generator().manual_seed(0)

    def with_labels(batch):
        ids = batch["input_ids"] % config.vocab_size
        chosen = (torch.rand(ids.shape, generator=generator) < 0.15) & batch["attention_mask"].bool()
        return dict(input_ids=ids, attention_mask=batch["attention_mask"], labels=torch.where(chosen, ids, -100))

    padded_batches = [with_labels(tokenizer(sentences[i:i + 32], max_length=128)) for i in range(0, 32 * 6, 32)]
    packed_batches = []
    for batch in padded_batches:  # the same real tokens, end to end in rows of 128
        ids = batch["input_ids"][batch["attention_mask"].bool()]
        rows = len(ids) // 128
        ids = ids[: rows * 128].view(rows, 128)
        chosen = torch.rand(ids.shape, generator=generator) < 0.15
        packed_batches.append(dict(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.where(chosen, ids, -100)))

    models = {name: BertForPreTraining(config).train() for name in ("padded", "unpadded", "packed")}
    for model in models.values():
        model.load_state_dict(models["padded"].state_dict())
    unpadded(models["unpadded"])
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    contenders = {"padded": padded_batches, "unpadded": padded_batches, "packed": packed_batches}

    def step(name, batch):
        models[name](**batch, sparse=True).loss.backward()
        optimizers[name].step()
        optimizers[name].zero_grad(set_to_none=True)

    for name, batches in contenders.items():  # warm-up
        step(name, batches[0])
    times, tokens = {name: [] for name in contenders}, {name: [] for name in contenders}
    for _ in range(rounds):
        for i in range(len(padded_batches)):
            for name, batches in contenders.items():
                start = time.perf_counter()
                step(name, batches[i])
                times[name].append(time.perf_counter() - start)
                tokens[name].append(int(batches[i]["attention_mask"].sum()))
    rows = {name: {"real_tokens_per_s": sum(tokens[name]) / sum(times[name]), "median_step_s": statistics.median(times[name]),
                   "real_tokens_per_step": statistics.median(tokens[name])} for name in contenders}
    reference = rows["padded"]["real_tokens_per_s"]
    for row in rows.values():
        row["ratio_vs_padded"] = row["real_tokens_per_s"] / reference
    padding = 1 - sum(int(b["attention_mask"].sum()) for b in padded_batches) / sum(b["input_ids"].numel() for b in padded_batches)
    return {"title": f"pretraining step, BERT-mini, sparse MLM, batches of 32 Wikipedia sentences ({padding:.0%} padding) "
                     "or the same tokens packed into rows of 128", "padding": padding, "contenders": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the batches")
    parser.add_argument("--out", type=Path, help="write the results to this JSON file")
    args = parser.parse_args()
    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    result = {"benchmark": "unpadding", "machine": machine_info(), "transformers": transformers.__version__,
              "inference": inference(tokenizer, args.rounds), "embedding": embedding(tokenizer, args.rounds),
              "training": training(args.rounds)}
    for part in ("inference", "embedding", "training"):
        if result[part] is None:
            continue
        print(result[part]["title"])
        for name, row in result[part]["contenders"].items():
            numbers = "  ".join(f"{k} {v:.3g}" for k, v in row.items() if k != "times_s")
            print(f"  {name:>38}: {numbers}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.out, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
