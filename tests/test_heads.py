"""The heads against transformers: BertForPreTraining (names, logits, loss, tying, sparse = dense), and
BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification and BertForQuestionAnswering
on MiniLM's weights, in both directions."""

import pytest
import torch
import transformers

from bert.config import preset
from bert.heads import (BertForMaskedLM, BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification,
                        BertForTokenClassification, fill_mask)
from bert.model import BertModel
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


# --- the family of task heads against transformers, on MiniLM's weights -----------------------------

QUESTIONS = ["Who wrote Hamlet?", "Where is the Eiffel Tower?", "Is the Café de Flore in Paris, France?"]
CONTEXTS = ["Shakespeare wrote it around 1600.", "It stands in Paris.", "Yes: it's on the boulevard Saint-Germain."]


@pytest.fixture(scope="module")
def pair_batch():
    """Question and context pairs, padded: attention_mask and token_type_ids both matter."""
    batch = BertTokenizer.from_pretrained(minilm_path())(QUESTIONS, CONTEXTS)
    assert (batch["attention_mask"] == 0).any() and (batch["token_type_ids"] == 1).any()
    return batch


def task_labels(name: str, batch: dict) -> dict:
    """Labels of each task's kind, -100 where the loss must ignore a position."""
    ids, padding = batch["input_ids"], batch["attention_mask"] == 0
    g = torch.Generator().manual_seed(0)
    if name == "BertForMaskedLM":
        return {"labels": ids.masked_fill((torch.rand(ids.shape, generator=g) > 0.3) | padding, -100)}
    if name == "BertForSequenceClassification":
        return {"labels": torch.tensor([2, 0, 1])}
    if name == "BertForTokenClassification":
        return {"labels": torch.randint(0, 3, ids.shape, generator=g).masked_fill(padding, -100)}
    L = ids.shape[1]  # an end past the input (an answer cut off) must be ignored, as transformers does
    return {"start_positions": torch.tensor([9, 12, 3]), "end_positions": torch.tensor([10, L + 4, 5])}


TASK_HEADS = [BertForMaskedLM, BertForSequenceClassification, BertForTokenClassification, BertForQuestionAnswering]
LABEL_NAMES = {BertForSequenceClassification: ["yes", "no", "unknown"], BertForTokenClassification: ["O", "B", "I"]}


def assert_same_outputs(ours, theirs, batch: dict, labels: dict) -> None:
    """In float64, so that the comparison sees the structure, not two orders of float32 summation
    (the MLM scores are sums of 384 products: in float32 two right answers differ by ~1e-5)."""
    ours, theirs = ours.double().eval(), theirs.double().eval()
    with torch.no_grad():
        a, b = ours(**batch, **labels), theirs(**batch, **labels)
    fields = [f for f in ("logits", "start_logits", "end_logits") if hasattr(a, f)]
    assert fields
    for field in fields:
        assert getattr(a, field).shape == getattr(b, field).shape
        assert (getattr(a, field) - getattr(b, field)).abs().max() <= 1e-5, field
    assert torch.isfinite(a.loss) and abs(a.loss.item() - b.loss.item()) <= 1e-5


