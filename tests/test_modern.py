"""ModernBERT (chapter 16) against transformers' ModernBertModel, and the properties its parts must have."""

import json

import pytest
import torch

from bert.modern import ModernBertConfig, ModernBertModel, apply_rotary, attention_masks, rotary_angles

transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=4, num_attention_heads=4,
             local_attention=8, max_position_embeddings=64, pad_token_id=0)


def batch(length=24, seed=0):
    """Three texts, two of them padded; every one longer than the local window of 8."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 100, (3, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 11:], mask[2, 19:] = 0, 0
    return ids * mask, mask


@pytest.fixture(scope="module")
def their_folder(tmp_path_factory):
    """A randomly initialised ModernBertModel, saved by transformers."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("modernbert")
    transformers.ModernBertModel(transformers.ModernBertConfig(**SMALL)).save_pretrained(folder)
    return folder


def real(x, mask):
    return x[mask.bool()]


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_theirs_loads_in_ours_with_the_same_outputs(their_folder, implementation):
    theirs = transformers.ModernBertModel.from_pretrained(their_folder, attn_implementation=implementation).eval()
    ours = ModernBertModel.from_pretrained(their_folder)
    assert ours.config.layer_types == theirs.config.layer_types
    ids, mask = batch()
    with torch.no_grad():
        expected = theirs(input_ids=ids, attention_mask=mask).last_hidden_state
        got = ours(ids, mask).last_hidden_state
    assert (real(got, mask) - real(expected, mask)).abs().max() <= 1e-5


def test_ours_loads_in_theirs(tmp_path):
    torch.manual_seed(1)
    ours = ModernBertModel(ModernBertConfig(**SMALL)).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = transformers.ModernBertModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    ids, mask = batch()
    with torch.no_grad():
        assert (real(theirs.eval()(input_ids=ids, attention_mask=mask).last_hidden_state, mask)
                - real(ours(ids, mask).last_hidden_state, mask)).abs().max() <= 1e-5


def test_config_round_trip_keeps_every_key(their_folder, tmp_path):
    ModernBertModel.from_pretrained(their_folder).save_pretrained(tmp_path)
    theirs = json.loads((their_folder / "config.json").read_text())
    again = json.loads((tmp_path / "config.json").read_text())
    for key in set(theirs) - {"transformers_version", "dtype"}:
        assert again[key] == theirs[key], key


def test_padded_equals_each_text_alone(their_folder):
    """Unpadded computation: a text's outputs do not depend on the batch it came in."""
    ours = ModernBertModel.from_pretrained(their_folder)
    ids, mask = batch()
    with torch.no_grad():
        together = ours(ids, mask).last_hidden_state
        for b in range(3):
            n = int(mask[b].sum())
            alone = ours(ids[b : b + 1, :n]).last_hidden_state[0]
            assert (alone - together[b, :n]).abs().max() <= 1e-5
    assert (together[~mask.bool()] == 0).all()


def test_a_window_of_twice_the_text_is_global_attention_and_a_short_one_is_not():
    torch.manual_seed(2)
    same_rope = {**SMALL, "local_rope_theta": 160_000.0}  # the layers then differ in their masks only
    short = ModernBertModel(ModernBertConfig(**same_rope)).eval()
    wide = ModernBertModel(ModernBertConfig(**{**same_rope, "local_attention": 2 * 24})).eval()
    everywhere = ModernBertModel(ModernBertConfig(**{**same_rope, "layer_types": ["full_attention"] * 4})).eval()
    for model in (wide, everywhere):
        model.load_state_dict(short.state_dict())
    ids, mask = batch()
    with torch.no_grad():
        outputs = [m(ids, mask).last_hidden_state for m in (short, wide, everywhere)]
    assert torch.equal(outputs[1], outputs[2])
    assert (outputs[0] - outputs[2]).abs().max() > 1e-3  # the window of 8 changes the outputs


