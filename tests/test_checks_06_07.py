"""The checks of notebooks 06 and 07: each passes the instructor solution and names the likely mistake
of plausible wrong ones (the solutions are read from the instructor notebooks, never copied here)."""

import pytest
import torch

from helpers import checks
from tests.solutions import fails, instructor_functions, passes


@pytest.fixture(scope="module")
def nb06():
    return instructor_functions("06_attention_maps")


@pytest.fixture(scope="module")
def nb07():
    return instructor_functions("07_sae_activations")




# --- 6.1 generation_attention -------------------------------------------------------------

def _attentions(model, ids, layer, drop_last=True):
    with torch.no_grad():
        return model(ids[:, :-1] if drop_last else ids, output_attentions=True).attentions[layer]


def test_check_generation_attention(lm, nb06, capsys):
    model, tokenizer = lm
    check = checks.check_generation_attention
    passes(check, nb06["generation_attention"], model, tokenizer, capsys=capsys)
    # every query row of the full text, all T keys: the last generated token was fed as well
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer, drop_last=False)[0, :, p:, :],
          model, tokenizer, match="one per fed position")
    # the rows start one position too late (the generated tokens' own rows), last key dropped
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer, drop_last=False)[0, :, p:, :-1],
          model, tokenizer, match="one position late")
    # right forward, rows sliced from prompt_len: one row short
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer)[0, :, p:, :], model, tokenizer, match=r"Expected G = \d+ rows")
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer)[0, 0, p - 1 :, :], model, tokenizer, match="one head")
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer)[:, :, p - 1 :, :], model, tokenizer, match="batch dimension")
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer)[0].transpose(-1, -2)[:, p - 1 :, :],
          model, tokenizer, match="swap query and key")
    last = model.config.num_hidden_layers - 1
    fails(check, lambda m, ids, p, layer: _attentions(m, ids, layer + 1 if layer < last else layer - 1)[0, :, p - 1 :, :],
          model, tokenizer, match="rows of layer")


# --- 6.2 attention_labels -----------------------------------------------------------------

def test_check_attention_labels(lm, nb06, capsys):
    _, tokenizer = lm
    check = checks.check_attention_labels
    passes(check, nb06["attention_labels"], tokenizer, capsys=capsys)

    def homework(tok, ids, p):  # the original: tokenize the decoded text
        pieces = tok.tokenize(tok.decode(ids[0], skip_special_tokens=True))
        return pieces[p - 1 :], pieces

    def pieces(tok, ids):
        return tok.convert_ids_to_tokens(ids[0].tolist())

    fails(check, homework, tokenizer, match="re-tokenized text")
    fails(check, lambda tok, ids, p: (pieces(tok, ids)[p - 1 : -1], pieces(tok, ids)), tokenizer, match="Expected T-1")
    fails(check, lambda tok, ids, p: (pieces(tok, ids)[p:], pieces(tok, ids)[:-1]), tokenizer, match="Row labels .* one position late")
    fails(check, lambda tok, ids, p: ([tok.decode([i]) for i in ids[0, p - 1 : -1]], [tok.decode([i]) for i in ids[0, :-1]]),
          tokenizer, match="space marker")
    fails(check, lambda tok, ids, p: (pieces(tok, ids)[p - 1 : -1], pieces(tok, ids)[1:]), tokenizer, match="Column 0")


# --- 7.1 hidden_index ---------------------------------------------------------------------

def test_check_hidden_index(lm, nb07, capsys):
    model, tokenizer = lm
    check = checks.check_hidden_index
    passes(check, nb07["hidden_index"], model, tokenizer, capsys=capsys)
    fails(check, lambda layer, n: layer, model, tokenizer, match="INPUT of layer")
    fails(check, lambda layer, n: layer + 1, model, tokenizer, match="final norm")
    # compared with the pinned layer outputs: an entry two places late, or the last one, is not layer `layer`'s output
    fails(check, lambda layer, n: layer + 2, model, tokenizer,
          match="not the output of decoder layer 0")
    fails(check, lambda layer, n: n - 1 if layer < n - 2 else layer + 1, model, tokenizer, match="not the output of decoder layer 0")

    def no_range(layer, n):
        if not 0 <= layer < n - 1:
            raise ValueError("bad layer")
        return layer + 1

    fails(check, no_range, model, tokenizer, match="name the valid range")

    def constant(layer, n):
        if not 0 <= layer < 25:
            raise ValueError("valid layers are 0..24")
        return layer + 1

    fails(check, constant, model, tokenizer, match="num_layers argument")


# --- 7.2 jumprelu_encode ------------------------------------------------------------------

