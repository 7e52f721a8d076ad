"""The on-disk pretraining corpus (bert/corpus.py) against chapter 7's in-memory pipeline.

    .venv/bin/python bench/corpus.py [--gigabytes 2.2] [--work /tmp/bert-corpus-bench]
        [--out bench/results/data/corpus.json]     (make bench-corpus)

The corpus is generated: the embedded Wikipedia summaries, copied until the file reaches the size
asked for, every document of copy k ending in "(copy k)", so that de-duplication keeps them all.
Measured, each in a fresh process whose whole process tree is sampled every 0.1 s for resident
memory (proportional set sizes summed, so that forked workers do not count their parent's pages
twice; anonymous: the processes' own memory; file-backed: pages of memory-mapped files, which the
kernel may drop at any time but which `ps` and memory limits count):

1. tokenization throughput, MB of text per second, with 1 and 2 worker processes, on the first
   256 MB of the corpus (a fixed vocabulary; the documents, token-ids and examples stages timed
   from their manifests);
2. `bert pretrain --max-steps 20` on the whole corpus with an empty cache, learning its vocabulary:
   peak resident memory, and the time of each stage;
3. the same command again (every stage in the cache), three times: peak memory and the time from
   the start of the process to its first training step;
4. chapter 7's in-memory pipeline (load_documents, split_documents, train_wordpiece,
   tokenize_documents, create_examples), as `prepare_data` ran it before, on 25 and 100 MB
   prefixes: peak memory, from which the memory for the whole corpus is extrapolated linearly.

Outside `make test`: it takes about half an hour on 2 cores and needs 3 times the corpus in disk.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bert.files import atomic_write, wikipedia_summaries
from bert.speed import machine_info

ROOT = Path(__file__).resolve().parent.parent
MB = 1e6


def generate(path: Path, size: int) -> dict:
    """Summaries, copy after copy, until `size` bytes; returns what was written."""
    summaries = [text.strip() for text in wikipedia_summaries() if text.strip()]
    written, copies, documents = 0, 0, 0
    with open(path, "wb") as f:
        while written < size:
            block = ("\n\n".join(f"{text} (copy {copies})" for text in summaries) + "\n\n").encode()
            if written + len(block) > size:  # the last copy, cut at the first document end past size
                block = block[: block.find(b"\n\n", size - written - 2) + 2]
            f.write(block)
            written += len(block)
            copies += 1
            documents += block.count(b"\n\n")
            if len(block) < 3:
                break
    return {"bytes": path.stat().st_size, "copies": copies, "documents": documents}


def prefix(source: Path, path: Path, size: int) -> None:
    """The first `size` bytes of source, cut at a document boundary."""
    with open(source, "rb") as f:
        data = f.read(size)
    path.write_bytes(data[: data.rfind(b"\n\n") + 2])


def sample_tree(process: psutil.Process) -> dict:
    """Resident memory of a process and its descendants in MB: their proportional set
    sizes summed (a page that n processes share counts 1/n in each, so forked workers
    do not count their parent's pages again), split into anonymous and file-backed,
    and the largest single process's resident set."""
    total = {"Pss_Anon": 0.0, "Pss_File": 0.0, "Pss_Shmem": 0.0, "largest": 0.0}
    for p in [process, *process.children(recursive=True)]:
        try:
            rollup = Path(f"/proc/{p.pid}/smaps_rollup").read_text()
        except OSError:  # it has just ended
            continue
        for line in rollup.splitlines():
            name, _, value = line.partition(":")
            if name in total:
                total[name] += int(value.split()[0]) / 1024
            elif name == "Rss":
                total["largest"] = max(total["largest"], int(value.split()[0]) / 1024)
    return total


STAGES = ("documents", "vocabulary", "tokens", "examples")


def stage_running(cache: Path) -> str:
    """What a run that builds into `cache` is doing: the earliest stage whose folder is
    still being written (later stages wait for it), else training once the examples are
    there, else starting."""
    for name in STAGES:
        if any(cache.glob(f"{name}-*.tmp")):
            return name
    return "training" if any(cache.glob("examples-*/manifest.json")) else "starting"


def measured(command: list, env: dict, first_step: Path | None = None, cache: Path | None = None) -> dict:
    """Run command; peak resident memory of its process tree (and, with `cache`, of each stage
    it builds there), wall time, and the time until `first_step` (a metrics.jsonl) holds a
    training line."""
    started = time.perf_counter()
    log = tempfile.TemporaryFile()  # not a pipe: a child that writes much would block on it
    child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    process, first = psutil.Process(child.pid), None
    peak = dict.fromkeys(("resident", "anon", "file", "largest"), 0.0)
    by_stage = {}
    while child.poll() is None:
        memory = sample_tree(process)
        resident = memory["Pss_Anon"] + memory["Pss_File"] + memory["Pss_Shmem"]
        peak["resident"] = max(peak["resident"], resident)
        if cache is not None:
            stage = stage_running(cache)
            by_stage[stage] = max(by_stage.get(stage, 0.0), resident)
        peak["anon"] = max(peak["anon"], memory["Pss_Anon"])
        peak["file"] = max(peak["file"], memory["Pss_File"])
        peak["largest"] = max(peak["largest"], memory["largest"])
        if first is None and first_step is not None and first_step.is_file() and first_step.stat().st_size:
            first = time.perf_counter() - started
        time.sleep(0.1)
    log.seek(0)
    output = log.read().decode()
    if child.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{output}")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_resident_mb": round(peak["resident"]),
        "peak_anon_mb": round(peak["anon"]),
        "peak_file_backed_mb": round(peak["file"]),
        "peak_largest_process_mb": round(peak["largest"]),
        **({"seconds_to_first_step": round(first, 1)} if first_step is not None else {}),
        **({"peak_resident_mb_by_stage": {k: round(v) for k, v in by_stage.items()}} if cache else {}),
        "log": output.strip().splitlines()[-8:],
    }


