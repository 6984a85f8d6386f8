"""Hidden tests of notebook 02 (multi-turn chat): render_prompt, chat_round, top_next_tokens. TA only.

Histories differ from the notebook's rainbow rounds: other questions, unicode and emoji, numbers,
whitespace the template trims, an empty model reply. Generation stays short (≤ 10 new tokens).
"""
from __future__ import annotations

from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case, ref


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def cases() -> dict[str, list[Case]]:
    tok, model = ref("tokenizer"), ref("model")
    return {
        "render_prompt": [
            Case("one German turn with an emoji", (tok, [_user("Welche Farbe hat der Himmel? ☁️")]), compare=exact()),
            Case("three turns with numbers", (tok, [_user("What is 2 + 2?"), _assistant("4"), _user("And 3 × 3?")]),
                 compare=exact()),
            Case("whitespace around the contents", (tok, [_user("  Hello!\n"), _assistant("\nHi there.  "), _user("Tell me a joke.")]),
                 compare=exact()),
            Case("an empty model reply", (tok, [_user("Hi"), _assistant(""), _user("Still there?")]), compare=exact()),
        ],
        "chat_round": [
            Case("first round, short reply", (model, tok, [], "Name a fruit, one word only.", 8), compare=exact()),
            Case("second round with an emoji", (model, tok, [_user("Name a color in a rainbow."), _assistant("Blue.")],
                                                "And another one? 🌈", 10), compare=exact()),
            Case("reply cut at max_new_tokens", (model, tok, [], "What is a transformer?", 6), compare=exact()),
        ],
        "top_next_tokens": [
            Case("greeting with an emoji, k=3", (model, tok, [_user("Hello! 👋")], 3), compare=allclose(atol=1e-4, rtol=1e-3)),
            Case("three turns, k=5", (model, tok, [_user("Name a color in a rainbow."), _assistant("Green."),
                                                  _user("Another one, please.")], 5), compare=allclose(atol=1e-4, rtol=1e-3)),
            Case("k=1", (model, tok, [_user("Tell me about Professor Lee.")], 1), compare=allclose(atol=1e-4, rtol=1e-3)),
        ],
    }
