"""Hidden test cases, one module per notebook (``nbNN.py`` with ``cases()``). TA only."""
