"""Checks of notebook 07 (SAE activations): exercises 7.1 hidden_index, 7.2 jumprelu_encode, 7.3 feature_activations,
7.4 activations_across_layers, 7.5 fraction_of_variance_unexplained."""
from __future__ import annotations

from helpers.checks.common import (ANY, close, distinct, float_atol, max_diff, model_finite, model_key, ok, pinned, require,
                                   require_finite, unpinned_note)

NOTEBOOK = "07"
CHECK_TEXT_07 = "If time travel were possible, I would visit the past and the future."
JUMPRELU_MISTAKES = {
    "relu": "That is a plain ReLU: JumpReLU also zeroes every pre-activation at or below the feature's threshold.",
    "pre": "You returned the pre-activations: apply the JumpReLU.",
    "no_bias": "You forgot the encoder bias b_enc.",
    "shifted": "Subtracting the threshold is a shifted ReLU, not a JumpReLU: keep the whole value pre where pre > threshold.",
}


def _call_index(hidden_index, layer: int, n: int):
    try:
        return hidden_index(layer, n)
    except ValueError as err:
        return ValueError(str(err))


def _hidden_index_rule(hidden_index, n: int) -> None:
    """The last layer and out-of-range layers raise ValueError naming the range; num_layers is used, not a constant."""
    last = _call_index(hidden_index, n - 1, n)
    require(isinstance(last, ValueError), f"hidden_index({n - 1}, {n}) returned {last}, but no entry holds the last layer's "
                                          f"raw output: hidden_states[{n}] has the model's final norm applied (it feeds the "
                                          "LM head). Raise ValueError.")
    for bad in (-1, n, n + 3):
        err = _call_index(hidden_index, bad, n)
        require(isinstance(err, ValueError), f"hidden_index({bad}, {n}) should raise ValueError: there is no decoder layer {bad}.")
        require(str(n - 2) in str(err) or str(n - 1) in str(err),
                f"The ValueError for layer {bad} should name the valid range (0..{n - 2}); its message was {str(err)!r}.")
    small = [_call_index(hidden_index, layer, 3) for layer in range(3)]
    require(small[:2] == [_call_index(hidden_index, layer, n) for layer in range(2)] and isinstance(small[2], ValueError),
            "Use the num_layers argument, not a constant: a 3-layer model's layers 0 and 1 sit where a larger model's do, "
            f"and its layer 2 (the last) raises ValueError; got {['ValueError' if isinstance(i, ValueError) else i for i in small]}.")


def check_hidden_index(hidden_index, model, tokenizer) -> None:
    """Exercise 7.1: ``hidden_index(layer, num_layers)`` -> the ``hidden_states`` entry that is decoder layer ``layer``'s output."""
    import torch

    n = model.config.num_hidden_layers
    ids = tokenizer(CHECK_TEXT_07, return_tensors="pt").input_ids
    model_finite(model, ids)  # the notebook reads this model's hidden states
    entry = pinned(NOTEBOOK, "check_hidden_index", model_key(model))
    hidden = None
    if entry is not None:
        with torch.no_grad():
            hidden = model(ids.to(model.device), output_hidden_states=True).hidden_states
    for layer in range(n - 1):
        index = _call_index(hidden_index, layer, n)
        require(not isinstance(index, ValueError), f"hidden_index({layer}, {n}) raised ValueError: layer {layer} has an entry.")
        require(isinstance(index, int) and not isinstance(index, bool), f"Return an int index, got {type(index).__name__}.")
        require(0 <= index <= n, f"hidden_index({layer}, {n}) = {index} is not an index of hidden_states (0..{n}).")
        require(index != layer, f"hidden_states[{layer}] is the INPUT of layer {layer} "
                                f"({'the embeddings' if layer == 0 else f'the output of layer {layer - 1}'}): hidden_states[0] "
                                "is the embedding output.")
        require(hidden is None or close(hidden[index][0].float(), entry[str(layer)], 1e-4, 1e-4),
                f"hidden_states[{index}] is not the output of decoder layer {layer} (compared with the pinned output of "
                f"model.model.layers[{layer}], caught with a forward hook).")
    _hidden_index_rule(hidden_index, n)
    ok(f"hidden_index on layers 0..{n - 2}; layer {n - 1} and out-of-range layers raise ValueError" + unpinned_note(entry))