def test_check_jumprelu_encode(nb07, capsys):
    check = checks.check_jumprelu_encode
    passes(check, nb07["jumprelu_encode"], capsys=capsys)
    passes(check, lambda x, W, b, t: (x.to(W.dtype) @ W + b > t) * torch.relu(x.to(W.dtype) @ W + b), capsys=capsys)
    fails(check, lambda x, W, b, t: torch.relu(x.to(W.dtype) @ W + b), match="plain ReLU")
    fails(check, lambda x, W, b, t: (x.to(W.dtype) @ W + b) * ((x.to(W.dtype) @ W + b) >= t), match="strict")
    fails(check, lambda x, W, b, t: (x.to(W.dtype) @ W) * ((x.to(W.dtype) @ W) > t), match="b_enc")
    fails(check, lambda x, W, b, t: torch.relu(x.to(W.dtype) @ W + b - t), match="shifted ReLU")
    fails(check, lambda x, W, b, t: (x @ W + b) * ((x @ W + b) > t), match="cast x")


# --- 7.3 feature_activations --------------------------------------------------------------

def _from_hidden_states(offset):
    def feature_activations(model, tokenizer, sae, text, layer, feature):
        ids = tokenizer(text, return_tensors="pt").input_ids
        with torch.no_grad():
            x = model(ids, output_hidden_states=True).hidden_states[layer + offset][0]
        pre = x @ sae.W_enc[:, feature] + sae.b_enc[feature]
        return torch.where(pre > sae.threshold[feature], pre, torch.zeros_like(pre))
    return feature_activations


def test_check_feature_activations(lm, sae, nb07, capsys):
    model, tokenizer = lm
    check = checks.check_feature_activations
    right = nb07["feature_activations"]
    passes(check, right, model, tokenizer, sae, capsys=capsys)
    fails(check, _from_hidden_states(0), model, tokenizer, sae, match=r"layer \d+'s output")
    fails(check, _from_hidden_states(1), model, tokenizer, sae, match="final norm")
    fails(check, lambda *args: right(*args)[1:], model, tokenizer, sae, match="keep <bos>")
    fails(check, lambda *args: right(*args).max(), model, tokenizer, sae, match="one number")

    def plain_relu(model, tokenizer, sae, text, layer, feature):
        saved = sae.threshold.clone()
        try:
            sae.threshold.zero_()
            return right(model, tokenizer, sae, text, layer, feature)
        finally:
            sae.threshold.copy_(saved)

    fails(check, plain_relu, model, tokenizer, sae, match="plain ReLU")


# --- 7.4 activations_across_layers --------------------------------------------------------

def _across_from_hidden_states(first, last):
    def activations_across_layers(model, tokenizer, sae, text, feature):
        ids = tokenizer(text, return_tensors="pt").input_ids
        with torch.no_grad():
            hidden = model(ids, output_hidden_states=True).hidden_states
        x = torch.stack([h[0] for h in hidden[first:last]])
        pre = x @ sae.W_enc[:, feature] + sae.b_enc[feature]
        return torch.where(pre > sae.threshold[feature], pre, torch.zeros_like(pre))
    return activations_across_layers


def test_check_activations_across_layers(lm, sae, nb07, capsys):
    model, tokenizer = lm
    n = model.config.num_hidden_layers
    check = checks.check_activations_across_layers
    right = nb07["activations_across_layers"]
    passes(check, right, model, tokenizer, sae, capsys=capsys)
    fails(check, _across_from_hidden_states(0, n), model, tokenizer, sae, match="one layer early")
    fails(check, _across_from_hidden_states(1, n + 1), model, tokenizer, sae, match="final norm")
    fails(check, _across_from_hidden_states(0, n + 1), model, tokenizer, sae, match="embeddings")
    fails(check, lambda *args: right(*args).T, model, tokenizer, sae, match=r"\[T, num_layers\]")


# --- 7.5 fraction_of_variance_unexplained -------------------------------------------------

def test_check_fraction_of_variance_unexplained(nb07, capsys):
    check = checks.check_fraction_of_variance_unexplained
    passes(check, nb07["fraction_of_variance_unexplained"], capsys=capsys)
    passes(check, lambda x, xh: ((x - xh) ** 2).sum() / ((x - x.mean(0)) ** 2).sum(), capsys=capsys)  # a 0-d tensor is fine
    fails(check, lambda x, xh: float(((x - xh) ** 2).sum() / (x ** 2).sum()), match=r"sum\(x²\)")
    fails(check, lambda x, xh: 1 - float(((x - xh) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()), match="EXPLAINED")
    fails(check, lambda x, xh: float(((x - xh) ** 2).sum() / ((x - x.mean()) ** 2).sum()), match="one mean of all numbers")
    fails(check, lambda x, xh: float((((x - xh) ** 2).sum(1) / ((x - x.mean(0)) ** 2).sum(1)).mean()), match="Got")
