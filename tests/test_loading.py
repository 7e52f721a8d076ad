"""Folders that other tools wrote: every BERT class of transformers saved, and loaded into every class of ours.

transformers is the oracle. For each pair (the class that saved the folder, the class that loads it)
`transformers.<ours>.from_pretrained(folder, output_loading_info=True)` says what it does: its missing
keys start from the initialisation, its unexpected keys are dropped. Ours must do the same: the same
names newly initialised and ignored, said in one logged line; the same outputs wherever the weights
were loaded; the fresh parts as our own initialisation draws them from the caller's seed; and the
folder byte for byte as it was. The refusals are by design and tested as such: a model with a head
refuses a folder without that head (MissingHead), the encoder must fit exactly, shapes must agree,
a decoder saved untied cannot be tied, and config.json fields that change the computation are named.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file

from bert.cli import main
from bert.config import load_config
from bert.files import minilm_path
from bert.heads import (BertForMaskedLM, BertForPreTraining, BertForQuestionAnswering, BertForSequenceClassification,
                        BertForTokenClassification, MissingHead)
from bert.model import BertModel
from bert.tokenizer import BertTokenizer

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
TOL = 1e-5
BERT = str(Path(sys.executable).with_name("bert"))
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

# what each transformers class saves besides the encoder (written out: the design table, not read from our code)
SAVERS = {
    "BertModel": (lambda c: transformers.BertModel(c), {"pooler."}),
    "BertModel without pooler": (lambda c: transformers.BertModel(c, add_pooling_layer=False), set()),
    "BertForPreTraining": (transformers.BertForPreTraining, {"pooler.", "cls.predictions.", "cls.seq_relationship."}),
    "BertForMaskedLM": (transformers.BertForMaskedLM, {"cls.predictions."}),
    "BertForSequenceClassification": (transformers.BertForSequenceClassification, {"pooler.", "classifier."}),
    "BertForTokenClassification": (transformers.BertForTokenClassification, {"classifier."}),
    "BertForQuestionAnswering": (transformers.BertForQuestionAnswering, {"qa_outputs."}),
    "BertForNextSentencePrediction": (transformers.BertForNextSentencePrediction, {"pooler.", "cls.seq_relationship."}),
}
# the head without which from_pretrained refuses a folder (our deliberate choice: a random head answers at chance)
OWN_HEAD = {BertForPreTraining: "cls.predictions.", BertForMaskedLM: "cls.predictions.",
            BertForSequenceClassification: "classifier.", BertForTokenClassification: "classifier.",
            BertForQuestionAnswering: "qa_outputs."}
OURS = [BertModel, *OWN_HEAD]
# which parts each output depends on: it is compared with transformers' when none of them started fresh
OUTPUT_PARTS = {
    BertModel: {"pooler_output": ("pooler.",)},
    BertForPreTraining: {"prediction_logits": ("cls.predictions.",),
                         "seq_relationship_logits": ("bert.pooler.", "cls.seq_relationship.")},
    BertForMaskedLM: {"logits": ("cls.predictions.",)},
    BertForSequenceClassification: {"logits": ("bert.pooler.", "classifier.")},
    BertForTokenClassification: {"logits": ("classifier.",)},
    BertForQuestionAnswering: {"start_logits": ("qa_outputs.",), "end_logits": ("qa_outputs.",)},
}
TRANSFORMERS_ONLY = {"cls.predictions.decoder.bias"}  # their decoder's tied copy of cls.predictions.bias


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def save(tmp: Path, saver: str, seed: int = 0, **config) -> Path:
    torch.manual_seed(seed)
    folder = tmp / saver.replace(" ", "-")
    SAVERS[saver][0](transformers.BertConfig(**{**TINY, **config})).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    transformers.logging.set_verbosity_error()  # their load report: output_loading_info gives the same lists
    transformers.logging.disable_progress_bar()
    tmp = tmp_path_factory.mktemp("saved_by_transformers")
    return {saver: save(tmp, saver, seed) for seed, saver in enumerate(SAVERS)}


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, TINY["vocab_size"], (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return dict(input_ids=ids.masked_fill(mask == 0, 0), attention_mask=mask,
                token_type_ids=(torch.arange(9) >= 4).long().expand(2, 9))


def notices(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bert"]


def said(notice: str, label: str) -> set[str]:
    """The names after `label:` in the notice, up to the next `;`."""
    found = re.search(rf"{re.escape(label)}: ([^;]*)", notice)
    return set(found.group(1).split(", ")) if found else set()


def encoder_of(model):
    return model if isinstance(model, (BertModel, transformers.BertModel)) else model.bert


# --- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ours", OURS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("saver", SAVERS)
def test_every_folder_into_every_class(saver, ours, folders, batch, caplog):
    folder, before = folders[saver], files(folders[saver])
    theirs, info = getattr(transformers, ours.__name__).from_pretrained(
        folder, output_loading_info=True, attn_implementation="eager")
    their_fresh = set(info["missing_keys"]) - TRANSFORMERS_ONLY
    caplog.clear()
    torch.manual_seed(7)
    if ours in OWN_HEAD and OWN_HEAD[ours] not in SAVERS[saver][1]:
        with pytest.raises(MissingHead, match=f"has no {ours.head_name} head"):
            ours.from_pretrained(folder)
        assert any(name.startswith(OWN_HEAD[ours]) for name in their_fresh)  # transformers: a random head
        assert not notices(caplog) and files(folder) == before
        return
    model = ours.from_pretrained(folder)
    assert files(folder) == before  # loading never writes

    lines = notices(caplog)  # one line, naming exactly what transformers initialises and drops
    assert len(lines) == (1 if their_fresh or info["unexpected_keys"] else 0), lines
    if lines:
        assert "\n" not in lines[0] and lines[0].startswith(f"loaded {folder} into {ours.__name__}; ")
    fresh = said(lines[0], "newly initialised (not in the folder)") if lines else set()
    assert fresh == their_fresh
    assert (said(lines[0], f"ignored (no place in {ours.__name__})") if lines else set()) == set(info["unexpected_keys"])

    torch.manual_seed(7)  # the fresh parts are our initialisation, drawn from the caller's random state
    reference = ours(load_config(folder)).state_dict()
    assert all(torch.equal(model.state_dict()[name], reference[name]) for name in fresh)

    theirs.eval()
    with torch.no_grad():
        a, b = encoder_of(model)(**batch), encoder_of(theirs)(**batch)
        assert (a.last_hidden_state - b.last_hidden_state).abs().max() <= TOL
        a, b = model(**batch), theirs(**batch)
    for output, parts in OUTPUT_PARTS[ours].items():
        if not any(name.startswith(parts) for name in fresh):
            assert (getattr(a, output) - getattr(b, output)).abs().max() <= TOL, output


# --- what is still refused -------------------------------------------------------------------------


def edit_config(folder: Path, **changes) -> None:
    values = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**values, **changes}))


def test_an_encoder_that_does_not_fit_is_refused(folders, tmp_path):
    """Two layers in the file, four in config.json: transformers starts two layers from random, we refuse."""
    folder = Path(shutil.copytree(folders["BertForMaskedLM"], tmp_path / "four"))
    edit_config(folder, num_hidden_layers=4)
    _, info = transformers.BertForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert any(".layer.3." in name for name in info["missing_keys"])
    for ours, name in [(BertModel, "encoder.layer.2."), (BertForMaskedLM, "bert.encoder.layer.2.")]:
        with pytest.raises(ValueError, match=rf"does not fit {ours.__name__}\(4 layers, hidden 32\): "
                                             rf"missing {re.escape(name)}.* Does its config.json describe"):
            ours.from_pretrained(folder)


def test_shapes_that_disagree_are_refused(folders, tmp_path):
    folder = Path(shutil.copytree(folders["BertForSequenceClassification"], tmp_path / "labels"))
    edit_config(folder, id2label={"0": "a", "1": "b", "2": "c"}, label2id={"a": 0, "b": 1, "c": 2})
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):  # transformers refuses too
        transformers.BertForSequenceClassification.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"tensor classifier\.(weight|bias) has shape \((2, 32|2,)\) but the "
                                         r"model expects \((3, 32|3,)\)"):
        BertForSequenceClassification.from_pretrained(folder)


def test_half_a_pooler_is_damage_not_a_choice(folders, tmp_path):
    folder = Path(shutil.copytree(folders["BertModel"], tmp_path / "half"))
    tensors = load_file(folder / "model.safetensors")
    del tensors["pooler.dense.bias"]
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"missing pooler\.dense\.bias\. Does its config.json"):
        BertModel.from_pretrained(folder)


def test_a_decoder_saved_untied_is_refused_where_ours_is_tied(tmp_path, batch, caplog):
    folder = save(tmp_path, "BertForMaskedLM", tie_word_embeddings=False)
    theirs = transformers.BertForMaskedLM.from_pretrained(folder).eval()
    assert theirs.cls.predictions.decoder.weight.data_ptr() != theirs.bert.embeddings.word_embeddings.weight.data_ptr()
    for ours in (BertForMaskedLM, BertForPreTraining):
        with pytest.raises(ValueError, match=r"cls\.predictions\.decoder\.weight differs from "
                                             r"bert\.embeddings\.word_embeddings\.weight, so the model was saved "
                                             r"untied \(tie_word_embeddings false\)"):
            ours.from_pretrained(folder)
    caplog.clear()
    encoder = BertModel.from_pretrained(folder)  # the encoder is all there: embeddings need nothing else
    assert "cls.predictions.decoder.weight" in said(notices(caplog)[0], "ignored (no place in BertModel)")
    with torch.no_grad():
        assert (encoder(**batch).last_hidden_state - theirs.bert(**batch).last_hidden_state).abs().max() <= TOL


def test_legacy_names_and_stored_tied_copies_load_silently(folders, tmp_path, batch, caplog):
    """TensorFlow-era LayerNorm.gamma / beta, and the decoder's tied weight and bias stored as well."""
    tensors = load_file(folders["BertForPreTraining"] / "model.safetensors")
    old = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
           for k, v in tensors.items()}
    old["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"].clone()
    old["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"].clone()
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(folders["BertForPreTraining"] / "config.json", folder)
    save_file(old, folder / "model.safetensors", metadata={"format": "pt"})
    theirs, info = transformers.BertForPreTraining.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    caplog.clear()
    ours = BertForPreTraining.from_pretrained(folder)
    assert not notices(caplog)
    with torch.no_grad():
        a, b = ours(**batch), theirs.eval()(**batch)
    assert (a.prediction_logits - b.prediction_logits).abs().max() <= TOL
    assert (a.seq_relationship_logits - b.seq_relationship_logits).abs().max() <= TOL
    BertModel.from_pretrained(folder)  # the heads are ignored under the names the file gives them
    assert "cls.predictions.transform.LayerNorm.gamma" in said(notices(caplog)[-1], "ignored (no place in BertModel)")