def jumprelu_inputs():
    """``(x [4, 3, 6], W_enc [6, 10], b_enc [10], threshold [10])``: the visible inputs of check 7.2."""
    import torch

    gen = torch.Generator().manual_seed(7)
    W_enc = torch.randn(6, 10, generator=gen)
    b_enc = torch.randn(10, generator=gen) * 0.5
    threshold = torch.rand(10, generator=gen) + 0.25
    x = torch.randn(4, 3, 6, generator=gen) * 2
    return x, W_enc, b_enc, threshold


def _jumprelu_edges(jumprelu_encode, x, W_enc, b_enc, threshold) -> None:
    """Strict '>' at the threshold; float16 input with a float32 SAE."""
    import torch

    W_eye, theta = torch.eye(3), torch.tensor([0.5, 1.0, 2.0])
    at = torch.tensor([[0.5, 1.0, 2.0], [0.75, 0.999, 2.5]])
    got = jumprelu_encode(at, W_eye, torch.zeros(3), theta).float()
    require(float(got[0].abs().max()) == 0.0,
            "A pre-activation exactly equal to the threshold must give 0: use a strict `pre > threshold`, not `>=`.")
    require(torch.allclose(got[1], torch.tensor([0.75, 0.0, 2.5])), f"Expected [0.75, 0, 2.5] for that row, got {got[1].tolist()}.")
    try:
        got = jumprelu_encode(x.half(), W_enc, b_enc, threshold)
    except RuntimeError as err:
        require(False, f"float16 input failed ({str(err)[:80]}): cast x to W_enc's dtype first (x.to(W_enc.dtype)); "
                       "a GPU model's hidden states are float16/bfloat16, the SAE is float32.")
    require(got.dtype == W_enc.dtype, f"For float16 input the result should be in the SAE's dtype (float32), got {got.dtype}.")


def check_jumprelu_encode(jumprelu_encode) -> None:
    """Exercise 7.2: ``jumprelu_encode(x, W_enc, b_enc, threshold)`` = ``pre * (pre > threshold)``, ``pre = x @ W_enc + b_enc``."""
    import torch

    entry = pinned(NOTEBOOK, "check_jumprelu_encode", ANY)
    x, W_enc, b_enc, threshold = jumprelu_inputs()
    got = jumprelu_encode(x.clone(), W_enc, b_enc, threshold)
    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    require(tuple(got.shape) == (4, 3, 10), f"Expected shape [..., d_sae] = (4, 3, 10), got {tuple(got.shape)}: "
                                            "multiply x @ W_enc (W_enc is [d_model, d_sae]).")
    got = got.float()
    for mistake, hint in JUMPRELU_MISTAKES.items():
        require(not (distinct(entry[mistake], 1e-5) and close(got, entry[mistake], 1e-5)), hint)
    require(float(got[got.abs() > 0].abs().min()) >= float(threshold.min()) if bool((got.abs() > 0).any()) else True,
            "Pre-activations between 0 and the threshold must give 0: compare pre with `threshold`, not with 0.")
    require(close(got, entry["correct"], 1e-5), f"Activations differ (max difference {max_diff(got, entry['correct']):.3g}): "
                                                "acts = pre where pre > threshold, else 0, with pre = x @ W_enc + b_enc.")
    _jumprelu_edges(jumprelu_encode, x, W_enc, b_enc, threshold)
    ok("jumprelu_encode: 0 at or below the threshold, pre above it; bias, strict '>' and dtype handled")


