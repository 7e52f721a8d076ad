"""bert/corpus.py: the oracles are chapter 7's in-memory functions, a whole-file split of the same
text, and properties every cache must have (keyed by its inputs, checked before use)."""

import gc
import json
import os
import re
import shutil
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

import bert.corpus
import bert.sources
from bert.cache import damage
from bert.corpus import pretraining_corpus
from bert.sources import _txt_documents, corpus_files, read_texts, source_fingerprint
from bert.data import create_examples, load_documents, split_documents, tokenize_documents
from bert.files import book_file, minilm_path
from bert.tokenizer import BertTokenizer


@pytest.fixture(scope="module")
def tiny_tokenizer():
    return BertTokenizer.from_pretrained(book_file("runs/tiny"))


def rows(examples) -> list[dict]:
    return examples.__getitems__(range(len(examples)))


def quiet(message):  # a log that keeps what it was told
    quiet.said.append(message)


quiet.said = []


# --- the embedded corpus: exactly chapter 7's examples --------------------------------------------


@pytest.mark.parametrize("nsp", [False, True], ids=["packed", "nsp"])
def test_the_embedded_corpus_gives_chapter_7s_examples(tmp_path, tiny_tokenizer, nsp):
    train_docs, held_out_docs = split_documents(load_documents("wiki"), 0.02, 0)
    train_ids = tokenize_documents(train_docs, tiny_tokenizer)
    held_out_ids = tokenize_documents(held_out_docs, tiny_tokenizer)
    _, train, held_out, pairs = pretraining_corpus("wiki", tiny_tokenizer, max_seq_len=64, nsp=nsp,
                                                   processes=2, cache=tmp_path)
    assert rows(train) == create_examples(train_ids, tiny_tokenizer, 64, nsp=nsp, seed=0)
    packed = create_examples(held_out_ids, tiny_tokenizer, 64, nsp=False, seed=1)
    assert rows(held_out) == packed
    if nsp:
        assert rows(pairs) == create_examples(held_out_ids, tiny_tokenizer, 64, nsp=True, seed=1)
    else:
        assert pairs is None
    ids = [t for row in rows(train) for t in row["input_ids"]]
    assert train.token_counts().tolist() == np.bincount(ids, minlength=tiny_tokenizer.vocab_size).tolist()


# --- reading ----------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab é\n\n \t\r€.")), max_size=200),
       chunk=st.integers(1, 9))
def test_reading_a_txt_file_in_chunks_splits_it_as_a_whole(tmp_path_factory, text, chunk):
    """The chunked reader (any chunk size, multi-byte characters cut anywhere) finds chapter 7's
    documents: the whole text split at blank lines, stripped, empty ones dropped."""
    path = tmp_path_factory.mktemp("txt") / "corpus.txt"
    path.write_bytes(text.encode())
    expected = [d.strip() for d in re.split(r"\n\s*\n", text) if d.strip()]
    assert [d.strip() for d in _txt_documents(path, chunk_bytes=chunk) if d.strip()] == expected


@pytest.mark.parametrize("chunk", [1, 2, 3, 16, 1 << 20])
def test_a_bad_byte_is_named_wherever_the_chunk_ends(tmp_path, chunk):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Déjà vu.\n\nUne tasse de caf".encode() + b"\xe9.")  # byte 28 is latin-1
    with pytest.raises(ValueError, match=r"latin1.txt is not UTF-8: byte 28 is 0xe9"):
        list(_txt_documents(path, chunk_bytes=chunk))


def test_files_folders_globs_and_lists_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("Two.\n\nThree.")
    (tmp_path / "b" / "1.jsonl").write_text('{"text": "One."}\n{"text": "Three."}\n')
    (tmp_path / "b" / "skip.md").write_text("not a corpus file")
    pq.write_table(pa.table({"text": ["Four.", "One."]}), tmp_path / "4.parquet")
    (tmp_path / "5.csv").write_text("id,text\n1,Five.\n")
    folder = corpus_files(str(tmp_path / "b"))
    assert [p.name for p in folder] == ["1.jsonl", "2.txt"]
    listed = corpus_files(f"{tmp_path / 'b'}, {tmp_path / '4.parquet'},{tmp_path / '*.csv'}")
    assert [p.name for p in listed] == ["1.jsonl", "2.txt", "4.parquet", "5.csv"]
    assert [t.strip() for t in read_texts("x", listed)] == ["One.", "Three.", "Two.", "Three.", "Four.",
                                                           "One.", "Five."]
    assert corpus_files("wiki") is None and corpus_files("someone/corpus") is None
    with pytest.raises(FileNotFoundError, match="no file matches"):
        corpus_files(str(tmp_path / "*.jsonl"))
    with pytest.raises(ValueError, match="cannot read .md"):
        corpus_files(str(tmp_path / "b" / "skip.md"))


