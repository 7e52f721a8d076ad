"""Running a chapter yourself works as README.md and the preface say: `make lab`, Colab, a download.

The chapter is converted with jupytext and executed by a Jupyter kernel started in book/, the folder
`make lab` serves, outside the book build; JupyterLab, started by the Makefile's own recipe, serves
a chapter's .md file as a notebook. A chapter downloaded from the site (or opened on Colab) runs in
an empty folder, with only the package, and finds the committed results it reads in the
repository's tarball at its commit: here a local copy of that tarball, offline. The tests that
need JupyterLab, make or git are skipped, with the reason, where they are missing.
"""

import base64
import glob
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image

from tools.book_site import pin_launch_cell

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BIN = Path(sys.executable).parent  # .venv/bin under `make test`
CHAPTER = BOOK / "03_embeddings.md"  # short (seconds), and it draws a figure
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

needs_jupyterlab = pytest.mark.skipif(
    importlib.util.find_spec("jupyterlab") is None,
    reason="jupyterlab is not installed in this environment: `make venv` (or `make lab`) installs "
           "requirements.txt, which pins it")
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no `make` on PATH")
needs_git = pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                               reason="not a git checkout: the tarball is made with `git archive`")
DOWNLOADED = BOOK / "13_making_it_fast.md"  # reads bench/results/; runs in about 30 s


def section(path: Path, heading: str) -> str:
    """The text of one `## heading` section of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def pinned(package: str) -> str:
    match = re.search(rf"^{package}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert match, f"requirements.txt pins no {package}"
    return match.group(1)


@pytest.mark.parametrize("path, heading", [(ROOT / "README.md", "Running a chapter yourself"),
                                           (BOOK / "preface.md", "Running the chapters yourself")])
def test_readme_and_preface_give_the_makefile_command(path, heading):
    text = section(path, heading)
    assert re.search(r"^make lab\b", text, re.M), f"{path.name}'s '{heading}' does not say `make lab`"
    assert "pip install jupyterlab" not in text, "JupyterLab comes from requirements.txt, not by hand"
    lab = re.search(r"^lab: (.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert lab and "$(STAMP)" in lab.group(1), "`make lab` must install what it needs first"


@needs_jupyterlab
def test_the_jupyter_lab_command_is_installed_at_the_pinned_version():
    jupyter = BIN / "jupyter"
    assert jupyter.exists(), f"no {jupyter}"
    result = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == pinned("jupyterlab")


@pytest.mark.slow
def test_a_chapter_runs_as_a_notebook_from_book(tmp_path, monkeypatch):
    """jupytext --to ipynb, then every cell in a kernel whose working directory is book/."""
    notebook = tmp_path / "chapter.ipynb"
    subprocess.run([str(BIN / "jupytext"), "--to", "ipynb", "--output", str(notebook), str(CHAPTER)],
                   check=True, capture_output=True, timeout=120)
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(notebook, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    # raises CellExecutionError, with the cell and its traceback, at the first cell that fails
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert figures, f"{CHAPTER.name} drew no figure"
    for png in figures:  # book/matplotlibrc: opaque white, so black text stays readable in dark mode
        image = Image.open(io.BytesIO(base64.b64decode(png))).convert("RGBA")
        assert image.getchannel("A").getextrema() == (255, 255), "a figure has a transparent background"
        assert image.getpixel((0, 0)) == (255, 255, 255, 255)


@needs_jupyterlab
@needs_make
def test_make_lab_serves_the_chapters_as_notebooks(tmp_path):
    """The Makefile's recipe (the install is taken as done), on a free port and without a browser."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    flags = ["--no-browser", "--ServerApp.port=0", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    if os.geteuid() == 0:
        flags.append("--allow-root")
    server = subprocess.Popen(["make", "--no-print-directory", "-o", ".venv/.installed", "lab",
                               f"LAB_ARGS={' '.join(flags)}"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (found := glob.glob(str(tmp_path / "runtime" / "jpserver-*.json"))):
            assert server.poll() is None, f"`make lab` stopped:\n{server.stdout.read()}"
            assert time.time() < deadline, "JupyterLab did not start within two minutes"
            time.sleep(0.2)
        info = json.loads(Path(found[0]).read_text())

        def api(path: str, method: str = "GET") -> dict:
            request = urllib.request.Request(info["url"] + path, method=method,
                                             headers={"Authorization": f"token {info['token']}"})
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)

        assert Path(info["root_dir"]) == BOOK
        chapter = api(f"api/contents/{CHAPTER.name}?type=notebook&content=1")  # what Lab opens
        assert chapter["type"] == "notebook"
        assert len(chapter["content"]["cells"]) > 10
        viewers = api("lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert viewers["schema"]["properties"]["defaultViewers"]["default"]["markdown"] == "Jupytext Notebook"
        checkpoints_in_book = BOOK / ".ipynb_checkpoints"
        there_before = checkpoints_in_book.exists()
        api(f"api/contents/{CHAPTER.name}/checkpoints", method="POST")  # what Lab does on opening a file
        assert there_before or not checkpoints_in_book.exists(), "checkpoints in book/ are read as chapters"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True, timeout=120).stdout.strip()


@needs_git
@pytest.mark.slow
def test_a_downloaded_chapter_runs_in_an_empty_folder_offline(tmp_path):
    """The .ipynb from the site's download button, or Colab's copy: no checkout around it.

    The package is installed as pip installs it from git, pinned to a commit (PEP 610's
    direct_url.json records it), and nothing else of the repository is there; the notebook's
    launch cell is pinned to that commit as the book build pins it. BERT_BOOK_SOURCE points
    bert.files.book_file at a local copy of the tarball GitHub would send for that commit,
    `git archive` of the files the chapters read, so that the test needs no network."""
    commit = git("rev-parse", "HEAD")
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "bert", site / "bert", ignore=shutil.ignore_patterns("__pycache__"))
    info = site / "bert_from_scratch-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bert-from-scratch\nVersion: 0.1.0\n")
    (info / "direct_url.json").write_text(json.dumps({
        "url": "https://github.com/bert-from-scratch/bert-from-scratch.git",
        "vcs_info": {"vcs": "git", "requested_revision": commit, "commit_id": commit}}))
    tarball = tmp_path / f"{commit}.tar.gz"
    git("archive", "--format=tar.gz", f"--prefix=bert-from-scratch-{commit}/", f"--output={tarball}",
        "HEAD", "--", "runs", "bench/results")
    empty, home = tmp_path / "downloads", tmp_path / "home"
    empty.mkdir()
    home.mkdir()
    env = {**os.environ, **OFFLINE, "HOME": str(home), "PYTHONPATH": str(site),
           "BERT_BOOK_SOURCE": str(tarball)}
    where = subprocess.run([sys.executable, "-c", "import bert; print(bert.__file__)"], cwd=empty,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), f"the kernel would import the checkout's bert: {where}"

    notebook = empty / DOWNLOADED.with_suffix(".ipynb").name
    subprocess.run([str(BIN / "jupytext"), "--to", "ipynb", "--output", str(notebook), str(DOWNLOADED)],
                   check=True, capture_output=True, timeout=120)
    nb = nbformat.read(notebook, as_version=4)
    assert pin_launch_cell(nb, commit), "the launch cell has no `REF = \"main\"` line to pin"
    launch = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert f'REF = "{commit}"' in launch.source and 'REF = "main"' not in launch.source
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(empty)}})
    with pytest.MonkeyPatch.context() as patch:  # the kernel inherits this process's environment
        for name, value in env.items():
            patch.setenv(name, value)
        client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    fetched = home / ".cache" / "bert-from-scratch" / commit
    assert (fetched / "bench" / "results").is_dir(), "the results were not fetched where they belong"
    assert sorted(p.name for p in empty.iterdir()) == [notebook.name], "it wrote into the reader's folder"


