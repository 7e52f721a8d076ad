"""BertModel against transformers.BertModel on the real all-MiniLM-L6-v2 weights, and its invariants."""

import dataclasses
import os
import pickle

import pytest
import torch
import transformers

from bert.config import load_config, preset, save_config
from bert.model import BertModel, mean_pool
from bert.tokenizer import BertTokenizer
from bert.files import minilm_path

SENTENCES = [
    "A man is playing a guitar on stage.",
    "The stock market fell sharply on Monday, erasing the gains of the previous week.",
    "Paris is the capital of France.",
    "Héllo wörld — naïve café!",
]
TOL = 1e-5


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def ours():
    return BertModel.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def theirs():  # same fused attention kernel as ours by default
    return transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()


@pytest.fixture(scope="module")
def theirs_eager():  # the written-out attention, which returns the weights
    return transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def batch(tokenizer):
    batch = tokenizer(SENTENCES)
    assert (batch["attention_mask"] == 0).any(), "the batch should contain padding"
    return batch


@pytest.mark.parametrize("with_token_types", [True, False])
def test_outputs_equal_transformers(ours, theirs, batch, with_token_types):
    inputs = dict(batch) if with_token_types else {k: v for k, v in batch.items() if k != "token_type_ids"}
    with torch.no_grad():
        a, b = ours(**inputs), theirs(**inputs)
    assert max_diff(a.last_hidden_state, b.last_hidden_state) <= TOL
    assert max_diff(a.pooler_output, b.pooler_output) <= TOL
    assert a.attentions is None


def test_attentions_equal_transformers(ours, theirs_eager, batch):
    with torch.no_grad():
        a, b = ours(**batch, output_attentions=True), theirs_eager(**batch, output_attentions=True)
    assert max_diff(a.last_hidden_state, b.last_hidden_state) <= TOL
    assert max_diff(a.pooler_output, b.pooler_output) <= TOL
    assert len(a.attentions) == len(b.attentions) == 6
    for x, y in zip(a.attentions, b.attentions):
        assert x.shape == y.shape == (len(SENTENCES), 12, *batch["input_ids"].shape[1:] * 2)
        assert max_diff(x, y) <= TOL


def test_sentence_pairs_equal_transformers(ours, theirs, tokenizer):
    batch = tokenizer(SENTENCES[:2], SENTENCES[2:])
    assert batch["token_type_ids"].any()
    with torch.no_grad():
        assert max_diff(ours(**batch).last_hidden_state, theirs(**batch).last_hidden_state) <= TOL


def test_padding_does_not_change_real_tokens(ours, tokenizer):
    batch = tokenizer(SENTENCES)
    extra = 9  # pad the whole batch further, with pad ids, mask 0
    padded = {k: torch.cat([v, torch.full((len(SENTENCES), extra), tokenizer.pad_token_id if k == "input_ids"
                                          else 0, dtype=v.dtype)], dim=1) for k, v in batch.items()}
    with torch.no_grad():
        together = ours(**padded).last_hidden_state
        for i, sentence in enumerate(SENTENCES):
            alone = tokenizer([sentence])
            n = alone["input_ids"].shape[1]
            single = ours(**alone).last_hidden_state[0]
            assert max_diff(single, together[i, :n]) <= TOL


def test_our_folder_loads_in_transformers(ours, batch, tmp_path):
    ours.save_pretrained(tmp_path)
    model, info = transformers.BertModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    with torch.no_grad():
        assert max_diff(model.eval()(**batch).last_hidden_state, ours(**batch).last_hidden_state) <= TOL


def test_transformers_folder_loads_in_ours(theirs, batch, tmp_path):
    theirs.save_pretrained(tmp_path)
    model = BertModel.from_pretrained(tmp_path)
    with torch.no_grad():
        a, b = model(**batch), theirs(**batch)
    assert max_diff(a.last_hidden_state, b.last_hidden_state) <= TOL
    assert max_diff(a.pooler_output, b.pooler_output) <= TOL


def test_parameter_names_are_transformers_names():
    config = preset("tiny", vocab_size=500)
    hf = transformers.BertModel(transformers.BertConfig(**{
        k: v for k, v in dataclasses.asdict(config).items() if k != "pre_layer_norm"}))
    assert set(BertModel(config).state_dict()) == set(hf.state_dict())


