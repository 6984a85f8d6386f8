"""The JumpReLU SAE module: Gemma Scope's npz layout, decode, clear shape errors."""
import numpy as np
import pytest
import torch

from helpers.sae import JumpReLUSAE


def write_npz(path, d_model=4, d_sae=6, drop=None, bad_shape=False):
    rng = np.random.default_rng(0)
    arrays = {
        "W_enc": rng.normal(size=(d_model, d_sae)).astype(np.float32),
        "W_dec": rng.normal(size=(d_sae if not bad_shape else d_sae + 1, d_model)).astype(np.float32),
        "b_enc": rng.normal(size=d_sae).astype(np.float32),
        "b_dec": rng.normal(size=d_model).astype(np.float32),
        "threshold": np.abs(rng.normal(size=d_sae)).astype(np.float32),
    }
    if drop:
        arrays.pop(drop)
    np.savez(path, **arrays)
    return arrays


def test_parameters_load_and_decode_is_affine(tmp_path):
    arrays = write_npz(tmp_path / "params.npz")
    sae = JumpReLUSAE.from_npz(tmp_path / "params.npz")
    assert sae.W_enc.shape == (4, 6) and not sae.W_enc.requires_grad and sae.W_enc.dtype == torch.float32
    for key, value in arrays.items():
        np.testing.assert_array_equal(getattr(sae, key).numpy(), value)
    acts = torch.relu(torch.randn(3, 5, 6))
    np.testing.assert_allclose(sae.decode(acts).numpy(), acts.numpy() @ arrays["W_dec"] + arrays["b_dec"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sae.decode(acts.half()), sae.decode(acts.half().float()))


def test_the_encoder_is_left_to_the_exercise(tmp_path):
    """JumpReLU encoding is exercise 7.2: the SAE module carries parameters and decode only."""
    write_npz(tmp_path / "params.npz")
    sae = JumpReLUSAE.from_npz(tmp_path / "params.npz")
    assert not hasattr(sae, "encode") and not hasattr(sae, "pre_activations")


def test_missing_array_is_named(tmp_path):
    write_npz(tmp_path / "params.npz", drop="threshold")
    with pytest.raises(ValueError, match="threshold"):
        JumpReLUSAE.from_npz(tmp_path / "params.npz")


def test_inconsistent_shape_is_named(tmp_path):
    write_npz(tmp_path / "params.npz", bad_shape=True)
    with pytest.raises(ValueError, match="W_dec has shape"):
        JumpReLUSAE.from_npz(tmp_path / "params.npz")


def test_wrong_activation_width_is_a_clear_error(tmp_path):
    write_npz(tmp_path / "params.npz")
    sae = JumpReLUSAE.from_npz(tmp_path / "params.npz")
    with pytest.raises(ValueError, match="d_sae=6"):
        sae.decode(torch.randn(2, 5))
