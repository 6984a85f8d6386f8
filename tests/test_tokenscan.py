"""The token guard (helpers.tokenscan) on every form a token takes in code, outputs and attachments.

All tokens are made at run time (tests/tokens.py): this file holds no token-shaped literal, and the
repository scan (tests/test_secrets.py) reads it too.
"""
import base64
import json
import zlib

import pytest

from helpers import tokenscan
from tests.tokens import fake_hf_token, fake_secret

T = fake_hf_token(seed=7)
S = fake_secret(seed=7)
LOGIN = "log" + "in"  # `login(` is assembled too, so that only the rows below contain it
X34 = "x" * 34


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def png_with_text(text: str) -> bytes:
    """A 1x1 PNG whose tEXt chunk carries ``text`` (as an image with metadata would)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"Comment\0" + text.encode())
            + chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + chunk(b"IEND", b""))


# (form, text, line where the secret starts or None) — scanned as code / plain text
TEXT_CASES = [
    ("plain", f'token = "{T}"', 1),
    ("adjacent literals over lines", f'token = (\n    "{T[:12]}"\n    "{T[12:]}"\n)', 2),
    ("plus-joined literals", f'token = "{T[:3]}" + "{T[3:20]}" + \\\n    "{T[20:]}"', 1),
    ("backslash-continued adjacent literals", f"tok = '{T[:10]}' \\\n      '{T[10:]}'", 1),
    ("plus-joined, one literal per line", f'token = ("{T[:9]}"\n         + "{T[9:25]}"\n         + "{T[25:]}")', 1),
    ("split over plain lines", f"my token is {T[:20]}\n{T[20:]} thanks", 1),
    ("JSON unicode escape", '{"token": "hf\\u005f' + T[3:] + '"}', 1),
    ("Python hex escape in a literal", 'token = "hf\\x5f' + T[3:] + '"', 1),
    ("HTML entity", f"<td>hf&#95;{T[3:]}</td>", 1),
    ("HTML named entity, double-escaped", f"<td>hf&amp;lowbar;{T[3:]}</td>", 1),
    ("broken by HTML tags", f"<span>{T[:8]}</span><span class='x'>{T[8:]}</span>", 1),
    ("broken by tags over lines", f"<pre>{T[:15]}<wbr>\n{T[15:]}</pre>", 1),
    ("zero-width space inside", T[:10] + "\u200b" + T[10:], 1),
    ("URL-encoded underscore", f"https://example.invalid/?t=hf%5F{T[3:]}", 1),
    ("second line of a file", f"import os\nHF = '{T}'\n", 2),
    (f"{LOGIN}(token=literal)", f"{LOGIN}(token='{S}')", 1),
    (f"{LOGIN}(token=short literal)", f"{LOGIN}(token='abc')", 1),  # not a known placeholder: refused
    (f"{LOGIN}(literal) positional", f'huggingface_hub.{LOGIN}("{S}")', 1),
    (f"{LOGIN}(token=f-string literal)", f'{LOGIN}(token=f"{S}")', 1),
    ("CLI --token literal", f"!hf auth {LOGIN} --token {S}", 1),
    # --- placeholders and look-alikes: no hit ---
    (f"{LOGIN}(token='YOUR_TOKEN')", f"{LOGIN}(token='YOUR_TOKEN')", None),
    (f"{LOGIN}(token='<your token>')", f'{LOGIN}(token="<your token>")', None),
    (f"{LOGIN}(token='hf_...')", f"{LOGIN}(token='hf_...')", None),
    (f"{LOGIN}(token='hf_xxx…')", f"{LOGIN}(token='hf_{X34}')", None),
    (f"{LOGIN}(token='...')", f"{LOGIN}(token='...')", None),
    (f"{LOGIN}(token=env)", f"{LOGIN}(token=os.environ['HF_TOKEN'])", None),
    (f"{LOGIN}(token=Colab secret)", f"{LOGIN}(token=userdata.get('HF_TOKEN'))", None),
    (f"{LOGIN}(token=f-string of a variable)", f'{LOGIN}(token=f"{{token}}")', None),
    ("hf_xxx… placeholder", f"HF_TOKEN=hf_{X34}", None),
    ("hf_XXX… placeholder", "export HF_TOKEN=hf_" + "X" * 36, None),
    ("hf_... placeholder", "HF_TOKEN=hf_...", None),
    ("word placeholder without digits", "token = hf_" + "YourTokenHere" * 3, None),
    ("CLI --token from the environment", f"!hf auth {LOGIN} --token $HF_TOKEN", None),
    ("CLI --token prose", "pass it with --token value.", None),
    ("hub identifiers", "from huggingface_hub import hf_hub_download, hf_hub_url\nhf_hub_download(repo_id, filename)", None),
    ("a long identifier", "hf_" + "hub_download_with_a_very_long_name_that_goes_on", None),
    ("too short to be a token", "token = 'hf_" + T[3:20] + "'", None),
    ("env variable name", f"{LOGIN}(token='HF_TOKEN')", None),
]


@pytest.mark.parametrize("form, text, line", TEXT_CASES, ids=[case[0] for case in TEXT_CASES])
def test_scan_text_every_form(form, text, line):
    assert tokenscan.scan_text(text, "f.py") == ([] if line is None else [f"f.py:{line}"])


@pytest.mark.parametrize("form, text, line", [c for c in TEXT_CASES if "\n" not in c[1]],
                         ids=[c[0] for c in TEXT_CASES if "\n" not in c[1]])
def test_line_has_secret_on_one_line_forms(form, text, line):
    assert tokenscan.line_has_secret(text) is (line is not None)


def _nb(cells, metadata=None):
    return {"cells": cells, "metadata": metadata or {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


def _code(source="x = 1", outputs=(), **extra):
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": list(outputs), "execution_count": 1, **extra}


def _stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def _data(mime, value):
    return {"output_type": "display_data", "data": {mime: value}, "metadata": {}}


# (form, notebook, expected hits) — scanned as a notebook
NOTEBOOK_CASES = [
    ("source split over adjacent literals", _nb([_code(["tok = (\n", f'  "{T[:5]}"\n', f'  "{T[5:]}")'])]),
     ["nb: cell 1 source line 2"]),
    ("source joined with +", _nb([_code(f'tok = "{T[:20]}" + "{T[20:]}"')]), ["nb: cell 1 source line 1"]),
    ("stream output", _nb([_code(outputs=[_stream(f"token: {T}\n")])]), ["nb: cell 1 output"]),
    ("stream output wrapped over lines", _nb([_code(outputs=[_stream([f"{T[:30]}\n", f"{T[30:]}\n"])])]),
     ["nb: cell 1 output"]),
    ("base64 in a stream output", _nb([_code(outputs=[_stream(b64(f"HF_TOKEN={T}") + "\n")])]), ["nb: cell 1 output"]),
    ("URL-safe base64 in text/plain", _nb([_code(outputs=[_data("text/plain", base64.urlsafe_b64encode(f"{T}?".encode()).decode())])]),
     ["nb: cell 1 output"]),
    ("JSON output", _nb([_code(outputs=[_data("application/json", {"config": {"token": T}})])]), ["nb: cell 1 output"]),
    ("JSON text with \\u005f in an output", _nb([_code(outputs=[_stream('{"token": "hf\\u005f' + T[3:] + '"}')])]),
     ["nb: cell 1 output"]),
    ("HTML output broken by tags", _nb([_code(outputs=[_data("text/html", f"<b>{T[:4]}</b><i>{T[4:]}</i>")])]),
     ["nb: cell 1 output"]),
    ("HTML output with entities", _nb([_code(outputs=[_data("text/html", f"<td>hf&#x5f;{T[3:]}</td>")])]),
     ["nb: cell 1 output"]),
    ("PNG output with the token in a text chunk", _nb([_code(outputs=[_data("image/png", b64(png_with_text(T)))])]),
     ["nb: cell 1 output"]),
    ("PNG attachment with the token in a text chunk",
     _nb([{"cell_type": "markdown", "source": "![x](attachment:x.png)", "metadata": {},
           "attachments": {"x.png": {"image/png": b64(png_with_text(T))}}}]),
     ["nb: cell 1 attachment x.png"]),
    ("text attachment, base64", _nb([{"cell_type": "markdown", "source": "", "metadata": {},
                                       "attachments": {"notes.txt": {"text/plain": b64(f"token {T}")}}}]),
     ["nb: cell 1 attachment notes.txt"]),
    ("error value and traceback", _nb([_code(outputs=[{"output_type": "error", "ename": "HTTPError",
                                                       "evalue": f"401 for token {T}", "traceback": ["Traceback", f"  token={T[:10]}"]}])]),
     ["nb: cell 1 output"]),
    ("cell metadata", _nb([_code(metadata={"secret": T})]), ["nb: cell 1 metadata"]),
    ("notebook metadata, base64", _nb([_code()], {"widgets": {"state": b64(json.dumps({"token": T}))}}),
     ["nb: notebook metadata"]),
    # --- no hit ---
    ("placeholder login in source", _nb([_code(f"from huggingface_hub import {LOGIN}\n{LOGIN}(token='YOUR_TOKEN')")]), []),
    ("hub identifiers in source and output",
     _nb([_code("from huggingface_hub import hf_hub_download", outputs=[_stream("hf_hub_download -> /root/.cache\n")])]), []),
    ("a plain PNG output", _nb([_code(outputs=[_data("image/png", b64(png_with_text("Software: matplotlib")))])]), []),
    ("base64 of harmless text", _nb([_code(outputs=[_stream(b64("just some harmless text that is long enough") + "\n")])]), []),
]


@pytest.mark.parametrize("form, nb, expected", NOTEBOOK_CASES, ids=[case[0] for case in NOTEBOOK_CASES])
def test_scan_notebook_every_form(form, nb, expected):
    assert tokenscan.scan_notebook_json(nb, "nb") == expected


def test_scan_file_reads_notebooks_cell_by_cell_and_other_files_by_line(tmp_path):
    (tmp_path / "a.ipynb").write_text(json.dumps(_nb([_code(), _code(outputs=[_stream(b64(T))])])))
    (tmp_path / "b.py").write_text(f"x = 1\ny = ('{T[:7]}'\n     '{T[7:]}')\n")
    (tmp_path / "c.ipynb").write_text('{"source": "' + T + '"}')  # JSON, but not a notebook: read as text
    (tmp_path / "d.ipynb").write_text(json.dumps(_nb([_code(f"{LOGIN}(token='YOUR_TOKEN')")])))
    raw = json.dumps(_nb([_code("x = 1"), _code(f"t = '{T}'")])).replace(T, "hf\\u005f" + T[3:])
    assert T not in raw
    (tmp_path / "e.ipynb").write_text(raw)  # the underscore escaped in the notebook's JSON
    assert tokenscan.scan_file(tmp_path / "a.ipynb") == [f"{tmp_path / 'a.ipynb'}: cell 2 output"]
    assert tokenscan.scan_file(tmp_path / "b.py", "b.py") == ["b.py:2"]
    assert tokenscan.scan_file(tmp_path / "c.ipynb", "c.ipynb") == ["c.ipynb:1"]
    assert tokenscan.scan_file(tmp_path / "d.ipynb", "d.ipynb") == []
    assert tokenscan.scan_file(tmp_path / "e.ipynb", "e.ipynb") == ["e.ipynb: cell 2 source line 1"]
    assert tokenscan.scan_text(raw, "e.ipynb") != []  # the raw pass (tests/test_secrets.py) finds it too


def test_runtime_tokens_have_the_real_shape():
    assert len(T) == 37 and T.startswith("hf" + "_") and T[3:].isalnum()
    assert tokenscan.TOKEN_RE.fullmatch(T) and not tokenscan.is_placeholder(T)


def test_random_tokens_are_never_taken_for_placeholders():
    """The placeholder rules must not hide real tokens: 3,000 random ones (no shape constraint) are all found."""
    import random
    import string

    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits
    tokens = ["hf" + "_" + "".join(rng.choice(alphabet) for _ in range(34)) for _ in range(3000)]
    assert [tok for tok in tokens if tokenscan.is_placeholder(tok) or not tokenscan.line_has_secret(f"t = '{tok}'")] == []