def outside_a_checkout(monkeypatch, tmp_path, source: Path) -> Path:
    """bert.files as a downloaded notebook sees it: no checkout, a known commit, HOME in tmp."""
    from bert import files

    monkeypatch.setattr(files, "_checkout", lambda: None)
    monkeypatch.setattr(files, "_installed_commit", lambda: "0" * 40)
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    monkeypatch.setenv(files.BOOK_SOURCE, str(source))
    files._fetched_repository.cache_clear()
    return tmp_path / "home" / ".cache" / "bert-from-scratch"


def test_in_a_checkout_book_file_is_the_checkouts_own_file():
    from bert.files import book_file

    assert book_file("runs/tiny") == ROOT / "runs" / "tiny"
    with pytest.raises(FileNotFoundError, match="has no runs/none"):
        book_file("runs/none")


def test_a_repository_that_cannot_be_fetched_is_one_clear_error_and_leaves_nothing(
        tmp_path, monkeypatch):
    from bert.files import book_file

    cache = outside_a_checkout(monkeypatch, tmp_path, tmp_path / "missing.tar.gz")
    with pytest.raises(FileNotFoundError) as error:
        book_file("runs/tiny")
    message = str(error.value)
    assert "could not be fetched from" in message and "missing.tar.gz" in message
    assert "BERT_BOOK_SOURCE" in message and "\n" not in message
    assert not cache.exists() or not list(cache.iterdir()), "a failed fetch left a folder behind"


def test_a_tarball_that_writes_outside_its_folder_is_refused(tmp_path, monkeypatch):
    import tarfile

    from bert.files import book_file

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        member = tarfile.TarInfo("repo/../../escaped.txt")
        member.size = 0
        tar.addfile(member, io.BytesIO(b""))
    cache = outside_a_checkout(monkeypatch, tmp_path, evil)
    with pytest.raises(FileNotFoundError, match="could not be fetched"):
        book_file("runs/tiny")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(cache.iterdir())
