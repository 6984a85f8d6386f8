"""The visible checks' pinned data: ``python -m helpers.coursework.pin_checks`` (``make check-data``).

Runs the instructor solutions (read from notebooks/NN_*.ipynb, as the grader reads them) and the usual
mistakes (``nbNN.py`` here, TA-side, never shipped) on each check's visible inputs, and writes what the
checks compare with into ``data/checks/NN.json``: digests of exact outputs, rounded values of float outputs,
sketches of the mistakes' float outputs. Entries are keyed by model (``helpers.checks.common.model_key``):
this backend's entries are rebuilt, entries of other models (a TA's run with ``LAB_BACKEND=gemma``) are kept.
``--check`` writes nothing and exits 1 if the data is stale (``tests/test_check_data.py`` runs it).
"""
