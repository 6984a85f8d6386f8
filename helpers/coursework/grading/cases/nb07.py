"""Hidden cases of notebook 07 (SAE activations). TA only: never in the student release.

Texts, layers and features are not the release's; features were picked on the offline SAE so that
each case has active and inactive tokens (11280, 14486: the most active features on layer 20 / 25
of "The old time machine..."; 6636 on "Google is a company."). JumpReLU cases put
pre-activations exactly on the threshold (``>`` vs ``>=``) and between 0 and the threshold (ReLU).
"""
from __future__ import annotations

import torch

from helpers.coursework.grading.compare import allclose, exact
from helpers.coursework.grading.spec import Case, ref

MACHINE = "The old time machine was broken again."
BACK = "She travelled back in time to fix her mistakes."
GOOGLE = "Google is a company."


def _jumprelu_random(seed: int, shape: tuple[int, ...], d_model: int, d_sae: int):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, d_model, generator=gen) * 2
    W_enc = torch.randn(d_model, d_sae, generator=gen)
    b_enc = torch.randn(d_sae, generator=gen) * 0.5
    threshold = torch.rand(d_sae, generator=gen) * 2 + 0.1
    return x, W_enc, b_enc, threshold


def _jumprelu_at_threshold():
    """Identity encoder: pre = x exactly, with values on, below and above each threshold."""
    threshold = torch.tensor([0.5, 1.0, 1.5, 2.0, 0.25])
    x = torch.tensor([[0.5, 1.0, 1.5, 2.0, 0.25],      # exactly on the threshold: 0
                      [0.4, 0.9, 1.6, 2.5, -1.0],      # below (but > 0), above, negative
                      [0.75, 1.0000001, 3.0, 0.0, 0.3]])
    return x, torch.eye(5), torch.zeros(5), threshold


def _fvu_pair(seed: int, n: int, d: int, noise: float, offset: float):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen) * torch.linspace(0.5, 2.0, d) + offset
    return x, x + noise * torch.randn(n, d, generator=gen)


def cases() -> dict[str, list[Case]]:
    acts = allclose(atol=1e-5, rtol=1e-4)
    model, tokenizer, sae = ref("model"), ref("tokenizer"), ref("sae")
    x, _ = _fvu_pair(3, 12, 5, 0.0, 1.0)
    return {
        "hidden_index": [
            Case("layer0_of26", args=(0, 26), compare=exact(), requires="layer13_of26"),  # = 1, a constant
            Case("layer13_of26", args=(13, 26), compare=exact()),
            Case("layer24_of26", args=(24, 26), compare=exact()),
            Case("layer3_of8", args=(3, 8), compare=exact()),
            Case("layer0_of2", args=(0, 2), compare=exact(), requires="layer3_of8"),
        ],
        "jumprelu_encode": [
            Case("random_2d", args=_jumprelu_random(11, (7,), 6, 12), compare=acts),
            Case("random_3d", args=_jumprelu_random(12, (2, 3), 4, 9), compare=acts),
            Case("on_the_threshold", args=_jumprelu_at_threshold(), compare=exact()),
        ],
        "feature_activations": [
            Case("machine_layer20_f10004", args=(model, tokenizer, sae, MACHINE, 20, 10004), compare=acts),
            Case("machine_layer20_f11280", args=(model, tokenizer, sae, MACHINE, 20, 11280), compare=acts,
                 requires="machine_layer20_f10004"),  # all zeros on the offline SAE: zeros pass it
            Case("machine_last_layer_f14486", args=(model, tokenizer, sae, MACHINE, 25, 14486), compare=acts),
            Case("google_layer5_f9289", args=(model, tokenizer, sae, GOOGLE, 5, 9289), compare=acts,
                 requires="machine_last_layer_f14486"),  # all zeros as well
        ],
        "activations_across_layers": [
            Case("back_in_time_f10004", args=(model, tokenizer, sae, BACK, 10004), compare=acts),
            Case("google_f6636", args=(model, tokenizer, sae, GOOGLE, 6636), compare=acts,
                 requires="back_in_time_f10004"),  # all zeros on the offline SAE
        ],
        "fraction_of_variance_unexplained": [
            Case("noisy_offset", args=_fvu_pair(1, 30, 8, 0.5, 3.0), compare=allclose(atol=1e-7, rtol=1e-6)),
            Case("small_noise", args=_fvu_pair(2, 50, 16, 0.05, -2.0), compare=allclose(atol=1e-7, rtol=1e-6)),
            Case("mean_prediction", args=(x, x.mean(dim=0, keepdim=True).expand_as(x).clone()), compare=allclose(atol=1e-7, rtol=1e-6),
                 requires="noisy_offset"),  # = 1.0, a constant
        ],
    }
