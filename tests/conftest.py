"""Fixtures shared by the tests that train: a fixed vocabulary and a small synthetic corpus."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

WORDS = ("river bank water stone tree city king queen music film war peace north south light dark "
         "house school road bridge garden winter summer ocean island forest mountain").split()


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """Pretraining runs (and the processes they start) cache their tokenized corpus here, not in
    the user's home folder."""
    path = tmp_path_factory.mktemp("data-cache")
    os.environ["BERT_DATA_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def vocabulary(tmp_path_factory) -> Path:
    """A fixed vocabulary: learning one is not bit-reproducible, and tests compare runs."""
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *WORDS]) + "\n")
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """80 documents of four 8-word sentences: enough for NSP pairs in training and held-out splits."""
    g = torch.Generator().manual_seed(0)
    docs = [" ".join(" ".join(WORDS[i] for i in torch.randint(len(WORDS), (8,), generator=g)).capitalize() + "."
                     for _ in range(4)) for _ in range(80)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n\n".join(docs) + "\n")
    return path


def kill_when_exists(command: list[str], path: Path, timeout: float = 240) -> None:
    """Start `command` and SIGKILL it as soon as `path` exists (e.g. its second checkpoint)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not path.exists():
        assert process.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
