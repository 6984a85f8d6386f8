"""Token-shaped strings for tests, made at run time: no token-shaped literal is ever written in a file."""
import random
import string

ALPHANUMERIC = string.ascii_letters + string.digits


def fake_hf_token(seed: int | None = None) -> str:
    """A string of a real token's shape: ``hf_`` + 34 letters/digits (37 characters), never stored."""
    rng = random.Random(seed)
    while True:
        body = "".join(rng.choice(ALPHANUMERIC) for _ in range(34))
        if any(c.isdigit() for c in body) and any(c.isupper() for c in body):  # like every real one
            return "hf" + "_" + body


def fake_secret(length: int = 24, seed: int | None = None) -> str:
    """A random credential-like string (letters and digits) without the ``hf_`` prefix."""
    rng = random.Random(seed)
    return "".join(rng.choice(ALPHANUMERIC) for _ in range(length - 1)) + rng.choice(string.digits)