@pytest.mark.parametrize("head", TASK_HEADS, ids=lambda c: c.__name__)
def test_our_task_head_folder_loads_in_transformers(head, pair_batch, tmp_path):
    torch.manual_seed(0)
    names = [LABEL_NAMES[head]] if head in LABEL_NAMES else []
    ours = head.from_encoder(minilm_path(), *names)
    ours.save_pretrained(tmp_path)
    theirs, info = getattr(transformers, head.__name__).from_pretrained(
        tmp_path, attn_implementation="eager", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert set(ours.state_dict()) <= set(theirs.state_dict())  # transformers may list a tied copy twice
    if names:
        assert theirs.config.id2label == dict(enumerate(LABEL_NAMES[head]))
    assert_same_outputs(ours, theirs, pair_batch, task_labels(head.__name__, pair_batch))


@pytest.mark.parametrize("head", TASK_HEADS, ids=lambda c: c.__name__)
def test_transformers_task_head_folder_loads_in_ours(head, pair_batch, tmp_path):
    torch.manual_seed(0)
    extra = {"num_labels": 3} if head in LABEL_NAMES else {}
    theirs = getattr(transformers, head.__name__).from_pretrained(minilm_path(), attn_implementation="eager", **extra)
    theirs.save_pretrained(tmp_path)
    ours = head.from_pretrained(tmp_path)
    assert_same_outputs(ours, theirs, pair_batch, task_labels(head.__name__, pair_batch))


def test_task_heads_keep_minilm_encoder_and_drop_what_they_have_no_place_for():
    reference = BertModel.from_pretrained(minilm_path()).state_dict()
    for head in TASK_HEADS:
        model = head.from_encoder(minilm_path(), *([LABEL_NAMES[head]] if head in LABEL_NAMES else []))
        encoder = model.bert.state_dict()
        assert all(torch.equal(tensor, reference[name]) for name, tensor in encoder.items())
        assert (model.bert.pooler is None) == (head is not BertForSequenceClassification)  # as in transformers
    mlm = BertForMaskedLM.from_encoder(minilm_path())
    assert tied(mlm)


def test_a_pretraining_folder_loads_as_a_masked_lm(model, inputs, tmp_path):
    model.save_pretrained(tmp_path)
    mlm = BertForMaskedLM.from_pretrained(tmp_path)  # the pooler and the NSP head are left behind
    assert tied(mlm)
    keep = {k: v for k, v in inputs.items() if k != "next_sentence_label"}
    with torch.no_grad():
        a, b = model(**keep), mlm(**keep)
    assert torch.equal(a.prediction_logits, b.logits) and abs(a.mlm_loss.item() - b.loss.item()) <= 1e-6


def test_from_pretrained_refuses_a_folder_without_the_head(tmp_path):
    for head, fix in [(BertForQuestionAnswering, "BertForQuestionAnswering.from_encoder("),
                      (BertForTokenClassification, "BertForTokenClassification.from_encoder("),
                      (BertForMaskedLM, "BertForMaskedLM.from_encoder("),
                      (BertForPreTraining, "BertForPreTraining.from_encoder("),
                      (BertForSequenceClassification, "BertForSequenceClassification.from_encoder(")]:
        with pytest.raises(ValueError, match=f"has no {head.head_name} head \\(it holds BertModel\\)") as error:
            head.from_pretrained(minilm_path())
        assert fix in str(error.value)
    with pytest.raises(FileNotFoundError, match="is not a model folder"):
        BertForQuestionAnswering.from_pretrained(tmp_path / "nowhere")


def test_token_labels_are_checked_but_minus_100_is_ignored():
    torch.manual_seed(0)
    model = BertForTokenClassification(preset("tiny", vocab_size=VOCAB, id2label={0: "O", 1: "X"})).eval()
    ids = torch.randint(5, VOCAB, (2, 6))
    labels = torch.tensor([[-100, 0, 1, 1, 0, -100], [-100, 1, 0, -100, -100, -100]])
    out = model(ids, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[labels != -100], labels[labels != -100])
    assert abs(out.loss.item() - expected.item()) <= 1e-6
    with pytest.raises(ValueError, match=r"labels must lie in 0..1 .* got 0..2"):
        model(ids, labels=labels.masked_fill(labels == 1, 2))


def test_question_answering_loss_is_the_mean_and_ignores_positions_past_the_input():
    torch.manual_seed(0)
    model = BertForQuestionAnswering(preset("tiny", vocab_size=VOCAB)).eval()
    ids = torch.randint(5, VOCAB, (2, 8))
    with torch.no_grad():
        out = model(ids, start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([3, 50]))
    ce = torch.nn.functional.cross_entropy
    start = ce(out.start_logits, torch.tensor([1, 2]))
    end = ce(out.end_logits[:1], torch.tensor([3]))  # the second end is past the input: ignored
    assert out.start_logits.shape == out.end_logits.shape == (2, 8)
    assert abs(out.loss.item() - (start + end).item() / 2) <= 1e-6