# --- config.json fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("is_decoder", True),  # causal attention
    ("add_cross_attention", True),
    ("hidden_act", "gelu_new"),
    ("hidden_act", "silu"),
    ("position_embedding_type", "relative_key"),
    ("quantization_config", {"load_in_8bit": True, "quant_method": "bitsandbytes"}),  # as json.dumps sorts it
])
def test_fields_that_change_the_computation_are_refused_by_name(field, value, tmp_path):
    transformers.BertConfig(**TINY, **{field: value}).save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())[field] == value  # transformers wrote it
    with pytest.raises(ValueError, match=f"^{re.escape(f'{field} {value!r} is not supported: ')}"):
        load_config(tmp_path)


def test_a_decoder_folder_is_refused_before_its_weights(tmp_path):
    torch.manual_seed(0)
    transformers.BertModel(transformers.BertConfig(**TINY, is_decoder=True)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="is_decoder True is not supported: a decoder's attention is causal"):
        BertModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("field, value", [
    ("chunk_size_feed_forward", 3),  # the feed-forward on slices of the sequence: the same numbers
    ("layer_norm_eps", 1e-7),
    ("pad_token_id", None),  # only which embedding row training leaves alone
    ("classifier_dropout", 0.3),  # only in training
    ("hidden_act", "relu"),
])
def test_fields_we_represent_load_with_the_same_outputs(field, value, tmp_path, batch):
    folder = save(tmp_path, "BertForSequenceClassification", **{field: value})
    theirs = transformers.BertForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    ours = BertForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        assert (ours(**batch).logits - theirs(**batch).logits).abs().max() <= TOL


