"""Pinned data of notebook 07's checks: the instructor solutions, checked against forward hooks, and the usual mistakes."""
from __future__ import annotations

from helpers.checks import nb07 as checks
from helpers.checks.common import ANY, model_key, tensor_sketch, tensor_values
from helpers.offline import reference


def layer_outputs(model, input_ids):
    """``[layer, pos, d_model]``: the output of every decoder layer (resid_post) of one text, from forward hooks."""
    import torch

    outputs = reference.decoder_layer_outputs(model, input_ids)
    return torch.stack([outputs[i][0] for i in range(len(outputs))])


def jumprelu(x, sae, feature=None, relu: bool = False):
    """JumpReLU activations of ``x`` (one feature, or all); ``relu``: the plain-ReLU mistake."""
    import torch

    W, b, theta = (sae.W_enc, sae.b_enc, sae.threshold) if feature is None else \
        (sae.W_enc[:, feature], sae.b_enc[feature], sae.threshold[feature])
    if relu:
        return torch.relu(x.to(device=W.device, dtype=W.dtype) @ W + b)
    return reference.jumprelu(x, W, b, theta)


def pin_hidden_index(sol, objects) -> dict:
    """A sketch of each decoder layer's output (forward hooks): the check finds the student's entry among them."""
    model, tokenizer = objects.lm
    outputs = layer_outputs(model, _ids(tokenizer))
    return {model_key(model): {str(layer): tensor_sketch(outputs[layer]) for layer in range(model.config.num_hidden_layers - 1)}}


def pin_jumprelu_encode(sol, objects) -> dict:
    x, W, b, theta = checks.jumprelu_inputs()
    pre = x @ W + b
    no_bias = x @ W
    mistakes = {"relu": pre.relu(), "pre": pre, "no_bias": no_bias * (no_bias > theta),
                "shifted": pre * (pre > theta) - theta * (pre > theta)}
    correct = sol["jumprelu_encode"](x, W, b, theta)
    return {ANY: {"correct": tensor_values(correct), **{name: tensor_sketch(v, correct) for name, v in mistakes.items()}}}


def _top_feature(acts) -> int:
    """The feature with the largest total activation: it makes a case discriminating."""
    return int(acts.reshape(-1, acts.shape[-1]).sum(dim=0).argmax())


def _ids(tokenizer):
    return tokenizer(checks.CHECK_TEXT_07, return_tensors="pt").input_ids


def pin_feature_activations(sol, objects) -> dict:
    (model, tokenizer), sae = objects.lm, objects.sae
    outputs, n = layer_outputs(model, _ids(tokenizer)), model.config.num_hidden_layers
    cases = []
    for layer in sorted({min(20, n - 1), n // 3, n - 1}):
        feature = _top_feature(jumprelu(outputs[layer][1:], sae))
        got = sol["feature_activations"](model, tokenizer, sae, checks.CHECK_TEXT_07, layer, feature).float().cpu()
        hooked = jumprelu(outputs[layer], sae, feature).float().cpu()
        if not bool((got - hooked).abs().max() < 1e-4):
            raise ValueError(f"the instructor's feature_activations differs from a forward hook on layer {layer}")
        case = {"layer": layer, "feature": feature, "correct": tensor_values(got),
                "relu": tensor_sketch(jumprelu(outputs[layer], sae, feature, relu=True), got)}
        if layer > 0:
            case["previous_layer"] = tensor_sketch(jumprelu(outputs[layer - 1], sae, feature), got)
        if layer == n - 1:
            import torch

            with torch.no_grad():
                case["final_norm"] = tensor_sketch(jumprelu(model.model.norm(outputs[layer]), sae, feature), got)
        cases.append(case)
    return {model_key(model): {"cases": cases}}


def pin_activations_across_layers(sol, objects) -> dict:
    import torch

    (model, tokenizer), sae = objects.lm, objects.sae
    ids, n = _ids(tokenizer), model.config.num_hidden_layers
    outputs = layer_outputs(model, ids)
    feature = _top_feature(jumprelu(outputs[:, 1:], sae))
    with torch.no_grad():
        hidden = model(ids.to(model.device), output_hidden_states=True).hidden_states
    early = jumprelu(torch.stack([h[0] for h in hidden[:n]]), sae, feature)
    got = sol["activations_across_layers"](model, tokenizer, sae, checks.CHECK_TEXT_07, feature)
    return {model_key(model): {"feature": feature, "correct": tensor_values(got), "early": tensor_sketch(early, got)}}


def pin_fraction_of_variance_unexplained(sol, objects) -> dict:
    x, x_hat = checks.fvu_inputs()
    error = float(((x - x_hat) ** 2).sum())
    return {ANY: {"correct": round(float(sol["fraction_of_variance_unexplained"](x, x_hat)), 10),
                  "uncentred": round(error / float((x ** 2).sum()), 10),
                  "one_mean": round(error / float(((x - x.mean()) ** 2).sum()), 10)}}


PINNERS = {"check_hidden_index": pin_hidden_index, "check_jumprelu_encode": pin_jumprelu_encode,
           "check_feature_activations": pin_feature_activations,
           "check_activations_across_layers": pin_activations_across_layers,
           "check_fraction_of_variance_unexplained": pin_fraction_of_variance_unexplained}
