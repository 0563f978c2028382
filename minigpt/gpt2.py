"""Loading and exporting GPT-2 weights in Hugging Face `GPT2LMHeadModel` names.

Hugging Face stores GPT-2's linear layers as `Conv1D` modules whose weight is the
transpose of `nn.Linear`'s, so those four matrices per block are transposed on the way in
and out. Everything else maps name for name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from .config import MiniGPTConfig

# GPT-2 sizes whose head count can be inferred from the width alone.
GPT2_HEADS_BY_WIDTH = {768: 12, 1024: 16, 1280: 20, 1600: 25}

# Hugging Face name (without the "transformer." prefix) → MiniGPT name; {i} is the block.
_BLOCK_NAMES = {
    "h.{i}.ln_1.weight": "blocks.{i}.norm1.weight",
    "h.{i}.ln_1.bias": "blocks.{i}.norm1.bias",
    "h.{i}.attn.c_attn.weight": "blocks.{i}.attention.qkv.weight",
    "h.{i}.attn.c_attn.bias": "blocks.{i}.attention.qkv.bias",
    "h.{i}.attn.c_proj.weight": "blocks.{i}.attention.output.weight",
    "h.{i}.attn.c_proj.bias": "blocks.{i}.attention.output.bias",
    "h.{i}.ln_2.weight": "blocks.{i}.norm2.weight",
    "h.{i}.ln_2.bias": "blocks.{i}.norm2.bias",
    "h.{i}.mlp.c_fc.weight": "blocks.{i}.feed_forward.expand.weight",
    "h.{i}.mlp.c_fc.bias": "blocks.{i}.feed_forward.expand.bias",
    "h.{i}.mlp.c_proj.weight": "blocks.{i}.feed_forward.project.weight",
    "h.{i}.mlp.c_proj.bias": "blocks.{i}.feed_forward.project.bias",
}
_TOP_NAMES = {
    "wte.weight": "token_embedding.weight",
    "wpe.weight": "position_embedding.weight",
    "ln_f.weight": "final_norm.weight",
    "ln_f.bias": "final_norm.bias",
}
_CONV1D_SUFFIXES = ("c_attn.weight", "c_proj.weight", "c_fc.weight")
# Buffers some checkpoints carry (the causal mask); they hold no learned values.
_IGNORED = re.compile(r"^h\.\d+\.attn\.(bias|masked_bias)$")


def gpt2_name_map(num_layers: int) -> dict[str, str]:
    """Every Hugging Face parameter name (without "transformer.") → its MiniGPT name."""
    names = dict(_TOP_NAMES)
    for i in range(num_layers):
        names.update({hf.format(i=i): ours.format(i=i) for hf, ours in _BLOCK_NAMES.items()})
    return names


def _strip_prefix(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Accept both GPT2LMHeadModel ("transformer.h.0…") and GPT2Model ("h.0…") names."""
    return {k.removeprefix("transformer."): v for k, v in state_dict.items()}


def config_from_gpt2(
    state_dict: Mapping[str, Tensor], hf_config: Mapping | None = None, **overrides
) -> MiniGPTConfig:
    """Work out a MiniGPTConfig from a checkpoint's config.json or, failing that, its shapes."""
    weights = _strip_prefix(state_dict)
    for needed in ("wte.weight", "wpe.weight"):
        if needed not in weights:
            raise ValueError(f"not a GPT-2 checkpoint: missing weight 'transformer.{needed}'")
    vocab_size, embed_dim = weights["wte.weight"].shape
    layers = {int(m.group(1)) for k in weights if (m := re.match(r"h\.(\d+)\.", k))}
    if layers and "h.0.mlp.c_fc.weight" not in weights:  # it tells the feed-forward width
        raise ValueError("missing weight 'transformer.h.0.mlp.c_fc.weight' in the GPT-2 checkpoint")
    values: dict = {
        "vocab_size": int(vocab_size),
        "block_size": int(weights["wpe.weight"].shape[0]),
        "embed_dim": int(embed_dim),
        "num_layers": len(layers),
        "hidden_dim": int(weights["h.0.mlp.c_fc.weight"].shape[1]) if layers else None,
        "bias": True,
        "tie_weights": True,
        "positional": "learned",
    }
    if hf_config:
        activation = hf_config.get("activation_function", "gelu_new")
        if activation not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError(
                f"MiniGPT uses GPT-2's tanh-approximated GELU; this checkpoint uses "
                f"activation_function={activation!r}"
            )
        values["num_heads"] = int(hf_config["n_head"])
        values["layer_norm_eps"] = float(hf_config.get("layer_norm_epsilon", 1e-5))
    elif "num_heads" not in overrides:
        if embed_dim not in GPT2_HEADS_BY_WIDTH:
            raise ValueError(
                f"cannot infer num_heads for embed_dim {embed_dim} from weights alone; "
                f"pass num_heads=... or a folder with the checkpoint's config.json"
            )
        values["num_heads"] = GPT2_HEADS_BY_WIDTH[embed_dim]
    values.update(overrides)
    return MiniGPTConfig(**values)


