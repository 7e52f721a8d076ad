"""tools/prose_numbers.py finds the numbers of the prose that nothing backs, and only those.

Each verdict is checked on a small page in tmp_path; `make test` runs the check on the book itself.
"""

from tools.prose_numbers import scan

PAGE = """---
jupytext:
  text_representation:
    format_name: myst
---

# A page

The model reaches 73.9 % on the test set. The paper masks 15 % of the tokens {cite}`devlin2019bert`.
Google's code caps it at 20 ([create_pretraining_data.py](https://github.com/google-research/bert)).
Chapters 2, 7 and 10 build it; see Table 15 and §5.3, from 2018. Use 3 seeds and label 1.
We glue {glue:text}`accuracy:.1%` and write `x = 1234` and $d = 768$ in code and math.
The run took 25 minutes on 10,000 documents.

```{code-cell} ipython3
print(4096)
```
"""


def verdicts(tmp_path, allowed=None) -> dict[str, str]:
    page = tmp_path / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    return {found.number: found.verdict for found in scan(page, allowed or {})
            if found.verdict != "glued"}


def test_each_number_gets_the_verdict_it_deserves(tmp_path):
    found = verdicts(tmp_path)

    assert found["73.9 %"] == "", "a result that no cell computed is a problem"
    assert found["15 %"] == "cited" and found["20"] == "cited", "a citation or a link to the source"
    assert found["2"] == found["7"] == found["10"] == "reference"
    assert found["15"] == "reference" and found["5.3"] == "reference" and found["2018"] == "reference"
    assert found["3"] == "small" and found["1"] == "small"
    assert found["25"] == "" and found["10,000"] == ""
    assert "1234" not in found and "768" not in found and "4096" not in found, "code and math are not prose"


def test_an_allowlist_phrase_explains_its_number(tmp_path):
    found = verdicts(tmp_path, {"on 10,000 documents": "the corpus the chapter chooses"})

    assert found["10,000"] == "allowed"
    assert found["73.9 %"] == ""


def test_a_sentence_does_not_end_at_an_abbreviation():
    from tools.prose_numbers import sentences

    text = "Clark et al. (2019) found 45 % of them, e.g. these. Next one? Yes: J. Smith agrees."
    assert [text[a:b].strip() for a, b in sentences(text)] == [
        "Clark et al. (2019) found 45 % of them, e.g. these.", "Next one?", "Yes:", "J. Smith agrees."]
