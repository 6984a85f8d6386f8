"""The one place that names the student release."""

# The repository students clone (Colab setup cells and Open-in-Colab badges point here).
RELEASE_SLUG = "understanding-transformers/gemma-2-2b-it-course"
REPO_URL = f"https://github.com/{RELEASE_SLUG}.git"
HOMEWORK = "hw3"
