"""A fake Hugging Face hub cache built from the offline lab assets, so the ``gemma`` code path runs without a hub.

``build_fake_hub(root)`` writes ``root/hub/`` exactly as ``huggingface_hub`` lays out its cache
(``models--ORG--NAME/{blobs,refs/main,snapshots/REV/...}``, snapshot files as relative symlinks to
content-addressed blobs) for the three repos ``helpers.backend`` loads on the gemma backend:

* ``google/gemma-2-2b-it`` — the offline micro Gemma-2 dressed like the real repo: a config in the
  legacy form transformers 4.42 wrote (``torch_dtype``, top-level ``rope_theta``, no ``layer_types``),
  weights split into two safetensors shards with ``model.safetensors.index.json``, the chat template
  *inside* ``tokenizer_config.json`` (no ``chat_template.jinja``), a ``special_tokens_map.json``.
  The real repo also has a SentencePiece ``tokenizer.model``; it is left out (transformers uses
  ``tokenizer.json`` when both exist, and a fake SentencePiece model would test nothing).
* ``cross-encoder/ms-marco-MiniLM-L-6-v2`` — the offline cross-encoder with the real repo's
  ``sbert_ce_default_activation_function`` (Identity) in its config, ``vocab.txt`` and
  ``special_tokens_map.json``.
* ``google/gemma-scope-2b-pt-res`` — the offline SAE at ``layer_20/width_16k/average_l0_71/params.npz``.

Used by ``tests/test_gemma_fakehub.py`` with ``HF_HUB_OFFLINE=1``; nothing here touches a network.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save

from helpers.backend import GEMMA_CROSS_ENCODER_ID, GEMMA_LM_ID, GEMMA_SAE_FILE, GEMMA_SAE_REPO
from tests.tokens import fake_hf_token  # noqa: F401  (re-exported for the fake-hub tests)

REPO_ROOT = Path(__file__).resolve().parent.parent
OFFLINE = REPO_ROOT / "data" / "offline"
LEGACY_TRANSFORMERS = "4.42.4"  # what wrote the real gemma-2-2b-it config


def _blob_name(data: bytes, lfs: bool) -> str:
    """The hub's blob name: sha256 for LFS files, the git blob sha1 for regular ones."""
    if lfs:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_repo(hub: Path, repo_id: str, files: dict[str, bytes], repo_type: str = "model") -> Path:
    """One repo in the hub cache layout; returns its snapshot folder."""
    folder = hub / f"{repo_type}s--{repo_id.replace('/', '--')}"
    revision = hashlib.sha1(b"".join(name.encode() + hashlib.sha256(data).digest() for name, data in sorted(files.items()))).hexdigest()
    snapshot = folder / "snapshots" / revision
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    for name, data in files.items():
        lfs = name.endswith((".safetensors", ".npz", ".bin", ".model")) or len(data) > 10_000_000
        blob = folder / "blobs" / _blob_name(data, lfs)
        blob.write_bytes(data)
        target = snapshot / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.symlink_to(os.path.relpath(blob, target.parent))
        except OSError:  # no symlinks (Windows without developer mode): the hub copies too
            target.write_bytes(data)
    return snapshot


def _json(value: dict) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def legacy_lm_config(config: dict) -> dict:
    """The offline config in the shape of the real repo's (transformers 4.42: ``torch_dtype``, ``rope_theta``)."""
    legacy = {k: v for k, v in config.items() if k not in ("dtype", "layer_types", "rope_parameters", "use_bidirectional_attention", "tie_word_embeddings")}
    legacy["torch_dtype"] = config.get("dtype", "float32")
    legacy["rope_theta"] = config.get("rope_parameters", {}).get("rope_theta", 10000.0)
    legacy["hidden_act"] = config["hidden_activation"]
    legacy["cache_implementation"] = "hybrid"
    legacy["eos_token_id"] = [1, 107]
    legacy["transformers_version"] = LEGACY_TRANSFORMERS
    return legacy


