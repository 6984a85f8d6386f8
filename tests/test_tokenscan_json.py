"""The token guard on tokens inside JSON-escaped text: outputs, cell/notebook metadata, attachments.

A notebook is JSON: a token in an ``application/json`` output, in metadata or in printed JSON reaches the
scanner as ``\\"``-escaped text with ``\\n`` for line breaks, or as a list of lines. Every case below is
flagged by the same scan when the token is written as plain text in a stream output or in the source; here
it must be flagged too, at the right place. Tokens are made at run time (tests/tokens.py), ``login`` is
assembled, so this file holds no token-shaped literal (tests/test_secrets.py reads it).
"""
import json

import nbformat
import pytest

from helpers import handin, tokenscan
from tests.tokens import fake_hf_token, fake_secret
from tests.toycourse import toy_notebook, toy_work_folder

T = fake_hf_token(seed=31)  # hf_ + 34 letters/digits: 37 characters
S = fake_secret(seed=31)  # a credential without the hf_ prefix: only its place in login() makes it a secret
LOGIN = "log" + "in"
HEAD, TAIL = T[:15], T[15:]  # a token broken in two (neither half is token-shaped)


def nb(cells, metadata=None):
    return {"cells": cells, "metadata": metadata if metadata is not None else {"kernelspec": {"name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


def code(outputs=(), metadata=None, source="x = 1"):
    return {"cell_type": "code", "source": source, "metadata": metadata or {}, "outputs": list(outputs),
            "execution_count": 1}


def stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def display(mime, value, metadata=None):
    return {"output_type": "display_data", "data": {mime: value}, "metadata": metadata or {}}


def markdown_with(attachment):
    return {"cell_type": "markdown", "source": "![a](attachment:a.json)", "metadata": {},
            "attachments": {"a.json": attachment}}


# (form, notebook, expected hits)
CASES = [
    # login("...") with a literal that is not token-shaped: only the call shape tells it is a secret
    (f"{LOGIN}(token=...) in an application/json output",
     nb([code([display("application/json", {"cmd": f'{LOGIN}(token="{S}")'})])]), ["nb: cell 1 output"]),
    (f"{LOGIN}(...) positional in an application/json output",
     nb([code([display("application/json", {"cmd": f"huggingface_hub.{LOGIN}('{S}')"})])]), ["nb: cell 1 output"]),
    (f"{LOGIN}(...) in an output's metadata",
     nb([code([display("text/plain", "1", metadata={"note": f'{LOGIN}("{S}")'})])]), ["nb: cell 1 output"]),
    (f"{LOGIN}(token=...) in cell metadata",
     nb([code(metadata={"note": f'{LOGIN}(token="{S}")'})]), ["nb: cell 1 metadata"]),
    (f"{LOGIN}(...) in notebook metadata", nb([code()], {"note": f'{LOGIN}("{S}")'}), ["nb: notebook metadata"]),
    (f"{LOGIN}(...) in a JSON-valued attachment",
     nb([markdown_with({"application/json": {"cmd": f'{LOGIN}("{S}")'}})]), ["nb: cell 1 attachment a.json"]),
    (f"{LOGIN}(...) printed as JSON in a stream output",
     nb([code([stream(json.dumps({"cmd": f'{LOGIN}(token="{S}")'}) + "\n")])]), ["nb: cell 1 output"]),
    (f"{LOGIN}(...) JSON-escaped in an error value",
     nb([code([{"output_type": "error", "ename": "E", "evalue": json.dumps(f'{LOGIN}("{S}")'), "traceback": []}])]),
     ["nb: cell 1 output"]),
    (f"{LOGIN}(...) printed as JSON in JSON (escaped twice)",
     nb([code(metadata={"log": json.dumps({"cmd": f'{LOGIN}("{S}")'})})]), ["nb: cell 1 metadata"]),
    # a bare token broken by a line break inside a JSON string (\n in the escaped text)
    ("token over two lines in an application/json string",
     nb([code([display("application/json", {"cmd": f"{HEAD}\n{TAIL}"})])]), ["nb: cell 1 output"]),
    ("token over two lines in an output's metadata",
     nb([code([display("text/plain", "1", metadata={"note": f"{HEAD}\n{TAIL}"})])]), ["nb: cell 1 output"]),
    ("token over two indented lines in cell metadata",
     nb([code(metadata={"note": f"{HEAD}\n    {TAIL}"})]), ["nb: cell 1 metadata"]),
    ("token over two lines in notebook metadata", nb([code()], {"note": f"{HEAD}\r\n{TAIL}"}), ["nb: notebook metadata"]),
    ("token over two lines, printed as JSON",
     nb([code([stream(json.dumps({"cmd": f"{HEAD}\n{TAIL}"}) + "\n")])]), ["nb: cell 1 output"]),
    ("token over two lines in the repr of a string",
     nb([code([display("text/plain", repr(f"{HEAD}\n{TAIL}"))])]), ["nb: cell 1 output"]),
    # a token split across a list of lines
    ("token split across a JSON list of lines", nb([code([display("application/json", {"lines": [HEAD, TAIL]})])]),
     ["nb: cell 1 output"]),
    ("token split across a list of lines in cell metadata", nb([code(metadata={"lines": [HEAD, TAIL + "\n"]})]),
     ["nb: cell 1 metadata"]),
    ("token split across two stream outputs", nb([code([stream(HEAD), stream(TAIL + "\n")])]), ["nb: cell 1 output"]),
    ("token split across two list-of-lines stream outputs",
     nb([code([stream(["a\n", HEAD]), stream([TAIL, "\n", "b\n"])])]), ["nb: cell 1 output"]),
    # malformed values: found, not a crash
    ("a JSON list with numbers in it", nb([code([display("application/json", [1, None, T])])]), ["nb: cell 1 output"]),
    ("stream text with a number in its list of lines", nb([code([stream([T, 5])])]), ["nb: cell 1 output"]),
    # --- no hit: placeholders and harmless escapes in the same places ---
    (f"{LOGIN}(token=\"YOUR_TOKEN\") in metadata", nb([code(metadata={"note": f'{LOGIN}(token="YOUR_TOKEN")'})]), []),
    (f"{LOGIN}(\"hf_...\") printed as JSON", nb([code([stream(json.dumps({"c": f'{LOGIN}("hf_...")'}))])]), []),
    ("hf_xxx… over two lines in JSON", nb([code([display("application/json", {"c": "hf_" + "x" * 12 + "\n" + "x" * 22})])]), []),
    ("escaped quotes and line breaks, no token",
     nb([code([display("application/json", {"c": 'say "hi"\nand\tbye \\ done'})], metadata={"tags": ["a", "b"]})]), []),
    ("half a token in one cell, half in the next", nb([code([stream(HEAD)]), code([stream(TAIL)])]), []),
    ("hub identifiers in JSON", nb([code([display("application/json", {"f": "hf_hub_download\nhf_hub_url"})])]), []),
]


@pytest.mark.parametrize("form, notebook, expected", CASES, ids=[case[0] for case in CASES])
def test_tokens_in_json_escaped_places_are_found_where_they_are(form, notebook, expected):
    assert tokenscan.scan_notebook_json(notebook, "nb") == expected


def test_the_tokens_have_a_real_shape_and_the_halves_do_not():
    assert len(T) == 37 and T[:3] == "hf" + "_" and T[3:].isalnum() and len(S) == 24
    assert tokenscan.TOKEN_RE.fullmatch(T) and not tokenscan.is_placeholder(T)
    assert not tokenscan.text_has_secret(HEAD) and not tokenscan.text_has_secret(TAIL)


@pytest.mark.parametrize("value, found", [
    (f'{LOGIN}(\\"{S}\\")', True),  # one level of escaping: the quotes written \"
    (f'{LOGIN}(token=\\"{S}\\")', True),
    (f"{LOGIN}(token=\\'{S}\\')", True),
    (f'{LOGIN}(\\\\\\"{S}\\\\\\")', True),  # two levels: \\\"
    (f"x = \\\"{HEAD}\\n{TAIL}\\\"", True),  # the token broken by an escaped line break
    (f"x = \\\"{HEAD}\\\\n{TAIL}\\\"", True),  # ... escaped twice
    (f'{LOGIN}(\\"YOUR_TOKEN\\")', False),
    ('say \\"hi\\"\\nbye', False),
], ids=["login quoted once", "login token= quoted once", "login single quotes", "login quoted twice",
        "token over an escaped line break", "token over a line break escaped twice", "placeholder", "no token"])
def test_escaped_text_is_read_like_the_text_it_stands_for(value, found):
    assert tokenscan.text_has_secret(value) is found
    assert tokenscan.scan_text(f"first line\n{value}\n", "f.json") == (["f.json:2"] if found else [])


def test_the_raw_pass_over_a_notebook_file_reads_escaped_json(tmp_path):
    """The repository scan (tests/test_secrets.py) reads a notebook as text: the escaped login is found there too."""
    raw = json.dumps(nb([code(metadata={"note": f'{LOGIN}(token="{S}")'})]), indent=1)
    assert f'{LOGIN}(token=\\"{S}\\")' in raw  # what the scanner sees: the quotes escaped
    line = 1 + raw.splitlines().index(f'    "note": "{LOGIN}(token=\\"{S}\\")"')
    assert tokenscan.scan_text(raw, "nb.ipynb") == [f"nb.ipynb:{line}"]
    (tmp_path / "a.ipynb").write_text(raw)
    assert tokenscan.scan_file(tmp_path / "a.ipynb", "a.ipynb") == ["a.ipynb: cell 1 metadata"]


# ----------------------------------------------------------------------------- the hand-in refuses them


@pytest.fixture
def work(tmp_path):
    return toy_work_folder(tmp_path)


def test_the_hand_in_refuses_a_login_in_an_output_and_says_where_and_how_to_fix_it(work, tmp_path):
    notebook = toy_notebook()
    notebook.cells[2].outputs = [nbformat.v4.new_output("display_data", data={"application/json": {"cmd": f'{LOGIN}("{S}")'}})]
    notebook.cells[3].metadata["note"] = f"{HEAD}\n{TAIL}"
    nbformat.write(notebook, work / "02_toy.ipynb")
    with pytest.raises(handin.SubmissionError) as info:
        handin.build_zip("b09901001", work, tmp_path / "out")
    message = str(info.value)
    assert message.startswith("refused: something shaped like a Hugging Face token is in "
                              "02_toy.ipynb: cell 3 output; 02_toy.ipynb: cell 4 metadata. ")
    assert "Edit > Clear all outputs" in message and "metadata" in message.split(". ", 1)[1]
    assert "Colab Secrets panel" in message and "HF_TOKEN environment variable" in message
    assert S not in message and HEAD not in message and TAIL not in message
    assert not (tmp_path / "out").exists()


def test_the_hand_in_refuses_a_token_split_over_two_stream_outputs(work, tmp_path):
    notebook = toy_notebook()
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=HEAD),
                                 nbformat.v4.new_output("stream", name="stdout", text=TAIL + "\n")]
    nbformat.write(notebook, work / "02_toy.ipynb")
    assert handin.secret_hits(handin.submission_files(work)) == ["02_toy.ipynb: cell 2 output"]
    with pytest.raises(handin.SubmissionError, match="cell 2 output"):
        handin.build_zip("b09901001", work, tmp_path / "out")


FIX_CODE = "delete it from the cell's code"
FIX_OUTPUT = "clear the output that shows it (Edit > Clear all outputs, or rerun the cell without printing it)"
FIX_ATTACHMENT = "delete the markdown cell with that attached file and write it again without it"
FIX_METADATA = ("delete it from the metadata (JupyterLab: the property inspector, gear icon in the right bar; "
                "or open the .ipynb file in a text editor)")
FIX_CELL = "delete that cell (it is not a well-formed notebook cell)"
FIX_FILE = "open the .ipynb file in a text editor and delete it"
AFTER = (". Save the notebook and hand in again. Then revoke that token in your Hugging Face settings (Access Tokens) "
         "and never write one in a notebook: put it in the Colab Secrets panel (key icon, secret HF_TOKEN, notebook "
         "access on) or in the HF_TOKEN environment variable, where the helpers read it.")


@pytest.mark.parametrize("hits, fixes", [
    (["a.ipynb: cell 2 source line 3"], [FIX_CODE]),
    (["a.ipynb: cell 2 output"], [FIX_OUTPUT]),
    (["a.ipynb: cell 1 attachment x.png"], [FIX_ATTACHMENT]),
    (["a.ipynb: cell 4 metadata"], [FIX_METADATA]),
    (["a.ipynb: notebook metadata"], [FIX_METADATA]),
    (["a.ipynb: cell 7"], [FIX_CELL]),
    (["a.ipynb: somewhere in the notebook file"], [FIX_FILE]),
    # one fix per kind, in the order of the places; the same kind twice is said once
    (["a.ipynb: cell 3 output", "a.ipynb: cell 1 source line 1", "b.ipynb: cell 5 output", "b.ipynb: notebook metadata"],
     [FIX_OUTPUT, FIX_CODE, FIX_METADATA]),
])
def test_the_refusal_says_where_and_what_to_do_for_each_kind_of_place(hits, fixes):
    assert handin.refusal(hits) == (
        "refused: something shaped like a Hugging Face token is in " + "; ".join(hits) + ". Remove it: "
        + "; ".join(fixes) + AFTER)


# ----------------------------------------------------------------------------- malformed notebooks: found, no crash


@pytest.mark.parametrize("form, notebook, expected", [
    ("a cell that is a string", nb([f"x = '{T}'", code()]), ["nb: cell 1"]),
    ("an output that is a string", nb([code([f"x = '{T}'"])]), ["nb: cell 1 output"]),
    ("outputs that are one object", {"cells": [{**code(), "outputs": stream(T)}]}, ["nb: cell 1 output"]),
    ("data that is a list", nb([code([{"output_type": "display_data", "data": [T], "metadata": {}}])]),
     ["nb: cell 1 output"]),
    ("a traceback of numbers and a token", nb([code([{"output_type": "error", "traceback": [1, f"t={T}"]}])]),
     ["nb: cell 1 output"]),
    ("a traceback that is a string", nb([code([{"output_type": "error", "traceback": f"t={T}"}])]), ["nb: cell 1 output"]),
    ("an unknown output key", nb([code([{"output_type": "stream", "name": "stdout", "text": "", "extra": {"k": T}}])]),
     ["nb: cell 1 output"]),
    ("attachments that are a list", nb([{"cell_type": "markdown", "source": "", "metadata": {}, "attachments": [T]}]),
     ["nb: cell 1 attachment"]),
    ("an attachment bundle that is a string", nb([{"cell_type": "markdown", "source": "", "metadata": {},
                                                   "attachments": {"a.txt": f"t={T}"}}]), ["nb: cell 1 attachment a.txt"]),
    ("a source list with a number", nb([code(source=["x = 1\n", 2, f"\nt = '{T}'"])]), ["nb: cell 1 source line 3"]),
    ("a \\U escape beyond Unicode", nb([code([stream("\\UFFFFFFFF and \\U0001F600 " + T)])]), ["nb: cell 1 output"]),
    ("malformed, no token", nb(["just text", code(["not an output"]), {**code(), "outputs": {"x": 1}}]), []),
])
def test_malformed_notebooks_are_scanned_not_crashed_on(form, notebook, expected):
    assert tokenscan.scan_notebook_json(notebook, "nb") == expected


def test_an_escape_beyond_unicode_is_kept_as_it_is():
    assert tokenscan.normalise("a\\UFFFFFFFFb") == "a\\UFFFFFFFFb"
    assert tokenscan.normalise("a\\U0001F600b\\u00e9") == "a\U0001F600bé"
