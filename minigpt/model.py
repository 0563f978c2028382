"""Chapter 10 — MiniGPT: embeddings, a stack of transformer blocks, and an output layer."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from . import gpt2
from .config import MiniGPTConfig
from .layer_norm import LayerNorm
from .multi_head_attention import KVCache
from .positional_embeddings import LearnedPositionalEmbedding, SinusoidalPositionalEmbedding
from .sampling import check_max_new_tokens, check_sampling_options, sample_next_token
from .token_embeddings import TokenEmbedding, check_token_ids
from .transformer_block import TransformerBlock


# --8<-- [start:mini_gpt]
class MiniGPT(nn.Module):
    """A GPT-2-style language model built from the guide's components.

    token ids → token embeddings + positional embeddings → dropout → N transformer blocks
    → final LayerNorm → output layer → one logit per vocabulary entry and position.
    """

    # --8<-- [start:init]
    def __init__(self, config: MiniGPTConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embedding = TokenEmbedding(config.padded_vocab_size, config.embed_dim)
        self.token_embedding.check_ids = False  # forward checks ids against vocab_size
        positional = (
            LearnedPositionalEmbedding
            if config.positional == "learned"
            else SinusoidalPositionalEmbedding
        )
        self.position_embedding = positional(config.block_size, config.embed_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(TransformerBlock(config) for _ in range(config.num_layers))
        self.final_norm = LayerNorm(config.embed_dim, eps=config.layer_norm_eps, bias=config.bias)
        self.output = nn.Linear(config.embed_dim, config.padded_vocab_size, bias=False)
        if config.tie_weights:  # the output layer reuses the token embedding matrix
            self.output.weight = self.token_embedding.weight
        self.apply(self._init_weights)
        # The two projections that write into the residual stream start smaller, so the
        # stream's variance does not grow with depth (GPT-2's 1/sqrt(2 * num_layers) rule).
        for name, param in self.named_parameters():
            if name.endswith(("attention.output.weight", "feed_forward.project.weight")):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * config.num_layers))
        # --8<-- [end:init]

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's initialisation: weights N(0, 0.02), biases 0 (LayerNorms keep 1 and 0)."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (TokenEmbedding, LearnedPositionalEmbedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    # --8<-- [start:forward]
    def forward(
        self, ids: Tensor, targets: Tensor | None = None, kv_caches: list[KVCache] | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Logits (batch, seq_len, vocab_size) and, given targets, the cross-entropy loss.

        With `vocab_multiple > 1` the padding columns take part in the training softmax (they
        are never targets, so they learn to stay small) but are never returned.
        """
        past = kv_caches[0].length if kv_caches else 0
        self._check_input(ids, targets, past)
        positions = torch.arange(past, past + ids.shape[1], device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        x = self.dropout(x)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_caches[i] if kv_caches else None)
        logits = self.output(self.final_norm(x))
        loss = None
        if targets is not None:  # predict token t+1 from tokens ≤ t, at every position
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=-1)
        return logits[..., : self.config.vocab_size], loss  # drop padding columns, if any
        # --8<-- [end:forward]

    def _check_input(self, ids: Tensor, targets: Tensor | None, past: int) -> None:
        check_token_ids(ids, self.config.vocab_size)
        if ids.dim() != 2:
            hint = "; add a batch dimension with ids.unsqueeze(0)" if ids.dim() == 1 else ""
            raise ValueError(
                f"token ids must have shape (batch, seq_len), got shape {tuple(ids.shape)}{hint}"
            )
        if ids.shape[1] == 0:
            raise ValueError("token ids are empty: give at least one token")
        if past + ids.shape[1] > self.config.block_size:
            raise ValueError(
                f"sequence length {past + ids.shape[1]} exceeds block_size "
                f"{self.config.block_size}; crop the input to its last "
                f"{self.config.block_size} tokens"
            )
        if targets is not None:
            if not isinstance(targets, Tensor) or targets.shape != ids.shape:
                shape = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets)
                raise ValueError(
                    f"targets shape {shape} must match token ids shape {tuple(ids.shape)}"
                )
            check_token_ids(targets, self.config.vocab_size, "target", allow_ignored=True)
        # --8<-- [end:mini_gpt]

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of distinct parameters (a tied output layer counts once).

        `exclude_embeddings=True` leaves out the positional table, and the token table when
        it is not shared with the output layer: the "N" in the 6·N FLOPs-per-token rule.
        """
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= sum(p.numel() for p in self.position_embedding.parameters())
            if not self.config.tie_weights:
                total -= self.token_embedding.weight.numel()
        return total

    # --8<-- [start:generate]
    @torch.no_grad()
    def generate(
        self,
        ids: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        eot_token: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Append `max_new_tokens` sampled tokens to `ids`; returns prompt + new ids.

        `temperature=0` is greedy decoding. Generation stops early once every sequence
        has produced `eot_token` (finished sequences are padded with it).
        """
        new_tokens = list(
            self.stream(
                ids, max_new_tokens, temperature, top_k, top_p, use_cache, eot_token, generator
            )
        )
        return torch.cat([ids, *new_tokens], dim=1)
        # --8<-- [end:generate]

    # --8<-- [start:stream]
    @torch.no_grad()
    def stream(
        self,
        ids: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        eot_token: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[Tensor]:
        """Yield the next token ids (batch, 1) one step at a time.

        The model sees at most the last `block_size` tokens. With `use_cache`, the keys and
        values of earlier tokens are kept, so each step processes only the newest token;
        once the context outgrows `block_size` every position shifts, the cache no longer
        applies, and each step recomputes the last `block_size` tokens, exactly as
        `use_cache=False` does.
        """
        check_sampling_options(temperature, top_k, top_p)
        check_max_new_tokens(max_new_tokens)
        check_token_ids(ids, self.config.vocab_size)  # a clear TypeError before indexing
        self._check_input(ids[:, -self.config.block_size :] if ids.dim() == 2 else ids, None, 0)
        was_training = self.training
        self.eval()
        block_size, batch = self.config.block_size, ids.shape[0]
        # The last tokens the model may see, in a buffer filled in place: appending with
        # torch.cat would copy the whole context at every step, slower and slower.
        window = ids.new_empty(batch, 2 * block_size)
        end = min(ids.shape[1], block_size)  # window[:, :end] holds the newest tokens
        window[:, :end] = ids[:, -end:]
        length = ids.shape[1]  # tokens so far, prompt included
        caches = None
        finished = torch.zeros(batch, 1, dtype=torch.bool, device=ids.device)
        try:
            for _ in range(max_new_tokens):
                if use_cache and length <= block_size:
                    if caches is None:  # first step: run the whole prompt, fill the cache
                        caches = self.new_kv_caches(batch)
                        logits, _ = self(window[:, :end], kv_caches=caches)
                    else:  # later steps: only the newest token
                        logits, _ = self(window[:, end - 1 : end], kv_caches=caches)
                else:
                    logits, _ = self(window[:, max(end - block_size, 0) : end])
                last = logits[:, -1, :]
                next_id = sample_next_token(last, temperature, top_k, top_p, generator)
                if eot_token is not None:
                    next_id = next_id.masked_fill(finished, eot_token)
                    finished |= next_id == eot_token
                if end == window.shape[1]:  # full: keep the last block_size - 1 tokens
                    window[:, : block_size - 1] = window[:, end - block_size + 1 :].clone()
                    end = block_size - 1
                window[:, end] = next_id[:, 0]
                end, length = end + 1, length + 1
                yield next_id
                if eot_token is not None and bool(finished.all()):
                    break
        finally:
            self.train(was_training)
        # --8<-- [end:stream]

    def new_kv_caches(self, batch_size: int) -> list[KVCache]:
        """Empty key/value caches, one per block, sized for a full `block_size` context."""
        param = self.token_embedding.weight
        return [
            KVCache(
                batch_size,
                self.config.num_heads,
                self.config.block_size,
                self.config.head_dim,
                param.device,
                param.dtype,
            )
            for _ in self.blocks
        ]

    @torch.no_grad()
    def attention_maps(self, ids: Tensor) -> Tensor:
        """Attention weights of every block and head: (num_layers, batch, heads, T, T)."""
        attentions = [block.attention for block in self.blocks]
        was_training = self.training
        self.eval()
        try:
            for attention in attentions:
                attention.record_weights = True
            self(ids)
            return torch.stack([attention.attention_weights for attention in attentions])
        finally:
            for attention in attentions:
                attention.record_weights = False
                attention.attention_weights = None
            self.train(was_training)

    def load_state_dict(
        self, state_dict: Mapping[str, Tensor], strict: bool = True, assign: bool = False
    ):
        """Like `nn.Module.load_state_dict`, but a strict load names the first bad key."""
        if strict:
            check_state_dict(self, state_dict)
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @classmethod
    def from_gpt2(cls, source: str | Path | Mapping[str, Tensor], **overrides) -> MiniGPT:
        """Build a MiniGPT from GPT-2 weights in Hugging Face `GPT2LMHeadModel` names.

        `source` is a state dict, a `.safetensors`/`.bin` file, a folder holding one (and
        config.json), or a Hub model name such as "gpt2" (needs a network connection).
        `overrides` set other config fields, e.g. `dropout=0.1`.
        """
        state_dict, hf_config = gpt2.load_gpt2_source(source)
        config = gpt2.config_from_gpt2(state_dict, hf_config, **overrides)
        model = cls(config)
        model.load_state_dict(gpt2.gpt2_to_minigpt(state_dict, config.num_layers))
        return model

    def to_gpt2_state_dict(self) -> dict[str, Tensor]:
        """The weights in Hugging Face `GPT2LMHeadModel` names (Conv1D layout)."""
        c = self.config
        if c.positional != "learned" or not c.bias or not c.residual:
            raise ValueError(
                "only GPT-2-shaped models (learned positions, biases, residual "
                "connections) can be exported to GPT-2 names"
            )
        return gpt2.minigpt_to_gpt2(self.state_dict(), c.num_layers)


def check_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor]) -> None:
    """Raise a ValueError naming the first missing, unexpected or mis-shaped weight."""
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state_dict:
            raise ValueError(f"state dict is missing weight {name!r} (shape {tuple(tensor.shape)})")
        given = state_dict[name]
        if tuple(given.shape) != tuple(tensor.shape):
            raise ValueError(
                f"weight {name!r} has shape {tuple(given.shape)}, the model "
                f"expects {tuple(tensor.shape)}"
            )
    for name in state_dict:
        if name not in expected:
            raise ValueError(f"state dict has unexpected weight {name!r}")