def test_sliding_mask_is_transformers_rule():
    """|i - j| <= window // 2 and a real key: transformers' sliding_window_bidirectional_overlay."""
    mask = torch.tensor([[1] * 10, [1] * 6 + [0] * 4])
    masks = attention_masks(mask, window=4, dtype=torch.float32)
    allowed = masks["sliding_attention"] == 0
    for b in range(2):
        for i in range(10):
            for j in range(10):
                assert bool(allowed[b, 0, i, j]) == (abs(i - j) <= 2 and bool(mask[b, j]))
    assert torch.equal(masks["full_attention"] == 0, mask[:, None, None, :].bool().expand(2, 1, 10, 10))


def test_rotary_scores_depend_only_on_relative_position():
    torch.manual_seed(3)
    q, k = torch.randn(2, 12, 32, dtype=torch.float64), torch.randn(2, 12, 32, dtype=torch.float64)
    scores = []
    for shift in (0, 37, 500):
        cos, sin = rotary_angles(torch.arange(12) + shift, 32, base=10_000.0)
        cos, sin = cos.double(), sin.double()
        scores.append(apply_rotary(q, cos, sin) @ apply_rotary(k, cos, sin).transpose(-1, -2))
    assert all((s - scores[0]).abs().max() < 1e-3 for s in scores[1:])
    cos, sin = rotary_angles(torch.arange(12), 32, base=10_000.0)
    assert torch.allclose(apply_rotary(q, cos.double(), sin.double()).norm(dim=-1), q.norm(dim=-1))