def gpt2_to_minigpt(state_dict: Mapping[str, Tensor], num_layers: int) -> dict[str, Tensor]:
    """Rename (and transpose where needed) a GPT-2 state dict into MiniGPT's names."""
    weights = {k: v for k, v in _strip_prefix(state_dict).items() if not _IGNORED.match(k)}
    lm_head = weights.pop("lm_head.weight", None)
    names = gpt2_name_map(num_layers)
    for hf_name in weights:
        if hf_name not in names:
            raise ValueError(
                f"unexpected weight 'transformer.{hf_name}' in the GPT-2 checkpoint "
                f"(the model has {num_layers} layers)"
            )
    converted = {}
    for hf_name, our_name in names.items():
        if hf_name not in weights:
            raise ValueError(f"missing weight 'transformer.{hf_name}' in the GPT-2 checkpoint")
        tensor = weights[hf_name]
        converted[our_name] = tensor.t() if hf_name.endswith(_CONV1D_SUFFIXES) else tensor
    converted["output.weight"] = converted["token_embedding.weight"] if lm_head is None else lm_head
    return converted


def minigpt_to_gpt2(state_dict: Mapping[str, Tensor], num_layers: int) -> dict[str, Tensor]:
    """The inverse of `gpt2_to_minigpt`, in GPT2LMHeadModel's names."""
    exported = {}
    for hf_name, our_name in gpt2_name_map(num_layers).items():
        tensor = state_dict[our_name]
        tensor = tensor.t() if hf_name.endswith(_CONV1D_SUFFIXES) else tensor
        exported[f"transformer.{hf_name}"] = tensor.detach().clone().contiguous()
    exported["lm_head.weight"] = state_dict["output.weight"].detach().clone()
    return exported


def load_gpt2_source(source: str | Path | Mapping[str, Tensor]) -> tuple[dict, dict | None]:
    """Return (state dict, config.json contents or None) from any supported source."""
    if isinstance(source, Mapping):
        return dict(source), None
    path = Path(source)
    if path.is_dir():
        hf_config = None
        if (path / "config.json").is_file():
            hf_config = json.loads((path / "config.json").read_text())
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (path / name).is_file():
                return _load_weights_file(path / name), hf_config
        raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {path}")
    if path.is_file():
        return _load_weights_file(path), None
    if path.suffix in (".safetensors", ".bin", ".pt"):
        raise FileNotFoundError(f"GPT-2 checkpoint {str(source)!r} does not exist")
    return _download(str(source))  # not a local path: a model name on the Hugging Face Hub


def _load_weights_file(path: Path) -> dict[str, Tensor]:
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError as err:
            raise ImportError("reading .safetensors files needs `pip install safetensors`") from err
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def _download(model_name: str) -> tuple[dict, dict]:
    """Fetch a model such as "gpt2" or "gpt2-medium" from the Hugging Face Hub."""
    try:
        from huggingface_hub import hf_hub_download

        weights = hf_hub_download(model_name, "model.safetensors")
        config = hf_hub_download(model_name, "config.json")
    except Exception as err:  # ImportError, offline, unknown model: one clear message
        raise RuntimeError(
            f"could not download {model_name!r} from the Hugging Face Hub ({err}). Download "
            f"model.safetensors and config.json yourself and pass their folder instead."
        ) from err
    return _load_weights_file(Path(weights)), json.loads(Path(config).read_text())