def _as_row(got, T: int, d_sae: int, what: str):
    import torch

    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    got = got.detach().float().cpu()
    require(got.dim() != 0, "You returned one number: return the activation on every token, [T]; the notebook takes the max.")
    require(tuple(got.shape) != (T, d_sae), f"Shape {tuple(got.shape)} holds every feature: return only column `feature`, [T].")
    got = got.squeeze(0) if got.dim() == 2 and got.shape[0] == 1 else got
    require(got.shape[0] != T - 1, f"{T - 1} values for {T} tokens: keep <bos> (position 0); the notebook drops it when it takes the max.")
    require(tuple(got.shape) == (T,), f"Expected one activation per token, shape ({T},), got {tuple(got.shape)} {what}.")
    return got


FEATURE_MISTAKES = {
    "previous_layer": "These are the activations on layer {prev}'s output {where}: hidden_states[layer] is the input of layer "
                      "`layer`. Use your hidden_index (exercise 7.1).",
    "final_norm": "For the last layer {where} you read hidden_states[-1], which has the final norm applied. Catch the "
                  "layer's output with a forward hook on model.model.layers[layer].",
    "relu": "That is a plain ReLU {where}: apply the JumpReLU (zero at or below the feature's threshold).",
}


def _sae_tolerance(model) -> float:
    return 10 * float_atol(model)


def check_feature_activations(feature_activations, model, tokenizer, sae) -> None:
    """Exercise 7.3: ``feature_activations(model, tokenizer, sae, text, layer, feature) -> [T]`` on layer ``layer``'s output."""
    ids = tokenizer(CHECK_TEXT_07, return_tensors="pt").input_ids
    model_finite(model, ids)
    T, atol = ids.shape[1], _sae_tolerance(model)
    entry = pinned(NOTEBOOK, "check_feature_activations", model_key(model))
    cases = entry["cases"] if entry is not None else [{"layer": model.config.num_hidden_layers - 1, "feature": 0}]
    for case in cases:
        layer, feature = case["layer"], case["feature"]
        where = f"(layer {layer}, feature {feature})"
        got = feature_activations(model, tokenizer, sae, CHECK_TEXT_07, layer, feature)
        require_finite(got, f"feature_activations {where}", lambda: ids.new_zeros(1).float(), model)
        got = _as_row(got, T, sae.d_sae, where)
        require(float(got.min()) >= 0, f"Negative activations {where}: a JumpReLU is 0 or above the threshold.")
        if entry is None:
            continue
        tol = atol + 1e-3 * float(got.abs().max())
        for mistake, hint in FEATURE_MISTAKES.items():
            other = case.get(mistake)
            if distinct(other, tol) and close(got, other, tol):
                require(False, hint.format(prev=layer - 1, where=where))
        require(close(got, case["correct"], tol), f"Activations {where} differ from the SAE feature on layer {layer}'s output "
                                                 f"(caught with a forward hook) (max difference {max_diff(got, case['correct']):.3g}).")
    ok(f"feature_activations matches the pinned SAE activations on layer outputs (layers {[c['layer'] for c in cases]})"
       + unpinned_note(entry))


