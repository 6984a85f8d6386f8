"""The one place that names the student release and the homework."""
from helpers.colab import REPO_URL, github_slug  # REPO_URL: the repository students clone (the release)

RELEASE_SLUG = github_slug(REPO_URL)
HOMEWORK = "hw3"
