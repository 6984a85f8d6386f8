"""Grading: hidden tests on the student's functions, run in a bubblewrap sandbox."""
