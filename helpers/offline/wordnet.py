"""Simple English sentences from WordNet 3.0, for the offline model's general-English corpus.

WordNet's glosses hold about 48,000 example sentences written by lexicographers ("the house is
easy to heat", "I need some fresh air") and a definition for every synset. This module keeps the
*simple* ones: every word among the most frequent words of WordNet's own examples and
definitions, 5-14 words for examples, 3-14 for noun definitions (written as "A husband is a
married man."). The result is committed as ``data/corpus/wordnet_simple.txt`` so the asset build
and the tests need nothing installed; regenerate it from Debian's ``wordnet-base`` package:

    apt-get install wordnet-base
    python -m helpers.offline.wordnet /usr/share/wordnet

WordNet 3.0 licence (permissive; the notice must travel with copies): ``data/corpus/LICENSE.wordnet``.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import re
import sys
from pathlib import Path

from helpers.assets import REPO_ROOT

OUT = REPO_ROOT / "data" / "corpus" / "wordnet_simple.txt"
POS_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
TOP_WORDS = 5000
_ALLOWED = re.compile(r"[A-Za-z ,.'!?;-]+")
_WORD = re.compile(r"[A-Za-z']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def read_synsets(wordnet_dir: Path) -> list[tuple[str, list[str], str]]:
    """``(pos, lemmas, gloss)`` of every synset in WordNet's ``data.*`` files (license header lines skipped)."""
    synsets = []
    for name in POS_FILES:
        path = Path(wordnet_dir) / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: install Debian's wordnet-base (apt-get install wordnet-base) "
                                    "and pass its folder, /usr/share/wordnet.")
        for line in path.read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or " | " not in line:
                continue
            head, gloss = line.split(" | ", 1)
            fields = head.split()
            n_lemmas = int(fields[3], 16)
            synsets.append((name.split(".")[1], [fields[4 + 2 * i] for i in range(n_lemmas)], gloss.strip()))
    return synsets


def _sentence(text: str) -> str:
    text = text.strip().rstrip(";,").strip()
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def simple_sentences(synsets: list[tuple[str, list[str], str]], top_words: int = TOP_WORDS) -> list[str]:
    """The simple example sentences and noun definitions, in WordNet's order, without duplicates."""
    examples = [e.strip() for _, _, gloss in synsets for e in re.findall(r'"([^"]+)"', gloss)]
    definitions = [(pos, lemmas, gloss.split(";")[0].strip()) for pos, lemmas, gloss in synsets
                   if not gloss.startswith('"')]
    freq = collections.Counter(w for e in examples for w in _words(e))
    freq.update(w for _, _, d in definitions for w in _words(d))
    # ties broken by the word itself, so the cut does not depend on Counter's insertion order
    top = {w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:top_words]}

    def simple(text: str, lo: int, hi: int) -> bool:
        return bool(_ALLOWED.fullmatch(text)) and lo <= len(text.split()) <= hi and all(w in top for w in _words(text))

    out = [_sentence(e) for e in examples if simple(e, 5, 14)]
    for pos, lemmas, definition in definitions:
        plain = [x for x in lemmas if x.isalpha() and x.islower() and x in top]
        if pos == "noun" and plain and simple(definition, 3, 14):
            article = "An" if plain[0][0] in "aeiou" else "A"
            out.append(f"{article} {plain[0]} is {definition}.")
    return list(dict.fromkeys(out))


def load(path: Path = OUT) -> list[str]:
    """The committed sentences (one per line)."""
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line]


def sha256(path: Path = OUT) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wordnet_dir", type=Path, help="WordNet's dict folder, e.g. /usr/share/wordnet")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    sentences = simple_sentences(read_synsets(args.wordnet_dir))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    print(f"{len(sentences)} sentences, {sum(len(s.split()) for s in sentences)} words -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
