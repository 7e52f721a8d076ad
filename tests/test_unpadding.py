"""The unpadded BERT (chapter 15) against the padded one and against transformers, on real weights and random ones."""

import pytest
import torch

from bert.config import BertConfig
from bert.files import minilm_path
from bert.finetune import embed
from bert.heads import BertForPreTraining, BertForSequenceClassification
from bert.model import BertModel
from bert.tokenizer import BertTokenizer
from bert.unpadding import UnpaddedBertModel, unpad, unpadded

SENTENCES = ["A river runs through it.", "Short.", "The king of the north rode south across the long stone bridge "
             "over the river, and the queen stayed in the city with her music.", "Summer light on a garden"]
PAIRS = ["And then?", "The ocean, the island and the forest behind it.", "No.", "Winter came early that year."]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def models():
    return BertModel.from_pretrained(minilm_path()), UnpaddedBertModel.from_pretrained(minilm_path())


def real_tokens_agree(batch, padded, ours, tolerance=1e-5):
    with torch.no_grad():
        expected, got = padded(**batch), ours(**batch)
    mask = batch["attention_mask"].bool()
    assert not mask.all(), "the batch must hold padding for the test to mean anything"
    assert (got.last_hidden_state - expected.last_hidden_state)[mask].abs().max() <= tolerance
    assert (got.last_hidden_state[~mask] == 0).all()  # padding is left out, not computed
    assert (got.pooler_output - expected.pooler_output).abs().max() <= tolerance


@pytest.mark.parametrize("pairs", [False, True], ids=["sentences", "pairs"])
@pytest.mark.parametrize("segments", [True, False], ids=["token_type_ids", "no token_type_ids"])
def test_unpadded_equals_padded_on_real_tokens(tokenizer, models, pairs, segments):
    batch = tokenizer(SENTENCES, PAIRS if pairs else None)
    if not segments:
        batch.pop("token_type_ids")
    real_tokens_agree(batch, *models)


def test_unpadded_equals_transformers(tokenizer, models):
    transformers = pytest.importorskip("transformers")
    theirs = transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()
    batch = tokenizer(SENTENCES, PAIRS)
    with torch.no_grad():
        expected, got = theirs(**batch).last_hidden_state, models[1](**batch).last_hidden_state
    mask = batch["attention_mask"].bool()
    assert (got - expected)[mask].abs().max() <= 1e-5


def test_a_text_does_not_depend_on_its_neighbours(tokenizer, models):
    _, ours = models
    alone, together = tokenizer(SENTENCES[:1]), tokenizer(SENTENCES)
    with torch.no_grad():
        one = ours(**alone).last_hidden_state[0]
        among = ours(**together).last_hidden_state[0, : one.shape[0]]
    assert (one - among).abs().max() <= 1e-5


def test_without_padding_or_with_attentions_it_is_the_padded_model(tokenizer, models):
    padded, ours = models
    batch = tokenizer(SENTENCES[:1])
    with torch.no_grad():
        assert torch.equal(ours(**batch).last_hidden_state, padded(**batch).last_hidden_state)
        batch = tokenizer(SENTENCES)
        weights = ours(**batch, output_attentions=True).attentions
    assert len(weights) == padded.config.num_hidden_layers


def test_gather_and_scatter_are_inverse():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    where = unpad(mask)
    x = torch.randn(3, 4, 5)
    assert where.gather(x).shape == (8, 5)
    assert torch.equal(where.scatter(where.gather(x)), x * mask[..., None])


def test_training_gradients_equal_the_padded_models(tokenizer):
    """Same loss and same gradients, dropout off: unpadding can train."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    padded = BertForPreTraining(config).train()
    ours = BertForPreTraining(config).train()
    ours.load_state_dict(padded.state_dict())
    unpadded(ours)
    batch = tokenizer(SENTENCES, PAIRS)
    labels = torch.where(torch.rand(batch["input_ids"].shape) < 0.3, batch["input_ids"], -100)
    labels[~batch["attention_mask"].bool()] = -100
    losses = [m(**batch, labels=labels, next_sentence_label=torch.tensor([0, 1, 0, 1]), sparse=True).loss
              for m in (padded, ours)]
    assert abs(losses[0].item() - losses[1].item()) <= 1e-5
    for loss in losses:
        loss.backward()
    for (name, a), (_, b) in zip(padded.named_parameters(), ours.named_parameters()):
        assert (a.grad - b.grad).abs().max() <= 1e-5, name


def test_unpadded_takes_models_with_heads_and_nothing_else(tokenizer):
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=64)
    classifier = unpadded(BertForSequenceClassification(config))
    assert type(classifier.bert) is UnpaddedBertModel
    with pytest.raises(TypeError, match="takes a BertModel"):
        unpadded(torch.nn.Linear(2, 2))


def test_embed_is_the_same_unpadded(tokenizer, models):
    padded, ours = models
    texts = SENTENCES + PAIRS
    # batch_size 3 puts texts of different lengths together, so there is padding to remove
    assert (embed(padded, tokenizer, texts, batch_size=3) - embed(ours, tokenizer, texts, batch_size=3)).abs().max() <= 1e-6
