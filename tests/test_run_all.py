"""`make run` tooling (helpers/offline/run_all.py) on a toy notebook: results, files, exit status, no token."""
import json
import os

import nbformat

from helpers.offline import run_all
from tests.tokens import fake_hf_token


def test_a_failing_notebook_is_reported_written_and_fails_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "environ", os.environ.copy())  # run_all sets the kernels' environment: keep ours
    os.environ.update(HF_TOKEN=fake_hf_token(), LAB_BACKEND="gemma")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(os.environ['LAB_BACKEND'], 'HF_TOKEN' in os.environ)"),
                nbformat.v4.new_code_cell("raise ValueError('broken on purpose')")]
    path = tmp_path / "01_toy.ipynb"
    nbformat.write(nb, path)
    out = tmp_path / "run"
    assert run_all.main([str(path), "--out", str(out), "--timeout", "60"]) == 1
    table = capsys.readouterr().out
    assert "01_toy.ipynb" in table and "error  ValueError: broken on purpose" in table and "0/1 ok" in table
    executed = nbformat.read(out / "01_toy.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "offline False\n"  # offline backend, no token in the kernel
    assert executed.cells[1].outputs[0]["ename"] == "ValueError"
    assert "broken on purpose" in (out / "01_toy.html").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary[0]["notebook"] == "01_toy.ipynb" and summary[0]["status"] == "error" and summary[0]["seconds"] > 0


def test_summary_fits_one_screen():
    results = [run_all.Result(f"0{i}_x.ipynb", 1.5 * i, "ok") for i in range(1, 8)]
    lines = run_all.summary(results, run_all.DEFAULT_OUT).splitlines()
    assert len(lines) == 7 + 4 and all(len(line) < 100 for line in lines) and lines[-1].startswith("7/7 ok")