def test_pickle_weights_load_only_as_tensors(ours, batch, tmp_path):
    save_config(ours.config, tmp_path / "config.json")
    torch.save(ours.state_dict(), tmp_path / "pytorch_model.bin")
    with torch.no_grad():
        assert max_diff(BertModel.from_pretrained(tmp_path)(**batch).last_hidden_state,
                        ours(**batch).last_hidden_state) == 0


class RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['BERT_TEST_MARKER']}",))


def test_pickle_that_carries_code_is_refused_not_run(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    monkeypatch.setenv("BERT_TEST_MARKER", str(marker))
    save_config(preset("tiny"), tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(pickle.dumps({"x": RunsCode()}))
    with pytest.raises(ValueError, match="refused to load"):
        BertModel.from_pretrained(tmp_path)
    assert not marker.exists()


def test_input_longer_than_the_model(ours):
    with pytest.raises(ValueError, match="has 513 tokens but the model has only 512 positions"):
        ours(torch.ones(1, 513, dtype=torch.long))


def test_token_id_out_of_range(ours):
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 30522\)"):
        ours(torch.tensor([[101, 30522, 102]]))
    with pytest.raises(ValueError, match=r"token ids must lie in"):
        ours(torch.tensor([[101, -1, 102]]))


def test_attention_mask_of_the_wrong_shape(ours):
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 4\) but input_ids has \(1, 3\)"):
        ours(torch.tensor([[101, 2000, 102]]), attention_mask=torch.ones(1, 4, dtype=torch.long))


def test_wrong_shape_tensor_is_named(ours, tmp_path):
    ours.save_pretrained(tmp_path)
    config = load_config(tmp_path)
    save_config(dataclasses.replace(config, intermediate_size=1024), tmp_path / "config.json")
    with pytest.raises(ValueError, match=r"tensor encoder\.layer\.\d\.intermediate\.dense\.(weight|bias) has "
                                         r"shape \((1536, 384|1536,)\) but the model expects \((1024, 384|1024,)\)"):
        BertModel.from_pretrained(tmp_path)


def test_config_contradicting_checkpoint(ours, tmp_path):
    ours.save_pretrained(tmp_path)
    save_config(dataclasses.replace(load_config(tmp_path), num_hidden_layers=7), tmp_path / "config.json")
    with pytest.raises(ValueError, match=r"missing encoder\.layer\.6\..* Does its config.json describe"):
        BertModel.from_pretrained(tmp_path)
    save_config(dataclasses.replace(load_config(tmp_path), num_hidden_layers=5), tmp_path / "config.json")
    with pytest.raises(ValueError, match=r"unexpected encoder\.layer\.5\."):
        BertModel.from_pretrained(tmp_path)


def test_corrupt_or_missing_weights(ours, tmp_path):
    ours.save_pretrained(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        BertModel.from_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="neither model.safetensors nor pytorch_model.bin"):
        BertModel.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        BertModel.from_pretrained(tmp_path / "nowhere")


def test_initialisation_follows_bert():
    torch.manual_seed(0)
    model = BertModel(preset("mini"))
    weight = model.encoder.layer[0].intermediate.dense.weight
    assert abs(weight.std().item() - 0.02) < 0.001 and abs(weight.mean().item()) < 0.001
    assert model.embeddings.word_embeddings.weight[0].abs().max() == 0  # [PAD]
    assert all((m.bias == 0).all() for m in model.modules() if isinstance(m, torch.nn.Linear))


def test_pre_layer_norm_model_round_trips(tmp_path):
    torch.manual_seed(0)
    model = BertModel(preset("tiny", vocab_size=200, pre_layer_norm=True)).eval()
    assert "encoder.LayerNorm.weight" in model.state_dict()
    ids = torch.randint(0, 200, (2, 9))
    model.save_pretrained(tmp_path)
    loaded = BertModel.from_pretrained(tmp_path)
    assert loaded.config.pre_layer_norm
    assert max_diff(loaded(ids).last_hidden_state, model(ids).last_hidden_state) == 0


def test_mean_pool_ignores_padding():
    states = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert torch.equal(mean_pool(states, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))
