"""The maintainer/TA reference computations (helpers/offline/reference.py), each against an independent oracle."""
import torch

from helpers.offline import reference
from tests.test_sae_helpers import random_sae, tiny_gemma


def test_layer_outputs_are_hidden_states_one_later_and_the_last_before_the_final_norm():
    model = tiny_gemma(layers=4)
    ids = torch.tensor([[2, 5, 9, 11, 7]])
    hidden = model(ids, output_hidden_states=True).hidden_states  # (transformers adds its own hooks on a first call)
    hooks_before = [len(layer._forward_hooks) for layer in model.model.layers]
    outputs = reference.decoder_layer_outputs(model, ids)
    assert sorted(outputs) == [0, 1, 2, 3]
    for layer in range(3):
        torch.testing.assert_close(outputs[layer], hidden[layer + 1])
    torch.testing.assert_close(model.model.norm(outputs[3]), hidden[4])
    assert not torch.allclose(outputs[3], hidden[4])  # the last entry of hidden_states is after the norm
    only = reference.decoder_layer_outputs(model, ids, [2])
    assert list(only) == [2] and torch.equal(only[2], outputs[2])
    assert [len(layer._forward_hooks) for layer in model.model.layers] == hooks_before  # its hooks are removed


def test_jumprelu_keeps_pre_only_strictly_above_its_threshold():
    sae = random_sae(d_model=4, d_sae=6, seed=3)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    got = reference.jumprelu(x, sae.W_enc, sae.b_enc, sae.threshold)
    for i in range(5):
        for f in range(6):
            pre = sum(float(x[i, d]) * float(sae.W_enc[d, f]) for d in range(4)) + float(sae.b_enc[f])
            want = pre if pre > float(sae.threshold[f]) else 0.0
            assert abs(float(got[i, f]) - want) < 1e-5, (i, f)
    at = torch.zeros(1, 4)  # pre == b_enc: with the threshold set to it, exactly at the threshold -> 0
    assert float(reference.jumprelu(at, sae.W_enc, sae.b_enc, sae.b_enc.clone()).abs().max()) == 0.0


def test_attention_rows_of_a_generation_equal_one_query_at_a_time():
    model = tiny_gemma(layers=2)
    ids = torch.tensor([[2, 5, 9, 11, 7, 3, 8]])
    prompt_len, layer = 4, 1
    rows = reference.generation_attention_rows(model, ids, prompt_len, layer)
    assert rows.shape == (2, ids.shape[1] - prompt_len, ids.shape[1] - 1)
    for g in range(ids.shape[1] - prompt_len):  # the row of generated token g: the query at prompt_len - 1 + g
        length = prompt_len + g
        alone = model(ids[:, :length], output_attentions=True).attentions[layer][0, :, -1, :]
        torch.testing.assert_close(rows[:, g, :length], alone)
        later = rows[:, g, length:]
        assert later.numel() == 0 or float(later.abs().max()) == 0.0  # nothing attends to later tokens
