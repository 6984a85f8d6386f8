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


@pytest.mark.parametrize("word, status", [("killed", "killed"), ("timeout", "timeout"), ("survived", "survived"),
                                          ("no tests", "no tests"), ("not checked", "not checked"),
                                          ("segfault", "suspicious"), ("caught by type check", "suspicious"),
                                          ("check was interrupted by user", "suspicious"), ("skipped", "suspicious")])
def test_status_words_of_mutmut(word, status):
    assert mutation._status(word) == status


def test_results_output_is_parsed_line_by_line():
    text = ("    helpers.metrics.x_bleu__mutmut_1: killed\n"
            "    helpers.metrics.x_bleu__mutmut_2: no tests\n"
            "    helpers.coursework.grading.grader.xǁCourseǁdigest__mutmut_3: caught by type check\n"
            "some other line: without a mutant\n\n")
    assert mutation.parse_results(text) == {
        "helpers.metrics.x_bleu__mutmut_1": "killed", "helpers.metrics.x_bleu__mutmut_2": "no tests",
        "helpers.coursework.grading.grader.xǁCourseǁdigest__mutmut_3": "caught by type check"}


def test_a_mutant_belongs_to_the_longest_module_path_that_names_it():
    modules = ["helpers/coursework/grading/grader.py", "helpers/coursework/grading/grader_parts.py", "helpers/sae.py"]
    assert mutation.module_of("helpers.coursework.grading.grader.x_f__mutmut_1", modules) == modules[0]
    assert mutation.module_of("helpers.coursework.grading.grader_parts.x_f__mutmut_1", modules) == modules[1]
    assert mutation.module_of("helpers.sae.xǁSAEǁencode__mutmut_2", modules) == modules[2]
    assert mutation.module_of("helpers.saex.x_f__mutmut_1", modules) is None


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


def test_the_science_modules_run_their_own_tests_only():
    for module, tests in mutation.MODULE_TESTS.items():
        assert module in mutation.MODULES
        assert [t for t in tests if t not in mutation.TESTS] == [], module  # a subset of the fast selection
    assert mutation.selection(["helpers/hooks.py"]) == ["tests/test_hooks.py", "tests/test_bad_input.py",
                                                        "tests/test_science_mutants.py"]
    both = mutation.selection(["helpers/hooks.py", "helpers/sae.py"])
    assert both[:3] == mutation.selection(["helpers/hooks.py"]) and len(both) == len(set(both))
    assert mutation.selection(["helpers/hooks.py", "helpers/metrics.py"]) == list(mutation.TESTS)  # metrics: none
    assert mutation.selection([]) == list(mutation.TESTS)
