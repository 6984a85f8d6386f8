"""helpers.tokenscan: notebook attachments, the part the mutation run found untested.

An attachment is {mime: base64 text} (sometimes a list of lines, in principle any JSON value). The scan
decodes the whole value (so a token split by base64 line wrapping is found), then scans its text with
base64 runs decoded (so a token encoded inside a text is found). Tokens are made at run time.
"""
import base64

from helpers import tokenscan
from tests.tokens import fake_hf_token

T = fake_hf_token(seed=21)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def scan_attachment(value):
    nb = {"cells": [{"cell_type": "markdown", "source": "![a](attachment:a.bin)", "metadata": {},
                     "attachments": {"a.bin": {"application/x-thing": value}}}]}
    return tokenscan.scan_notebook_json(nb, "nb")


def test_a_harmless_base64_attachment_is_not_a_hit():
    assert scan_attachment(b64("a harmless picture caption, nothing secret in here at all 12345")) == []


def test_a_token_split_by_base64_line_wrapping_is_found():
    encoded = b64("x" * 40 + T + "y" * 40)
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))  # MIME's 76 columns
    assert "\n" in wrapped and not tokenscan.text_has_secret(wrapped, decode_base64=True)  # no single line holds it
    assert scan_attachment(wrapped) == ["nb: cell 1 attachment a.bin"]


def test_a_base64_token_inside_a_text_attachment_is_found():
    value = "notes: " + b64("token " + T) + " end"  # decoding the whole value misaligns: only the run decodes
    assert not tokenscan.text_has_secret(value)
    assert scan_attachment(value) == ["nb: cell 1 attachment a.bin"]


def test_a_plain_token_split_over_list_elements_is_found():
    assert scan_attachment([f"token {T[:10]}", T[10:]]) == ["nb: cell 1 attachment a.bin"]


def test_a_token_in_a_json_valued_attachment_is_found():
    assert scan_attachment({"config": {"k": T}}) == ["nb: cell 1 attachment a.bin"]
    assert scan_attachment({"config": {"k": "harmless"}}) == []


# ----------------------------------------------------------------------------- scan_file: notebooks that are not


def test_a_file_with_bytes_that_are_not_utf8_is_still_scanned(tmp_path):
    path = tmp_path / "dump.txt"
    path.write_bytes(b"\xff\xfe binary junk \x80\n" + f"key = {T}\n".encode())
    assert tokenscan.scan_file(path, "dump.txt") == ["dump.txt:2"]


def test_an_ipynb_that_is_not_json_or_not_a_notebook_is_scanned_as_text(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [\n' + f'"{T}"\n')  # cut off: not JSON
    assert tokenscan.scan_file(broken, "broken.ipynb") == ["broken.ipynb:2"]
    assert tokenscan.scan_file(broken) == [f"{broken}:2"]
    listed = tmp_path / "list.ipynb"
    listed.write_text(f'[\n"x",\n"{T}"]')  # JSON, but not a notebook
    assert tokenscan.scan_file(listed, "list.ipynb") == ["list.ipynb:3"]


def test_a_token_in_a_part_of_a_cell_that_is_not_read_is_still_reported(tmp_path):
    path = tmp_path / "odd.ipynb"
    path.write_text('{"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [], '
                    f'"note": "{T}"' + '}], "metadata": {}}')
    assert tokenscan.scan_file(path, "odd.ipynb") == ["odd.ipynb: somewhere in the notebook file"]
