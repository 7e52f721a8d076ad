"""BertForPreTraining against transformers.BertForPreTraining: names, logits, loss, tying, sparse = dense."""

import pytest
import torch
import transformers

from bert.config import preset
from bert.heads import BertForPreTraining, fill_mask
from bert.tokenizer import BertTokenizer
from bert.files import minilm_path

VOCAB = 1000


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertForPreTraining(preset("tiny", vocab_size=VOCAB)).eval()


@pytest.fixture(scope="module")
def inputs():
    torch.manual_seed(1)
    ids = torch.randint(5, VOCAB, (4, 24))
    mask = torch.ones_like(ids)
    mask[2, 15:] = 0
    ids[2, 15:] = 0
    labels = torch.where((torch.rand(4, 24) < 0.15) & (mask == 1), ids, torch.full_like(ids, -100))
    labels[0, 3] = ids[0, 3]  # at least one label
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=(torch.arange(24) >= 10).long().expand(4, 24),
                labels=labels, next_sentence_label=torch.tensor([0, 1, 1, 0]))


def tied(m) -> bool:
    return m.cls.predictions.decoder.weight.data_ptr() == m.bert.embeddings.word_embeddings.weight.data_ptr()


def test_our_folder_loads_in_transformers_with_the_same_logits_and_loss(model, inputs, tmp_path):
    model.save_pretrained(tmp_path)
    theirs, info = transformers.BertForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    theirs.eval()
    assert tied(theirs)
    with torch.no_grad():
        a, b = model(**inputs), theirs(**inputs)
    assert (a.prediction_logits - b.prediction_logits).abs().max() <= 1e-5
    assert (a.seq_relationship_logits - b.seq_relationship_logits).abs().max() <= 1e-5
    assert abs(a.loss.item() - b.loss.item()) <= 1e-5


def test_transformers_folder_loads_in_ours_and_stays_tied(inputs, tmp_path):
    torch.manual_seed(2)
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=128, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=512)
    theirs = transformers.BertForPreTraining(config).eval()
    theirs.save_pretrained(tmp_path)
    ours = BertForPreTraining.from_pretrained(tmp_path)
    assert tied(ours)
    with torch.no_grad():
        a, b = ours(**inputs), theirs(**inputs)
    assert (a.prediction_logits - b.prediction_logits).abs().max() <= 1e-5
    assert abs(a.loss.item() - b.loss.item()) <= 1e-5


def test_tying_survives_our_round_trip_and_training(model, inputs, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = BertForPreTraining.from_pretrained(tmp_path)
    assert tied(loaded)
    loaded.train()
    loaded(**inputs).loss.backward()
    torch.optim.SGD(loaded.parameters(), lr=0.1).step()
    assert tied(loaded)
    assert torch.equal(loaded.cls.predictions.decoder.weight, loaded.bert.embeddings.word_embeddings.weight)


def test_sparse_loss_equals_dense_loss(model, inputs):
    with torch.no_grad():
        dense = model(**inputs)
        sparse = model(**inputs, sparse=True)
    assert abs(dense.mlm_loss.item() - sparse.mlm_loss.item()) <= 1e-6
    assert dense.mlm_correct == sparse.mlm_correct and dense.mlm_count == sparse.mlm_count
    assert sparse.prediction_logits.shape == ((inputs["labels"] != -100).sum().item(), VOCAB)


def test_sparse_gradients_equal_dense_gradients(model, inputs):
    grads = []
    for sparse in (False, True):
        model.zero_grad()
        model(**inputs, sparse=sparse).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    model.zero_grad()
    assert grads[0].keys() == grads[1].keys()
    assert max((grads[0][n] - grads[1][n]).abs().max().item() for n in grads[0]) <= 1e-6


def test_mlm_only_loss_is_the_mlm_loss(model, inputs):
    without_nsp = {k: v for k, v in inputs.items() if k != "next_sentence_label"}
    with torch.no_grad():
        out = model(**without_nsp)
    assert out.nsp_loss is None and torch.equal(out.loss, out.mlm_loss)


def test_initial_loss_is_near_uniform(inputs):
    torch.manual_seed(3)
    fresh = BertForPreTraining(preset("tiny", vocab_size=VOCAB)).eval()
    with torch.no_grad():
        loss = fresh(**inputs).mlm_loss.item()
    assert abs(loss - torch.log(torch.tensor(float(VOCAB))).item()) < 0.3


def test_fill_mask_needs_a_mask(model):
    tokenizer = BertTokenizer.from_pretrained(minilm_path())
    with pytest.raises(ValueError, match="no \\[MASK\\] token"):
        fill_mask(model, tokenizer, "nothing to fill")