def check_activations_across_layers(activations_across_layers, model, tokenizer, sae) -> None:
    """Exercise 7.4: ``activations_across_layers(model, tokenizer, sae, text, feature) -> [num_layers, T]``."""
    import torch

    from helpers.checks.common import as_tensor

    ids = tokenizer(CHECK_TEXT_07, return_tensors="pt").input_ids
    model_finite(model, ids)
    n, T, atol = model.config.num_hidden_layers, ids.shape[1], _sae_tolerance(model)
    entry = pinned(NOTEBOOK, "check_activations_across_layers", model_key(model))
    feature = entry["feature"] if entry is not None else 0
    got = activations_across_layers(model, tokenizer, sae, CHECK_TEXT_07, feature)
    require_finite(got, f"activations_across_layers (feature {feature})", lambda: torch.zeros(1), model)
    require(isinstance(got, torch.Tensor), f"Return a tensor, got {type(got).__name__}.")
    got = got.detach().float().cpu()
    require(tuple(got.shape) != (n + 1, T), f"{n + 1} rows: you included hidden_states[0], the embeddings. Return one row per "
                                             f"decoder layer: [num_layers, T] = ({n}, {T}).")
    require(tuple(got.shape) != (T, n) or T == n, f"Shape {tuple(got.shape)} is [T, num_layers]: return [num_layers, T] (one row per layer).")
    require(tuple(got.shape) == (n, T), f"Expected [num_layers, T] = ({n}, {T}), got {tuple(got.shape)}.")
    if entry is not None:
        want = as_tensor(entry["correct"]).float()
        tol = atol + 1e-3 * float(want.abs().max())
        require(not distinct(entry["early"], tol) or not close(got, entry["early"], tol),
                "Row L holds hidden_states[L], the INPUT of layer L: every row is one layer early. "
                "Row L must be layer L's output (exercise 7.1).")
        if torch.allclose(got[:-1], want[:-1], atol=tol) and not torch.allclose(got[-1], want[-1], atol=tol):
            require(False, f"Rows 0..{n - 2} are right, the last is not: hidden_states[{n}] has the final norm applied. "
                           "Catch every layer's output with forward hooks on model.model.layers.")
        for layer in range(n):
            diff = float((got[layer] - want[layer]).abs().max())
            require(diff <= tol, f"Row {layer} differs from the SAE feature on layer {layer}'s output (caught with a forward "
                                 f"hook) (max difference {diff:.3g}).")
    ok(f"activations_across_layers matches the pinned activations of all {n} layers (feature {feature})" + unpinned_note(entry))


def fvu_inputs():
    """``(x [40, 8], x_hat [40, 8])``: the visible inputs of check 7.5."""
    import torch

    gen = torch.Generator().manual_seed(75)
    x = torch.randn(40, 8, generator=gen) * torch.linspace(0.5, 3, 8) + torch.linspace(-4, 6, 8)
    noise = torch.randn(40, 8, generator=gen) * 0.7
    return x, x + noise


def check_fraction_of_variance_unexplained(fraction_of_variance_unexplained) -> None:
    """Exercise 7.5: FVU = sum((x - x_hat)^2) / sum((x - mean_over_tokens(x))^2)."""
    entry = pinned(NOTEBOOK, "check_fraction_of_variance_unexplained", ANY)
    x, x_hat = fvu_inputs()
    want = entry["correct"]

    def call(a, b):
        value = fraction_of_variance_unexplained(a.clone(), b.clone())
        try:
            return float(value)
        except (TypeError, ValueError):
            require(False, f"Return one number (a float), got {type(value).__name__}.")

    got = call(x, x_hat)
    require(abs(got - (1 - want)) > 1e-6, "You returned the fraction of variance EXPLAINED (1 − FVU): return the unexplained part.")
    require(abs(call(x, x)) < 1e-9, "A perfect reconstruction (x_hat = x) must give 0.")
    require(abs(got - entry["uncentred"]) > 1e-6, "You divided by sum(x²): the variance is measured around the mean of x over "
                                                  "tokens (per dimension), so subtract x.mean(dim=0) first.")
    require(abs(got - entry["one_mean"]) > 1e-6, "You subtracted one mean of all numbers: take the mean over tokens for each "
                                                 "dimension, x.mean(dim=0).")
    require(abs(call(x, x.mean(dim=0, keepdim=True).expand_as(x)) - 1.0) < 1e-5, "Predicting the mean of x for every token must give FVU = 1.")
    require(abs(got - want) < 1e-5 * max(1.0, want),
            f"Got {got:.6g}, expected {want:.6g}: sum the squared errors over tokens AND dimensions, then divide by the "
            "summed squared deviations from x.mean(dim=0).")
    scaled = call(3 * x, 3 * x_hat)
    require(abs(scaled - want) < 1e-5 * max(1.0, want), "FVU must not change when x and x_hat are scaled together.")
    ok(f"FVU = {want:.4f} on a random case; 0 for x_hat = x, 1 for the mean")