def test_bad_folders_and_inputs_say_what_is_wrong(their_folder, tmp_path):
    bert_like = tmp_path / "bert"
    bert_like.mkdir()
    (bert_like / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="not a ModernBERT"):
        ModernBertModel.from_pretrained(bert_like)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        ModernBertModel.from_pretrained(tmp_path / "nothing")
    ours = ModernBertModel.from_pretrained(their_folder)
    with pytest.raises(ValueError, match="token ids must lie in"):
        ours(torch.tensor([[1, 500]]))
    scaled = {"model_type": "modernbert", "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 2.0}}}
    with pytest.raises(ValueError, match="RoPE scaling"):
        ModernBertConfig.from_dict(scaled)
    older = ModernBertConfig.from_dict({"num_hidden_layers": 4, "global_attn_every_n_layers": 2})
    assert older.layer_types == ["full_attention", "sliding_attention"] * 2
    with pytest.raises(ValueError, match="layer_types names 2 layers"):
        ModernBertConfig(num_hidden_layers=3, layer_types=["full_attention"] * 2)


# --- the heads: masked LM and sequence classification ------------------------------------------

from bert.config import preset  # noqa: E402
from bert.heads import BertForPreTraining  # noqa: E402
from bert.modern_heads import ModernBertForMaskedLM, ModernBertForSequenceClassification, modern_like  # noqa: E402

HEADS = [(ModernBertForMaskedLM, "ModernBertForMaskedLM", lambda out: out.prediction_logits),
         (ModernBertForSequenceClassification, "ModernBertForSequenceClassification", lambda out: out.logits)]


def at_real_tokens(logits, mask):
    return logits[mask.bool()] if logits.dim() == 3 else logits


@pytest.mark.parametrize("ours_class, theirs_name, read", HEADS)
def test_heads_load_both_ways_with_transformers_logits(ours_class, theirs_name, read, tmp_path):
    theirs_class = getattr(transformers, theirs_name)
    torch.manual_seed(0)
    theirs = theirs_class(transformers.ModernBertConfig(**SMALL)).eval()
    theirs.save_pretrained(tmp_path / "theirs")
    ours = ours_class.from_pretrained(tmp_path / "theirs")
    ids, mask = batch()
    with torch.no_grad():
        expected = at_real_tokens(theirs(input_ids=ids, attention_mask=mask).logits, mask)
        got = at_real_tokens(read(ours(ids, mask)), mask)
    assert expected.abs().max() > 0.01  # not a trivial agreement
    assert (got - expected).abs().max() <= 1e-5

    # ours, every weight moved from its initial value, saved and loaded by theirs
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(0.01 * torch.randn_like(p))
    ours.save_pretrained(tmp_path / "ours")
    back, info = theirs_class.from_pretrained(tmp_path / "ours", output_loading_info=True)
    assert not any(info.values()), info
    with torch.no_grad():
        assert (at_real_tokens(back.eval()(input_ids=ids, attention_mask=mask).logits, mask)
                - at_real_tokens(read(ours(ids, mask)), mask)).abs().max() <= 1e-5
    if ours_class is ModernBertForMaskedLM:  # the decoder is the embedding matrix, in both
        assert back.decoder.weight.data_ptr() == back.model.embeddings.tok_embeddings.weight.data_ptr()


def test_sparse_decoding_gives_the_dense_loss_and_counts():
    torch.manual_seed(0)
    model = ModernBertForMaskedLM(ModernBertConfig(**SMALL)).eval()
    ids, mask = batch()
    labels = torch.full_like(ids, -100)
    labels[:, [2, 5]] = ids[:, [2, 5]]
    sparse, dense = model(ids, mask, labels=labels, sparse=True), model(ids, mask, labels=labels, sparse=False)
    assert sparse.prediction_logits.shape == (6, 100) and dense.prediction_logits.shape == (3, 24, 100)
    assert torch.allclose(sparse.loss, dense.loss, atol=1e-6)
    assert sparse.mlm_count == dense.mlm_count == 6 and sparse.mlm_correct == dense.mlm_correct
    hand = torch.nn.functional.cross_entropy(dense.prediction_logits[labels != -100], labels[labels != -100])
    assert torch.allclose(dense.loss, hand)


def test_heads_refuse_pairs_an_untied_decoder_and_a_folder_without_the_head(their_folder):
    model = ModernBertForSequenceClassification(ModernBertConfig(**SMALL))
    ids, mask = batch()
    model(ids, mask, token_type_ids=torch.zeros_like(ids))  # one segment: fine
    with pytest.raises(ValueError, match="no segment embeddings"):
        model(ids, mask, token_type_ids=torch.ones_like(ids))
    with pytest.raises(ValueError, match="tie_word_embeddings is false"):
        ModernBertForMaskedLM(ModernBertConfig(**SMALL, extra={"tie_word_embeddings": False}))
    with pytest.raises(ValueError, match="missing.*classifier.*from_encoder"):
        ModernBertForSequenceClassification.from_pretrained(their_folder)
    fresh = ModernBertForSequenceClassification.from_encoder(their_folder, ["no", "yes"])
    encoder = ModernBertModel.from_pretrained(their_folder)
    assert fresh.config.id2label == {0: "no", 1: "yes"}
    assert all(torch.equal(a, b) for a, b in zip(fresh.model.state_dict().values(), encoder.state_dict().values()))


def test_modern_like_has_the_classic_feed_forward_weight_count():
    classic = preset("tiny", vocab_size=8192)
    modern = modern_like(classic)
    assert (modern.hidden_size, modern.num_hidden_layers, modern.num_attention_heads, modern.vocab_size) == (
        classic.hidden_size, classic.num_hidden_layers, classic.num_attention_heads, 8192)
    ffn = lambda m: sum(p.numel() for n, p in m.named_parameters() if ".mlp." in n or ".intermediate." in n
                        or (".output.dense" in n and "attention" not in n))
    bert_ffn = ffn(BertForPreTraining(classic)) - classic.num_hidden_layers * (classic.intermediate_size + classic.hidden_size)  # less biases
    modern_ffn = ffn(ModernBertForMaskedLM(modern))
    assert abs(modern_ffn - bert_ffn) / bert_ffn < 0.01