def test_repeated_documents_are_dropped_across_files(tmp_path, tiny_tokenizer):
    (tmp_path / "a.txt").write_text("\n\n".join(f"Document {i} is here." for i in range(40)))
    (tmp_path / "b.txt").write_text("\n\n".join(f"Document {i} is here." for i in range(20, 60)))
    _, train, held_out, _ = pretraining_corpus(f"{tmp_path / 'a.txt'},{tmp_path / 'b.txt'}", tiny_tokenizer,
                                               nsp=False, eval_fraction=0.1, cache=tmp_path / "cache", log=quiet)
    folder = next((tmp_path / "cache").glob("documents-*"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["documents"] == 80 and manifest["unique"] == 60


# --- held-out documents ---------------------------------------------------------------------------------


def test_held_out_documents_never_reach_training(tmp_path, tiny_tokenizer):
    """Every document has its own marker word; no marker of a held-out document is in a training row."""
    template = {"the", "stands", "here", "it", "is", "again"}
    words = [w for w in tiny_tokenizer.vocab if w.isalpha() and len(w) > 3 and w not in template][:300]
    documents = [f"The {words[i]} stands here. It is a {words[i]} again." for i in range(300)]
    path = tmp_path / "markers.txt"
    path.write_text("\n\n".join(documents))
    for nsp in (False, True):
        _, train, held_out, _ = pretraining_corpus(str(path), tiny_tokenizer, nsp=nsp, eval_fraction=0.1,
                                                   max_seq_len=32, cache=tmp_path / "cache", log=quiet)
        _, held = split_documents(documents, 0.1, 0)
        held_markers = {tiny_tokenizer.vocab[d.split()[1]] for d in held}
        seen = {t for row in rows(train) for t in row["input_ids"]}
        assert len(held_markers) == 30 and not held_markers & seen
        assert held_markers <= {t for row in rows(held_out) for t in row["input_ids"]}


# --- the cache ----------------------------------------------------------------------------------------


@pytest.fixture
def small_corpus(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text("\n\n".join(load_documents("wiki")[:400]))
    return path


def build(path, tokenizer, cache, **settings):
    return pretraining_corpus(str(path), tokenizer, cache=cache, log=quiet,
                              **{"nsp": False, "max_seq_len": 64, **settings})


def test_a_second_run_tokenizes_nothing(tmp_path, small_corpus, tiny_tokenizer, monkeypatch):
    _, first, _, _ = build(small_corpus, tiny_tokenizer, tmp_path / "cache")
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*") if p.is_file()}

    def refuse(*args, **kwargs):
        raise AssertionError("a cached stage was built again")

    for stage in ("build_documents", "build_tokens", "build_examples", "learn_vocabulary"):
        monkeypatch.setattr(bert.corpus, stage, refuse)
    _, second, _, _ = build(small_corpus, tiny_tokenizer, tmp_path / "cache")
    assert rows(second) == rows(first) and second.fingerprint == first.fingerprint
    assert {p: p.stat().st_mtime_ns for p in written} == written


def test_a_learnt_vocabulary_is_cached_too(tmp_path, small_corpus):
    said = []
    first, *_ = pretraining_corpus(str(small_corpus), None, vocab_size=600, nsp=False, cache=tmp_path,
                                   log=said.append)
    second, *_ = pretraining_corpus(str(small_corpus), None, vocab_size=600, nsp=False, cache=tmp_path,
                                    log=said.append)
    train, _ = split_documents(load_documents(str(small_corpus)), 0.02, 0)
    assert first.vocab == second.vocab and len(said) == 1
    n = f"{len(train):,}"
    assert re.fullmatch(rf"learnt the vocabulary from {n} of {n} training documents \(.* MB\)", said[0])


def test_a_large_corpus_teaches_the_vocabulary_from_a_sample(tmp_path, small_corpus, monkeypatch):
    monkeypatch.setattr(bert.corpus, "VOCAB_SAMPLE_BYTES", 20_000)
    monkeypatch.setattr(bert.corpus, "VOCAB_SAMPLE_BLOCK", 10)
    said = []
    pretraining_corpus(str(small_corpus), None, vocab_size=600, nsp=False, cache=tmp_path, log=said.append)
    read, total, read_mb, total_mb = map(float, re.findall(r"[\d.]+", said[0].replace(",", "")))
    assert read < total / 5 and read_mb <= 0.02 + 0.002 and total_mb > 0.1


def test_a_changed_corpus_or_tokenizer_never_reuses_the_cache(tmp_path, small_corpus, tiny_tokenizer):
    _, first, _, _ = build(small_corpus, tiny_tokenizer, tmp_path / "cache")
    text = small_corpus.read_text()
    small_corpus.write_text(text.replace("the", "The", 1))  # same size, same name
    _, edited, _, _ = build(small_corpus, tiny_tokenizer, tmp_path / "cache")
    assert edited.fingerprint != first.fingerprint
    other = BertTokenizer.from_pretrained(minilm_path())
    _, retokenized, _, _ = build(small_corpus, other, tmp_path / "cache")
    assert len({first.fingerprint, edited.fingerprint, retokenized.fingerprint}) == 3
    _, longer, _, _ = build(small_corpus, tiny_tokenizer, tmp_path / "cache", max_seq_len=128)
    assert len(list((tmp_path / "cache").glob("tokens-*"))) == 3  # a new length reuses the tokens
    assert len(list((tmp_path / "cache").glob("examples-*"))) == 4


def test_the_tokenizer_key_ignores_what_its_last_call_left_set(tiny_tokenizer):
    before = bert.corpus.tokenizer_fingerprint(tiny_tokenizer)
    tiny_tokenizer(["some text", "more"], max_length=8, return_tensors=None)  # sets padding and truncation
    assert bert.corpus.tokenizer_fingerprint(tiny_tokenizer) == before


@pytest.mark.parametrize("harm", ["truncate", "flip a byte", "delete", "manifest"])
def test_a_damaged_cache_is_detected_and_rebuilt(tmp_path, small_corpus, tiny_tokenizer, harm):
    cache = tmp_path / "cache"
    _, first, _, _ = build(small_corpus, tiny_tokenizer, cache)
    expected = rows(first)
    del first  # its memory map: a file cut short under a live map is a bus error when read
    gc.collect()
    folder = next(cache.glob("examples-*"))
    arrow = next(folder.glob("train-*.arrow"))
    data = arrow.read_bytes()
    if harm == "truncate":
        arrow.write_bytes(data[: len(data) // 2])
    elif harm == "flip a byte":
        middle = len(data) // 2
        arrow.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
    elif harm == "delete":
        arrow.unlink()
    else:
        (folder / "manifest.json").write_text("{")
    assert damage(folder) is not None
    quiet.said.clear()
    _, again, _, _ = build(small_corpus, tiny_tokenizer, cache)
    assert len(quiet.said) == 1 and "is damaged" in quiet.said[0] and "building it again" in quiet.said[0]
    assert damage(folder) is None and rows(again) == expected


def test_a_build_that_fails_leaves_no_stage(tmp_path, small_corpus, tiny_tokenizer, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bert.corpus, "_examples_task", full_disk)
    with pytest.raises(OSError):
        build(small_corpus, tiny_tokenizer, tmp_path / "cache", processes=1)
    assert not list((tmp_path / "cache").glob("examples-*"))  # nor a .tmp folder
    assert len(list((tmp_path / "cache").glob("tokens-*"))) == 1  # the stages before it are kept


def test_the_fingerprint_is_the_content_not_the_name(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("Same text.")
    b.write_text("Same text.")
    assert source_fingerprint(str(a), [a]) == source_fingerprint(str(b), [b])
    b.write_text("Same text!")
    assert source_fingerprint(str(a), [a]) != source_fingerprint(str(b), [b])


def test_a_digest_is_remembered_until_anything_writes_to_the_file(monkeypatch, tmp_path):
    monkeypatch.setattr(bert.sources, "RACY_SECONDS", 0)  # as if written long before
    path, memo = tmp_path / "a.txt", tmp_path / "memo"
    path.write_text("Same size.")
    time.sleep(0.05)  # past the file system clock's tick
    first = source_fingerprint(str(path), [path], memo)
    reads = []
    real = bert.sources.file_digest
    monkeypatch.setattr(bert.sources, "file_digest", lambda p: reads.append(p) or real(p))
    assert source_fingerprint(str(path), [path], memo) == first and reads == []  # not read again
    before = path.stat()
    path.write_text("Same size!")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # its modification time put back
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert source_fingerprint(str(path), [path], memo) != first and reads == [path]  # the change time moved


def test_a_file_changed_just_before_it_was_hashed_is_not_remembered(tmp_path):
    path, memo = tmp_path / "a.txt", tmp_path / "memo"
    path.write_text("Written a moment ago.")  # a second write in the same clock tick could go unseen
    source_fingerprint(str(path), [path], memo)
    assert not memo.exists()
    source_fingerprint(str(path), [path], None)  # no memo: nothing written anywhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_one_worker_and_two_give_the_same_rows(tmp_path, tiny_tokenizer):
    one = pretraining_corpus("wiki", tiny_tokenizer, nsp=True, max_seq_len=64, processes=1, cache=tmp_path / "1")
    two = pretraining_corpus("wiki", tiny_tokenizer, nsp=True, max_seq_len=64, processes=2, cache=tmp_path / "2")
    assert all(rows(a) == rows(b) for a, b in zip(one[1:], two[1:]))
    shutil.rmtree(tmp_path / "1")


def test_globs_may_name_folders_and_hidden_folders_are_skipped(tmp_path):
    (tmp_path / "books" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "books" / "a.txt").write_text("A.")
    (tmp_path / "books" / ".ipynb_checkpoints" / "a-checkpoint.txt").write_text("A.")
    assert [p.name for p in corpus_files(str(tmp_path / "b*"))] == ["a.txt"]
    assert [p.name for p in corpus_files(str(tmp_path / "books"))] == ["a.txt"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no file matches"):
        corpus_files(str(tmp_path / "emp*"))  # never the embedded corpus by mistake


def test_the_last_group_takes_in_a_small_remainder(monkeypatch, tmp_path, tiny_tokenizer):
    monkeypatch.setattr(bert.corpus, "DOCUMENTS_PER_GROUP", 100)
    assert bert.corpus._groups(50) == [(0, 50)]
    assert bert.corpus._groups(201) == [(0, 100), (100, 201)]  # one document would be a group alone
    assert bert.corpus._groups(250) == [(0, 100), (100, 200), (200, 250)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(f"Document {i} is here. It ends here." for i in range(206)))
    _, train, _, pairs = pretraining_corpus(str(path), tiny_tokenizer, nsp=True, eval_fraction=0.02,
                                            max_seq_len=32, cache=tmp_path / "cache", log=quiet)
    assert {row["doc_a"] for row in rows(train)} == set(range(202))  # 206 - 4 held out, in two groups


def test_groups_that_straddle_token_shards_read_the_same_rows(monkeypatch, tmp_path, tiny_tokenizer):
    """Each examples task opens only the shards that hold its group: the rows must be those of
    one whole table, at every boundary."""
    monkeypatch.setattr(bert.corpus, "DOCUMENTS_PER_GROUP", 30)
    path = tmp_path / "corpus.txt"
    path.write_text("\n\n".join(f"Document {i} is here. It ends with {i}." for i in range(200)))

    def examples(cache):
        _, train, held_out, pairs = pretraining_corpus(str(path), tiny_tokenizer, nsp=True, max_seq_len=32,
                                                       eval_fraction=0.1, processes=2, cache=cache, log=quiet)
        return rows(train), rows(held_out), rows(pairs)

    whole = examples(tmp_path / "one-shard")
    monkeypatch.setattr(bert.corpus, "SHARD_BYTES", 300)  # about 7 documents a shard
    sharded = examples(tmp_path / "shards")
    assert sharded == whole
    tokens = next((tmp_path / "shards").glob("tokens-*"))
    assert len(list(tokens.glob("train-*.arrow"))) > 20
    assert len(list(next((tmp_path / "one-shard").glob("tokens-*")).glob("train-*.arrow"))) == 1


def test_nothing_held_out(tmp_path, small_corpus, tiny_tokenizer):
    _, train, held_out, pairs = build(small_corpus, tiny_tokenizer, tmp_path / "cache", eval_fraction=0.0,
                                      nsp=True)
    assert len(held_out) == 0 and len(pairs) == 0 and len(train) > 0