@pytest.mark.parametrize("config, problem", [
    (dict(problem_type="multi_label_classification", num_labels=3), "problem_type 'multi_label_classification'"),
    (dict(problem_type="regression", num_labels=1), "problem_type 'regression'"),
    (dict(num_labels=1), "problem_type 'regression' (num_labels 1)"),  # transformers' forward decides so
])
def test_classifiers_for_other_problems_are_refused(config, problem, tmp_path, caplog):
    folder = save(tmp_path, "BertForSequenceClassification", **config)
    with pytest.raises(ValueError, match=re.escape(problem) + " is not supported: transformers' "
                                                              "BertForSequenceClassification"):
        BertForSequenceClassification.from_pretrained(folder)
    caplog.clear()
    BertModel.from_pretrained(folder)  # its encoder still gives embeddings
    assert said(notices(caplog)[0], "ignored (no place in BertModel)") == {"classifier.weight", "classifier.bias"}
    assert BertForSequenceClassification.from_encoder(folder, ["a", "b"]).config.num_labels == 2


def test_num_labels_without_id2label_gets_transformers_names(folders, tmp_path):
    folder = save(tmp_path, "BertForSequenceClassification", num_labels=3)
    values = json.loads((folder / "config.json").read_text())
    del values["id2label"], values["label2id"]
    (folder / "config.json").write_text(json.dumps({**values, "num_labels": 3}))
    theirs = transformers.BertForSequenceClassification.from_pretrained(folder)
    ours = BertForSequenceClassification.from_pretrained(folder)
    assert ours.config.id2label == theirs.config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}


