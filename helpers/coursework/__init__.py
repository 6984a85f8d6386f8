"""TA tooling: authoring, the student release, grading. Never part of the student release."""
