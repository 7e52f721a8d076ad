"""BertConfig against transformers.BertConfig (the oracle for config.json) and its own rules."""

import json
import os
from dataclasses import fields

import pytest
import torch
import transformers

from bert.config import (PRESETS, BertConfig, config_from_dict, load_config, parameter_counts, preset,
                         save_config)
from bert.files import atomic_write


HF_FIELDS = [f.name for f in fields(BertConfig) if f.name != "pre_layer_norm"]


@pytest.mark.parametrize("name", list(PRESETS))
def test_our_config_json_loads_in_transformers_and_back(tmp_path, name):
    ours = preset(name, hidden_dropout_prob=0.05, vocab_size=8192)
    save_config(ours, tmp_path / "config.json")
    theirs = transformers.BertConfig.from_pretrained(tmp_path)
    assert {k: getattr(theirs, k) for k in HF_FIELDS} == {k: getattr(ours, k) for k in HF_FIELDS}

    theirs.save_pretrained(tmp_path)  # transformers' own file, with its bookkeeping keys
    assert load_config(tmp_path) == ours


def test_real_checkpoint_config_reads():
    from bert.files import minilm_path

    config = load_config(minilm_path())
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (6, 384, 12)
    assert config.intermediate_size == 1536 and config.vocab_size == 30522


@pytest.mark.parametrize("name", list(PRESETS))
def test_parameter_formula_matches_transformers(name):
    config = preset(name)
    hf_config = transformers.BertConfig(**{k: getattr(config, k) for k in HF_FIELDS})
    with torch.device("meta"):  # count without allocating BERT-large
        model = transformers.BertModel(hf_config)
    assert sum(parameter_counts(config).values()) == sum(p.numel() for p in model.parameters())


def test_paper_sizes():
    base, large = (sum(parameter_counts(preset(n)).values()) for n in ("base", "large"))
    assert round(base / 1e6) == 109 and round(large / 1e6) == 335  # paper: "110M", "340M"


@pytest.mark.parametrize("overrides, message", [
    (dict(hidden_size=100, num_attention_heads=12), "not divisible by num_attention_heads"),
    (dict(num_hidden_layers=0), "num_hidden_layers must be a positive integer"),
    (dict(vocab_size=-5), "vocab_size must be a positive integer"),
    (dict(hidden_size=768.0), "hidden_size must be a positive integer"),
    (dict(num_hidden_layers=True), "num_hidden_layers must be a positive integer"),
    (dict(hidden_dropout_prob=1.0), "hidden_dropout_prob must be in [0, 1)"),
    (dict(hidden_act="swish"), "hidden_act 'swish' is not supported"),
    (dict(pad_token_id=30522), "pad_token_id 30522 is outside the vocabulary"),
    (dict(layer_norm_eps=0), "layer_norm_eps must be positive"),
])
def test_invalid_configs_say_what_is_wrong(overrides, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        BertConfig(**overrides)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset 'huge'; choose one of tiny, mini"):
        preset("huge")


@pytest.mark.parametrize("values, message", [
    ({"model_type": "roberta"}, "describes a 'roberta' model"),
    ({"position_embedding_type": "relative_key"}, "not supported"),
])
def test_configs_of_other_models_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        config_from_dict(values)


def test_null_fields_take_defaults():
    assert config_from_dict({"pad_token_id": None, "hidden_size": 256,
                             "num_attention_heads": 4}).pad_token_id == 0


def test_bad_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_bytes(b"\xff\xfe{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_config(tmp_path)


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    save_config(preset("tiny"), path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, json.dumps({"half": "written"}))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary left behind


def test_a_folder_written_atomically_is_flushed_and_so_is_its_rename(tmp_path, monkeypatch):
    """Every file reaches the disk before the rename, and the parent folder after it, so that
    a power cut can neither show a folder of empty files nor undo the rename."""
    import stat

    from bert.files import folder_written_atomically

    synced = []  # what each fsync was given, in order
    real_fsync = os.fsync

    def fsync(fd):
        mode = os.fstat(fd).st_mode
        synced.append("folder" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with folder_written_atomically(tmp_path / "checkpoint") as tmp:
        (tmp / "a.bin").write_bytes(b"a")
        (tmp / "b.bin").write_bytes(b"b")
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["a.bin", "b.bin"]
    assert synced == ["file", "file", "folder"]