def stage_seconds(cache: Path) -> dict:
    """Each stage's own build time, from the manifests (a stage's time includes the
    stages it had to build first)."""
    seconds = {}
    for manifest in cache.glob("*/manifest.json"):
        seconds[manifest.parent.name.split("-")[0]] = json.loads(manifest.read_text())["build_seconds"]
    own = dict(seconds)
    if "tokens" in seconds:
        own["tokens"] = seconds["tokens"] - seconds.get("documents", 0)
    if "examples" in seconds:
        own["examples"] = seconds["examples"] - seconds.get("tokens", 0)
    return {name: round(value, 1) for name, value in own.items()}


IN_MEMORY = """
import sys, time
from bert.data import load_documents, split_documents, tokenize_documents, create_examples
from bert.tokenizer import BertTokenizer, train_wordpiece
started = time.perf_counter()
train_docs, eval_docs = split_documents(load_documents(sys.argv[1]), 0.02, 0)
tokenizer = BertTokenizer(train_wordpiece(train_docs, vocab_size=8192))
train_ids = tokenize_documents(train_docs, tokenizer)
eval_ids = tokenize_documents(eval_docs, tokenizer)
train = create_examples(train_ids, tokenizer, 64, nsp=False, seed=0)
held_out = create_examples(eval_ids, tokenizer, 64, nsp=False, seed=1)
print(f"{len(train)} examples in {time.perf_counter() - started:.1f} s")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=2.2,
                        help="size of the generated corpus, in 10^9 bytes (2.2: more than 2 GiB)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bert-corpus-bench"))
    parser.add_argument("--out", type=Path, help="write the results to this JSON file")
    parser.add_argument("--parts", default="throughput,pretrain,in-memory",
                        help="which measurements to make; with --out, the others are kept from that file")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    bert = [str(Path(sys.executable).parent / "bert")]
    corpus = args.work / "corpus.txt"
    kept = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    results = {**kept, "machine": machine_info(), "corpus": generate(corpus, int(args.gigabytes * 1e9))}
    print("corpus:", results["corpus"], flush=True)

    # 1. throughput on a prefix, fixed vocabulary
    small = args.work / "prefix-256MB.txt"
    if "throughput" not in parts:
        size = 0
    else:
        prefix(corpus, small, 256 * 10**6)
        size = small.stat().st_size
        results["throughput"] = {"bytes": size}
    for processes in (1, 2) if size else ():
        cache = args.work / f"cache-throughput-{processes}"
        code = (
            "from bert.corpus import pretraining_corpus; from bert.tokenizer import BertTokenizer; "
            f"pretraining_corpus({str(small)!r}, BertTokenizer.from_pretrained({str(ROOT / 'runs/tiny')!r}), "
            f"max_seq_len=64, nsp=False, processes={processes}, cache={str(cache)!r})"
        )
        run = measured([sys.executable, "-c", code], env, cache=cache)
        stages = stage_seconds(cache)
        results["throughput"][f"processes_{processes}"] = {
            **{k: v for k, v in run.items() if k != "log"},
            "stage_seconds": stages,
            "tokenize_mb_per_s": round(size / MB / stages["tokens"], 2),
            "all_stages_mb_per_s": round(size / MB / sum(stages.values()), 2),
        }
        print(processes, results["throughput"][f"processes_{processes}"], flush=True)
        shutil.rmtree(cache)

    # 2. and 3. bert pretrain on the whole corpus, cold then warm
    cache = args.work / "cache"
    for name in ("cold", "warm", "warm_2", "warm_3") if "pretrain" in parts else ():
        out = args.work / f"run-{name}"
        command = [*bert, "pretrain", "--corpus", corpus, "--out", out, "--max-steps", "20",
                   "--eval-fraction", "0.001", "--log-every", "1", "--no-progress",
                   "--data-cache", cache]
        os.sync()  # the cache written: no write-back competes with the run measured
        results[name] = measured(command, env, first_step=out / "metrics.jsonl", cache=cache)
        results[name]["command"] = " ".join(map(str, ["bert", *command[1:]]))
        if name == "cold":
            results[name]["stage_seconds"] = stage_seconds(cache)
            results["cache_bytes"] = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
        print(name, results[name], flush=True)

    # 4. chapter 7's functions in memory, on prefixes
    if "in-memory" in parts:
        results["in_memory"] = {}
        for megabytes in (25, 100):
            path = args.work / f"prefix-{megabytes}MB.txt"
            prefix(corpus, path, megabytes * 10**6)
            run = measured([sys.executable, "-c", IN_MEMORY, str(path)], env)
            results["in_memory"][f"{megabytes}MB"] = {"bytes": path.stat().st_size, **run}
            print(megabytes, run, flush=True)
        a, b = results["in_memory"]["25MB"], results["in_memory"]["100MB"]
        slope = (b["peak_resident_mb"] - a["peak_resident_mb"]) / ((b["bytes"] - a["bytes"]) / MB)
        results["in_memory"]["mb_per_corpus_mb"] = round(slope, 1)
        results["in_memory"]["extrapolated_peak_mb"] = round(
            a["peak_resident_mb"] + slope * (results["corpus"]["bytes"] - a["bytes"]) / MB
        )
    if args.out:
        atomic_write(args.out, json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
