"""The general-English corpus: WordNet 3.0 sentences, selected by helpers/offline/wordnet.py."""
import re
from pathlib import Path

import pytest

from helpers.offline import corpus, wordnet

WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base (.ci/run installs it)

SYNSETS = [
    ("noun", ["husband", "hubby"], 'a married man; "her husband is kind"'),
    ("noun", ["Paris"], "the capital of France"),  # a proper noun: no definition sentence
    ("verb", ["run"], 'move fast by using one\'s feet; "he ran to the store quickly"; "Don\'t run!"'),
    ("adj", ["kind"], 'having a good nature; "a kind man who is a good friend"'),
    ("noun", ["oboe"], "a double-reed instrument"),  # word too rare for the top list
]


def test_committed_file_is_what_the_debian_package_gives():
    """Reproducible from its source: regenerate from wordnet-base and compare byte for byte."""
    assert WORDNET_DIR.joinpath("data.noun").is_file(), (
        "Debian's wordnet-base is missing: apt-get install wordnet-base (.ci/run does)")
    assert wordnet.simple_sentences(wordnet.read_synsets(WORDNET_DIR)) == wordnet.load()


def test_selection_keeps_simple_examples_and_noun_definitions():
    top = 12  # the most frequent words of this tiny WordNet decide what is simple
    out = wordnet.simple_sentences(SYNSETS, top_words=40)
    assert "He ran to the store quickly." in out  # example: capitalised, full stop added
    assert "A husband is a married man." in out  # noun definition as a sentence
    assert "A kind man who is a good friend." in out
    assert not any("Paris" in s or "oboe" in s for s in out)
    assert "Don't run!." not in out and "Don't run!" not in out  # two words: too short
    few = wordnet.simple_sentences(SYNSETS, top_words=top)
    assert len(few) < len(out)  # a shorter word list keeps fewer sentences


def test_committed_sentences_are_short_plain_english():
    sentences = wordnet.load()
    assert 8000 < len(sentences) < 9500
    assert len(set(sentences)) == len(sentences)
    for s in sentences:
        assert re.fullmatch(r"[A-Z][A-Za-z ,.'!?;-]*[.!?]", s), s
        assert 3 <= len(s.split()) <= 17, s  # definitions: "A <noun> is" + up to 14 words


def test_general_sentences_are_split_and_keep_the_probes_out():
    train, heldout = corpus.general_sentences("train"), corpus.general_sentences("heldout")
    assert not set(train) & set(heldout)
    assert 0.07 < len(heldout) / (len(train) + len(heldout)) < 0.13
    assert not (set(train) | set(heldout)) & set(corpus.GENERAL_PROBES)
    docs = corpus.lm_documents("heldout")
    assert not any(p in d.get("text", "") for d in docs for p in corpus.GENERAL_PROBES)


def test_missing_wordnet_folder_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        wordnet.read_synsets(tmp_path)
