"""Deterministic build of the offline lab assets (micro Gemma-2, cross-encoder, SAE) from a templated corpus."""
