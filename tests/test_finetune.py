"""Part III: the classifier against transformers on the same weights, the data split, the bootstrap,
embeddings, and `bert finetune` / `bert predict` end to end."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers

from bert.config import preset
from bert.finetune import FinetuneRun, bootstrap_interval, embed, finetune, predict_proba
from bert.heads import BertForPreTraining, BertForSequenceClassification
from bert.tasks import LabelledTexts, fewer_labels, rotten_tomatoes, split_task
from bert.model import BertModel, mean_pool
from bert.tokenizer import BertTokenizer
from bert.files import minilm_path
from conftest import WORDS, kill_when_exists

TOL = 1e-5
BERT = str(Path(sys.executable).with_name("bert"))
REVIEWS = ["A three-hour cinema master class.", "It's always fascinating to watch Marker the essayist at work.",
           "the plot is a tedious mess", "a gorgeous, witty film"]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return BertTokenizer.from_pretrained(minilm_path())


@pytest.fixture(scope="module")
def batch(minilm_tokenizer):
    return minilm_tokenizer(REVIEWS)  # padded: the rows differ in length


def max_diff(a, b) -> float:
    return (a - b).abs().max().item()


# --- the classifier against transformers ----------------------------------------------------------


def test_our_classifier_folder_loads_in_transformers(tmp_path, batch):
    torch.manual_seed(0)
    ours = BertForSequenceClassification.from_encoder(minilm_path(), ["rotten", "fresh"]).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = transformers.BertForSequenceClassification.from_pretrained(
        tmp_path, attn_implementation="eager", output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    assert theirs.config.id2label == {0: "rotten", 1: "fresh"}
    labels = torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        a, b = ours(**batch, labels=labels), theirs.eval()(**batch, labels=labels)
    assert max_diff(a.logits, b.logits) <= TOL
    assert abs(a.loss.item() - b.loss.item()) <= TOL


def test_transformers_classifier_folder_loads_in_ours(tmp_path, batch):
    config = transformers.BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=128, id2label={0: "a", 1: "b", 2: "c"})
    torch.manual_seed(0)
    theirs = transformers.BertForSequenceClassification(config).eval()
    theirs.save_pretrained(tmp_path)
    ours = BertForSequenceClassification.from_pretrained(tmp_path)
    assert ours.config.id2label == {0: "a", 1: "b", 2: "c"} and ours.config.num_labels == 3
    assert set(ours.state_dict()) == set(theirs.state_dict())
    labels = torch.tensor([2, 0, 1, 2])
    with torch.no_grad():
        a, b = ours(**batch, labels=labels), theirs(**batch, labels=labels)
    assert max_diff(a.logits, b.logits) <= TOL and abs(a.loss.item() - b.loss.item()) <= TOL


def test_from_encoder_takes_the_encoder_and_drops_other_heads(tmp_path):
    torch.manual_seed(0)
    pretrained = BertForPreTraining(preset("tiny", vocab_size=100))
    pretrained.save_pretrained(tmp_path)
    classifier = BertForSequenceClassification.from_encoder(tmp_path, ["x", "y", "z"])
    encoder = pretrained.bert.state_dict()
    assert all(torch.equal(v, encoder[k]) for k, v in classifier.bert.state_dict().items())
    assert classifier.classifier.weight.shape == (3, 128)
    scratch = BertForSequenceClassification.from_encoder(tmp_path, ["x", "y"], from_scratch=True)
    assert not torch.equal(scratch.bert.embeddings.word_embeddings.weight, encoder["embeddings.word_embeddings.weight"])


def test_padding_does_not_change_predictions(minilm_tokenizer):
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_encoder(minilm_path(), ["rotten", "fresh"])
    together = predict_proba(model, minilm_tokenizer, REVIEWS)  # padded to the longest review
    alone = torch.cat([predict_proba(model, minilm_tokenizer, [text]) for text in REVIEWS])
    assert max_diff(together, alone) <= TOL
    assert torch.allclose(together.sum(-1), torch.ones(len(REVIEWS)))


def test_mean_pooled_embeddings_equal_transformers_and_have_unit_length(minilm_tokenizer, batch):
    ours = embed(BertModel.from_pretrained(minilm_path()), minilm_tokenizer, REVIEWS)
    theirs_model = transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="eager").eval()
    with torch.no_grad():
        hidden = theirs_model(**batch).last_hidden_state
    theirs = torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)
    assert max_diff(ours, theirs) <= TOL
    assert torch.allclose(ours.norm(dim=-1), torch.ones(len(REVIEWS)))
    similar, different = ours[3] @ embed(BertModel.from_pretrained(minilm_path()), minilm_tokenizer,
                                         ["a beautiful, clever movie", "the plot is a tedious mess"]).T
    assert similar > different  # a sentence encoder: paraphrases are closer than opposites


# --- data and statistics ----------------------------------------------------------------------------


def test_rotten_tomatoes_split_is_stratified_disjoint_and_seeded():
    data = rotten_tomatoes()
    assert len(data) == len(set(data.texts)) == 12752 and data.label_names == ["rotten", "fresh"]
    splits = split_task(data, seed=0)
    texts = {name: set(part.texts) for name, part in splits.items()}
    assert not (texts["train"] & texts["dev"] or texts["train"] & texts["test"] or texts["dev"] & texts["test"])
    assert sum(map(len, splits.values())) == len(data)
    share = sum(data.labels) / len(data)
    for part in splits.values():
        assert abs(sum(part.labels) / len(part) - share) < 0.002
    assert split_task(data, seed=0)["test"].texts == splits["test"].texts
    assert split_task(data, seed=1)["test"].texts != splits["test"].texts


def test_fewer_labels_keep_each_share_within_one_nest_and_follow_the_seed():
    train = split_task(rotten_tomatoes(), seed=0)["train"]
    three = LabelledTexts([f"text {i}" for i in range(1000)], [0] * 700 + [1] * 200 + [2] * 100, ["a", "b", "c"])
    for data in (train, three):
        shares = [data.labels.count(k) / len(data) for k in range(len(data.label_names))]
        previous = set()
        for examples in (3, 10, 100, 101, 300, 999):
            few = fewer_labels(data, examples, seed=1)
            assert len(few) == len(set(few.texts)) == examples and set(few.texts) <= set(data.texts)
            for k, share in enumerate(shares):
                assert abs(few.labels.count(k) - share * examples) < 1, (examples, k)
            assert previous <= set(few.texts)  # a smaller subset is part of every larger one
            previous = set(few.texts)
        # each text keeps its own label
        label_of = dict(zip(data.texts, data.labels))
        assert all(label_of[t] == l for t, l in zip(few.texts, few.labels))
    # five labels, where taking the label furthest below its share drifts a whole example away
    # at 44 (the quota method does not)
    sizes = [3, 28, 3, 26, 28]
    five = LabelledTexts([f"text {i}" for i in range(sum(sizes))],
                         [k for k, size in enumerate(sizes) for _ in range(size)], list("abcde"))
    for examples in range(5, sum(sizes) + 1):
        few = fewer_labels(five, examples, seed=0)
        assert all(abs(few.labels.count(k) - size * examples / sum(sizes)) < 1 for k, size in enumerate(sizes))
    assert fewer_labels(train, 100, seed=1).texts == fewer_labels(train, 100, seed=1).texts
    assert fewer_labels(train, 100, seed=1).texts != fewer_labels(train, 100, seed=2).texts
    assert fewer_labels(train, len(train)).texts == train.texts


def test_bootstrap_interval_closed_forms():
    assert bootstrap_interval(torch.ones(500, dtype=torch.bool)) == (1.0, 1.0)
    correct = torch.arange(2000) % 4 != 0  # accuracy 0.75 exactly
    low, high = bootstrap_interval(correct)
    half_width = 1.96 * math.sqrt(0.75 * 0.25 / 2000)  # the normal approximation
    assert low < 0.75 < high
    assert abs((high - low) / 2 - half_width) < 0.15 * half_width
    assert bootstrap_interval(correct) == (low, high)  # seeded
    seeds = torch.stack([correct, correct])  # two identical seeds: the same interval as one
    assert bootstrap_interval(seeds) == (low, high)


# --- `bert finetune` and `bert predict` end to end -------------------------------------------------


@pytest.fixture(scope="module")
def word_task(tmp_path_factory, vocabulary):
    """A learnable CSV task (is 'light' or 'dark' in the sentence?) and an untrained tiny model folder."""
    folder = tmp_path_factory.mktemp("task")
    g = torch.Generator().manual_seed(0)
    others = [w for w in WORDS if w not in ("light", "dark")]
    rows = []
    for i in range(400):
        words = [others[j] for j in torch.randint(len(others), (6,), generator=g)]
        label = ("bright", "gloomy")[i % 2]
        words.insert(int(torch.randint(7, (1,), generator=g)), "light" if label == "bright" else "dark")
        rows.append({"sentence": " ".join(words), "mood": label})
    with open(folder / "task.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["sentence", "mood"])
        writer.writeheader()
        writer.writerows(rows)
    tokenizer = BertTokenizer.from_pretrained(vocabulary)
    torch.manual_seed(0)
    BertForPreTraining(preset("tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=1,
                              max_position_embeddings=32)).save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    return folder


def test_finetune_learns_a_task_and_saves_the_best_dev_model(tmp_path, word_task):
    out = tmp_path / "run"
    summary = finetune(FinetuneRun(model=str(word_task / "model"), out=str(out), task=str(word_task / "task.csv"),
                                   text_column="sentence", label_column="mood", epochs=4, learning_rate=1e-3,
                                   batch_size=16, eval_every_steps=5, device="cpu"), progress_bar=False)
    assert summary["label_names"] == ["bright", "gloomy"]
    assert summary["examples"] == {"train": 320, "dev": 40, "test": 40}
    assert summary["test_accuracy"] >= 0.9 > summary["majority_baseline"]
    assert sum(map(sum, summary["confusion"])) == 40
    curve = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["dev_accuracy"] for r in curve if r["split"] == "eval") == summary["dev_accuracy"]
    assert not (out / "best").exists() and not (out / "checkpoints").exists()  # the run is complete
    # what was saved is the best-on-dev model: it reproduces the reported test predictions
    model = BertForSequenceClassification.from_pretrained(out)
    predictions = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    probabilities = predict_proba(model, BertTokenizer.from_pretrained(out), [p["text"] for p in predictions])
    assert probabilities.argmax(-1).tolist() == [p["prediction"] for p in predictions]
    assert sum(p["prediction"] == p["label"] for p in predictions) / 40 == pytest.approx(summary["test_accuracy"])

    result = subprocess.run([BERT, "predict", "--model", out, "river light road", "dark winter sea"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert [(label, text) for label, _, text in lines] == [("bright", "river light road"), ("gloomy", "dark winter sea")]
    assert all(0.5 < float(p) <= 1.0 for _, p, _ in lines)


def test_a_modernbert_folder_fine_tunes_and_predicts(tmp_path, word_task):
    from bert.modern_heads import ModernBertForMaskedLM, ModernBertForSequenceClassification, modern_like

    folder = tmp_path / "modern"
    tokenizer = BertTokenizer.from_pretrained(word_task / "model")
    torch.manual_seed(0)
    ModernBertForMaskedLM(modern_like(preset("tiny", vocab_size=tokenizer.vocab_size, num_hidden_layers=1,
                                             max_position_embeddings=32))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    out = tmp_path / "run"
    summary = finetune(FinetuneRun(model=str(folder), out=str(out), task=str(word_task / "task.csv"),
                                   text_column="sentence", label_column="mood", epochs=4, learning_rate=1e-3,
                                   batch_size=16, eval_every_steps=5, device="cpu"), progress_bar=False)
    assert summary["test_accuracy"] >= 0.9 > summary["majority_baseline"]
    model = ModernBertForSequenceClassification.from_pretrained(out)
    assert model.config.id2label == {0: "bright", 1: "gloomy"}
    # transformers reads the fine-tuned folder and predicts the same labels
    theirs = transformers.ModernBertForSequenceClassification.from_pretrained(out).eval()
    texts = ["river light road", "dark winter sea"]
    batch = tokenizer(texts)
    with torch.no_grad():
        assert torch.equal(theirs(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.argmax(-1),
                           predict_proba(model, tokenizer, texts).argmax(-1))
    result = subprocess.run([BERT, "predict", "--model", out, *texts], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["bright", "gloomy"]


def test_finetune_on_fewer_labels_keeps_dev_and_test_whole(tmp_path, word_task):
    def run(out, **extra):
        return finetune(FinetuneRun(model=str(word_task / "model"), out=str(out), task=str(word_task / "task.csv"),
                                    text_column="sentence", label_column="mood", epochs=1, batch_size=16,
                                    eval_every_steps=2, seed=4, device="cpu", **extra), progress_bar=False)
    few, everything = run(tmp_path / "few", train_examples=50), run(tmp_path / "all")
    assert few["examples"] == {"train": 50, "dev": 40, "test": 40}
    assert few["steps"] == 4  # one epoch of 50 in batches of 16
    assert everything["examples"]["train"] == 320
    assert ((tmp_path / "few" / "test_predictions.jsonl").read_text().count("\n")
            == (tmp_path / "all" / "test_predictions.jsonl").read_text().count("\n") == 40)
    texts = [[json.loads(line)["text"] for line in (tmp_path / name / "test_predictions.jsonl").open()]
             for name in ("few", "all")]
    assert texts[0] == texts[1]
    assert json.loads((tmp_path / "few" / "run.json").read_text())["train_examples"] == 50


def test_finetune_is_reproducible(tmp_path, word_task):
    def run(out):
        return finetune(FinetuneRun(model=str(word_task / "model"), out=str(out), task=str(word_task / "task.csv"),
                                    text_column="sentence", label_column="mood", epochs=1, batch_size=32,
                                    learning_rate=1e-3, eval_every_steps=3, seed=3, device="cpu"), progress_bar=False)
    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert logged(tmp_path / "a") == logged(tmp_path / "b")
    assert a["test_accuracy"] == b["test_accuracy"]


def logged(out: Path) -> list[dict]:
    """metrics.jsonl without the wall-clock fields, which differ from run to run."""
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in ("elapsed", "tokens_per_second")}
            for line in lines]


def test_finetune_resumes_after_sigkill_exactly(tmp_path, word_task):
    """Killed after its second checkpoint and resumed, a fine-tuning run logs the same losses, keeps
    the same best-on-dev model and writes the same test predictions as the run that never stopped."""
    def command(out, *extra):
        return [BERT, "finetune", "--model", str(word_task / "model"), "--task", str(word_task / "task.csv"),
                "--text-column", "sentence", "--label-column", "mood", "--out", str(out), "--epochs", "3",
                "--batch-size", "16", "--lr", "1e-3", "--eval-every-steps", "5", "--log-every", "1",
                "--checkpoint-every-steps", "10", "--device", "cpu", "--no-progress", *extra]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(command(straight), check=True, capture_output=True, timeout=300)
    kill_when_exists(command(killed), killed / "checkpoints" / "step-000020")  # after the 2nd checkpoint
    assert not (killed / "summary.json").exists()
    # the folder holds the run's settings: --out and --resume are enough
    subprocess.run([BERT, "finetune", "--out", str(killed), "--resume", "--no-progress"], check=True,
                   capture_output=True, timeout=300)

    assert [r["step"] for r in logged(killed) if r["split"] == "train"] == list(range(1, 61))
    assert logged(killed) == logged(straight)  # bit-identical losses, accuracies and dev evaluations
    a, b = (json.loads((out / "summary.json").read_text()) for out in (straight, killed))
    assert (a["best_step"], a["dev_accuracy"], a["test_accuracy"]) == (b["best_step"], b["dev_accuracy"], b["test_accuracy"])
    assert (straight / "test_predictions.jsonl").read_bytes() == (killed / "test_predictions.jsonl").read_bytes()


def test_embed_command_writes_unit_vectors(tmp_path):
    import numpy as np
    out = tmp_path / "vectors.npy"
    result = subprocess.run([BERT, "embed", "--model", "minilm", "--out", out, *REVIEWS],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    vectors = np.load(out)
    assert vectors.shape == (4, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
