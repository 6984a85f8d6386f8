"""The JumpReLU SAE module: Gemma Scope's npz layout, the activation rule, clear shape errors."""
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


def test_encode_is_jumprelu_and_decode_is_affine(tmp_path):
    arrays = write_npz(tmp_path / "params.npz")
    sae = JumpReLUSAE.from_npz(tmp_path / "params.npz")
    x = torch.randn(3, 5, 4)
    pre = x.numpy() @ arrays["W_enc"] + arrays["b_enc"]
    expected = np.where(pre > arrays["threshold"], np.maximum(pre, 0), 0)
    acts = sae.encode(x)
    assert acts.shape == (3, 5, 6)
    np.testing.assert_allclose(acts.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert (acts[(acts > 0)] > torch.from_numpy(arrays["threshold"]).expand_as(acts)[(acts > 0)]).all()
    np.testing.assert_allclose(sae.decode(acts).numpy(), expected @ arrays["W_dec"] + arrays["b_dec"], rtol=1e-5, atol=1e-5)
    assert sae.W_enc.shape == (4, 6) and not sae.W_enc.requires_grad


def test_encode_casts_half_precision_input(tmp_path):
    write_npz(tmp_path / "params.npz")
    sae = JumpReLUSAE.from_npz(tmp_path / "params.npz")
    x = torch.randn(2, 4)
    torch.testing.assert_close(sae.encode(x.half()), sae.encode(x.half().float()))


def test_missing_array_is_named(tmp_path):
    write_npz(tmp_path / "params.npz", drop="threshold")
    with pytest.raises(ValueError, match="threshold"):
        JumpReLUSAE.from_npz(tmp_path / "params.npz")


def test_inconsistent_shape_is_named(tmp_path):
    write_npz(tmp_path / "params.npz", bad_shape=True)
    with pytest.raises(ValueError, match="W_dec has shape"):
        JumpReLUSAE.from_npz(tmp_path / "params.npz")


def test_wrong_input_width_is_a_clear_error(tmp_path):
    write_npz(tmp_path / "params.npz")
    sae = JumpReLUSAE.from_npz(tmp_path / "params.npz")
    with pytest.raises(ValueError, match="d_model=4"):
        sae.encode(torch.randn(2, 5))
