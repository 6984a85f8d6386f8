"""The mutation driver's bookkeeping (names, diffs, equivalence rules, the QUALITY.md table); mutmut itself is not run."""
import pytest

from helpers.offline import mutation


def test_function_names_from_mutant_names():
    assert mutation._function_of("helpers.metrics.x_distinct_n__mutmut_12") == "distinct_n"
    assert mutation._function_of("helpers.coursework.grading.grader.x__positive__mutmut_1") == "_positive"
    assert mutation._function_of("helpers.coursework.grading.grader.xǁCourseǁdigest__mutmut_3") == "Course.digest"


def test_change_of_a_diff():
    diff = "--- a.py\n+++ a.py\n@@ -1 +1 @@\n-    x = 1\n+    x = 2\n"
    assert mutation._change(diff) == "x = 1 -> x = 2"


@pytest.mark.parametrize("code, status", [(1, "killed"), (3, "killed"), (36, "timeout"), (0, "survived"), (33, "no tests"),
                                          (None, "not checked"), (-11, "suspicious")])
def test_status(code, status):
    assert mutation._status(code) == status


def test_quality_table_is_written_between_the_markers(tmp_path):
    report = {"modules": {"helpers/metrics.py": {"total": 4, "killed": 2, "timeout": 1, "survived": 1, "no tests": 0,
                                                 "equivalent": 0, "not checked": 0, "score": 0.75}}}
    path = tmp_path / "QUALITY.md"
    path.write_text(f"intro\n{mutation.QUALITY_START} -->\nold\n{mutation.QUALITY_END}\nafter\n")
    mutation.write_quality(path, report)
    assert path.read_text() == (f"intro\n{mutation.QUALITY_START} -->\n"
                                "| module | mutants | killed (+timeout) | survived | no tests | equivalent | not checked | score |\n"
                                "|---|---:|---:|---:|---:|---:|---:|---:|\n"
                                "| `helpers/metrics.py` | 4 | 3 | 1 | 0 | 0 | 0 | 75.0% |\n"
                                f"{mutation.QUALITY_END}\nafter\n")


def test_the_repository_quality_file_has_the_markers():
    text = (mutation.REPO_ROOT / "QUALITY.md").read_text()
    assert mutation.QUALITY_START in text and mutation.QUALITY_END in text


def test_every_test_file_of_the_selection_exists():
    assert [t for t in mutation.TESTS if not (mutation.REPO_ROOT / t.split("::")[0]).is_file()] == []