def sharded_safetensors(path: Path, shards: int = 2) -> dict[str, bytes]:
    """``model-0000i-of-0000n.safetensors`` + ``model.safetensors.index.json``, as ``save_pretrained`` shards."""
    with safe_open(path, "pt") as f:
        names = list(f.keys())
        tensors = {name: f.get_tensor(name) for name in names}
    per_shard = -(-len(names) // shards)
    files: dict[str, bytes] = {}
    weight_map: dict[str, str] = {}
    total = 0
    for index in range(shards):
        chunk = names[index * per_shard:(index + 1) * per_shard]
        shard_name = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        files[shard_name] = save({name: tensors[name].contiguous() for name in chunk}, metadata={"format": "pt"})
        for name in chunk:
            weight_map[name] = shard_name
            total += tensors[name].numel() * tensors[name].element_size()
    files["model.safetensors.index.json"] = _json({"metadata": {"total_size": total}, "weight_map": weight_map})
    return files


def gemma_lm_files() -> dict[str, bytes]:
    """The files of the fake ``google/gemma-2-2b-it``."""
    lm = OFFLINE / "lm"
    config = json.loads((lm / "config.json").read_text())
    tokenizer_config = json.loads((lm / "tokenizer_config.json").read_text())
    tokenizer = json.loads((lm / "tokenizer.json").read_text())
    added = {
        str(token["id"]): {key: token[key] for key in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
        for token in tokenizer["added_tokens"]
    }
    real_tokenizer_config = {
        "add_bos_token": True,
        "add_eos_token": False,
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
        "bos_token": "<bos>",
        "chat_template": (lm / "chat_template.jinja").read_text(),
        "clean_up_tokenization_spaces": False,
        "eos_token": "<eos>",
        "model_max_length": tokenizer_config.get("model_max_length", 8192),
        "pad_token": "<pad>",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "GemmaTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
    }
    generation = json.loads((lm / "generation_config.json").read_text())
    generation.update({"_from_model_config": True, "cache_implementation": "hybrid", "transformers_version": LEGACY_TRANSFORMERS})
    files = {
        "config.json": _json(legacy_lm_config(config)),
        "generation_config.json": _json(generation),
        "tokenizer.json": (lm / "tokenizer.json").read_bytes(),
        "tokenizer_config.json": _json(real_tokenizer_config),
        "special_tokens_map.json": _json({
            "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"],
            "bos_token": {"content": "<bos>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
            "eos_token": {"content": "<eos>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
            "pad_token": {"content": "<pad>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
            "unk_token": {"content": "<unk>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False},
        }),
    }
    files.update(sharded_safetensors(lm / "model.safetensors"))
    return files


def cross_encoder_files() -> dict[str, bytes]:
    """The files of the fake ``cross-encoder/ms-marco-MiniLM-L-6-v2``."""
    ce = OFFLINE / "cross_encoder"
    config = json.loads((ce / "config.json").read_text())
    legacy = {k: v for k, v in config.items() if k != "dtype"}
    legacy.update({
        "torch_dtype": config.get("dtype", "float32"),
        "sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity",
        "transformers_version": LEGACY_TRANSFORMERS,
        "position_embedding_type": "absolute",
    })
    tokenizer = json.loads((ce / "tokenizer.json").read_text())
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])
    tokenizer_config = json.loads((ce / "tokenizer_config.json").read_text())
    tokenizer_config.pop("backend", None)
    return {
        "config.json": _json(legacy),
        "model.safetensors": (ce / "model.safetensors").read_bytes(),
        "tokenizer.json": (ce / "tokenizer.json").read_bytes(),
        "tokenizer_config.json": _json(tokenizer_config),
        "vocab.txt": "".join(token + "\n" for token, _ in vocab).encode(),
        "special_tokens_map.json": _json({"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                                          "sep_token": "[SEP]", "unk_token": "[UNK]"}),
    }


def build_fake_hub(root: Path) -> Path:
    """Write the fake hub cache under ``root`` (used as ``HF_HOME``); returns the cache folder ``root/hub``."""
    hub = Path(root) / "hub"
    write_repo(hub, GEMMA_LM_ID, gemma_lm_files())
    write_repo(hub, GEMMA_CROSS_ENCODER_ID, cross_encoder_files())
    write_repo(hub, GEMMA_SAE_REPO, {GEMMA_SAE_FILE: (OFFLINE / "sae" / "params.npz").read_bytes()})
    return hub