# --- from_encoder ----------------------------------------------------------------------------------


def test_from_encoder_says_only_what_it_did_not_choose(folders, caplog):
    """A fresh pooler is news; the folder's own head left behind is what from_encoder is for."""
    caplog.clear()
    BertForTokenClassification.from_encoder(folders["BertForPreTraining"], ["O", "X"])
    assert not notices(caplog)
    torch.manual_seed(3)
    model = BertForSequenceClassification.from_encoder(folders["BertForMaskedLM"], ["a", "b"])
    (line,) = notices(caplog)
    assert said(line, "newly initialised (not in the folder)") == {"pooler.dense.weight", "pooler.dense.bias"}
    assert "ignored" not in line
    torch.manual_seed(3)
    assert torch.equal(model.bert.pooler.dense.weight,
                       BertForSequenceClassification(model.config).bert.pooler.dense.weight)


# --- through the command line ----------------------------------------------------------------------


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """`bert ARGV` in this process: (exit status, standard output, standard error)."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def masked_lm_folder(tmp_path_factory, vocabulary) -> Path:
    """What transformers' run_mlm.py leaves: a BertForMaskedLM (no pooler) and its tokenizer."""
    tokenizer = BertTokenizer.from_pretrained(vocabulary)
    folder = save(tmp_path_factory.mktemp("run_mlm"), "BertForMaskedLM", vocab_size=tokenizer.vocab_size)
    tokenizer.save_pretrained(folder)
    return folder


def test_fill_mask_with_an_encoder_only_folder_says_so(capsys):
    status, out, err = run_cli(capsys, "fill-mask", "--model", minilm_path(), "the [MASK] .")
    assert status == 1 and out == "" and "Traceback" not in err
    assert err.splitlines() == [f"bert fill-mask: error: {minilm_path()} has no masked-language-model head "
                                "(it holds BertModel); fill-mask needs one, such as a folder written by bert "
                                "pretrain or transformers' BertForMaskedLM"]


def test_embed_and_fill_mask_take_a_masked_lm_folder(capsys, caplog, masked_lm_folder):
    before = files(masked_lm_folder)
    caplog.clear()
    status, out, err = run_cli(capsys, "embed", "--model", masked_lm_folder, "a river", "the bank")
    assert status == 0 and err.startswith("bert embed: loaded ") and len(err.splitlines()) == 1, err
    assert [line.split("\t")[0] for line in out.splitlines()] == ["a river", "the bank"]
    (line,) = notices(caplog)
    assert said(line, "newly initialised (not in the folder)") == {"pooler.dense.weight", "pooler.dense.bias"}
    caplog.clear()
    status, out, err = run_cli(capsys, "fill-mask", "--model", masked_lm_folder, "the river [MASK] .")
    assert status == 0 and err.startswith("bert fill-mask: loaded ") and out.startswith("[MASK] 1: "), err
    (line,) = notices(caplog)
    assert said(line, "newly initialised (not in the folder)") == {
        "bert.pooler.dense.weight", "bert.pooler.dense.bias", "cls.seq_relationship.weight", "cls.seq_relationship.bias"}
    assert files(masked_lm_folder) == before


def test_the_console_script_shows_the_notice_as_one_line(masked_lm_folder):
    result = subprocess.run([BERT, "embed", "--model", str(masked_lm_folder), "a river"], capture_output=True,
                            text=True, env={**os.environ, **OFFLINE}, timeout=120)
    assert result.returncode == 0, result.stderr
    # bert embed loads the encoder as chapter 15's UnpaddedBertModel, a BertModel with another forward pass
    assert result.stderr.splitlines() == [f"bert embed: loaded {masked_lm_folder} into UnpaddedBertModel; newly "
                                          "initialised (not in the folder): pooler.dense.bias, pooler.dense.weight; "
                                          "ignored (no place in UnpaddedBertModel): cls.predictions.bias, "
                                          "cls.predictions.transform.LayerNorm.bias, "
                                          "cls.predictions.transform.LayerNorm.weight, "
                                          "cls.predictions.transform.dense.bias, "
                                          "cls.predictions.transform.dense.weight"]
    assert result.stdout.startswith("a river\t")
