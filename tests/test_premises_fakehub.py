"""The premises on the fake-hub gemma path: `make course-check` with ``LAB_BACKEND=gemma`` over the fake hub cache
(tests/fakehub.py: the offline weights dressed like the real repos), as a TA runs it with the real models.

CI runs one notebook here (03, the fastest with observation questions; nbval runs every premise offline); the whole
course on this path is ``tests/fakehub.py``'s cache plus ``python -m helpers.coursework.course_check`` (the
README's TA section).
"""
import re

import pytest

from helpers.coursework import course_check
from tests.fakehub import build_fake_hub, fake_hf_token
from tests.test_premises import OBSERVATIONS

pytestmark = pytest.mark.slow


def test_course_check_on_the_fake_hub_gemma_path_holds(tmp_path, monkeypatch, capsys):
    # 03 runs fastest of the notebooks with observation questions (no generation): the command, not the notebook,
    # is under test here, and nbval runs every notebook's premises offline
    path = next(p for p, _ in OBSERVATIONS if p.stem == "03_tokenization")
    home = tmp_path / "hf_home"
    build_fake_hub(home)
    token = fake_hf_token()
    for name, value in {"LAB_BACKEND": "gemma", "HF_HUB_OFFLINE": "1", "HF_HOME": str(home),
                        "HF_HUB_CACHE": str(home / "hub"), "HF_TOKEN": token, "OMP_NUM_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LAB_DTYPE", raising=False)
    code = course_check.main([path.stem[:2], "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "course-check on LAB_BACKEND=gemma" in out, out
    for qid in course_check.observation_questions(path.stem):
        assert re.search(rf"^{re.escape(qid)}\s+holds\s+\S", out, re.MULTILINE), out
    assert code == 0, out
    assert token not in out and token not in (tmp_path / "out" / path.name).read_text()
