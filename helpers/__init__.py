"""Helpers for the course "Understanding Transformers with Gemma-2-2b-it".

One module per topic (README, "Repository layout"): ``backend`` loads the models,
``sae`` holds the JumpReLU sparse autoencoder, ``assets`` checks the offline lab assets.
"""
