# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Notebook 10: MiniGPT end to end, a worksheet
#
# Companion to [Chapter 10, MiniGPT](../10-minigpt.md). You will write the function that picks
# each next token and the model itself, predict the loss of an untrained model, then train a
# tiny model for a few seconds and generate text from it.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../10-minigpt.md#exercises), folded away. The same checks run from a
# terminal: `minigpt check sample_next_token my_file.py`.

# %%
import math
from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

import minigpt
from minigpt import MiniGPTConfig
from minigpt.exercises import check, folded
from minigpt.layer_norm import LayerNorm
from minigpt.positional_embeddings import LearnedPositionalEmbedding
from minigpt.token_embeddings import TokenEmbedding
from minigpt.tokenization import CharTokenizer
from minigpt.transformer_block import TransformerBlock

torch.set_num_threads(1)  # the matrices here are tiny: one thread is fastest

# %% [markdown]
# ## Exercise 1 (implement): sample_next_token
#
# Write `sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None)`
# for `logits` of shape `(batch, vocab)`; it returns one id per row, shape `(batch, 1)`:
#
# * `temperature == 0` is greedy: each row's most likely id;
# * otherwise divide the logits by the temperature; with `top_k`, keep only the `k` largest
#   (every token when `k` is at least the vocabulary size); with `top_p`, keep, of the tokens
#   left, the smallest set of most likely ones whose probabilities (the softmax over what
#   `top_k` kept) add up to at least `p`;
# * sample from the softmax with `torch.multinomial(..., generator=generator)`, and leave the
#   caller's `logits` unchanged.


# %%
def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    raise NotImplementedError("one id per row")


# %%
check("sample_next_token", sample_next_token)

# %% [markdown]
# ## Exercise 2 (implement): MiniGPT
#
# Write `MiniGPT(config)` from the package's parts, imported above: `token_embedding`
# (`TokenEmbedding(config.vocab_size, config.embed_dim)`), `position_embedding`
# (`LearnedPositionalEmbedding(config.block_size, config.embed_dim)`), `blocks` (an
# `nn.ModuleList` of `config.num_layers` `TransformerBlock`s), `final_norm` (a `LayerNorm`) and
# `output` (`nn.Linear(config.embed_dim, config.vocab_size, bias=False)`) whose weight *is* the
# token embedding's. `forward(ids, targets=None)` returns `(logits, loss)`: logits of shape
# `(batch, T, vocab_size)`, and with targets the mean cross-entropy over every position,
# skipping targets of `-1`; `loss` is `None` without targets; ids longer than `block_size`
# raise an error. The checks copy the package's
# weights into yours by those names (use the defaults of this config: learned positions,
# biases, dropout 0).


# %%
class MiniGPT(nn.Module):
    def __init__(self, config: MiniGPTConfig) -> None:
        super().__init__()
        raise NotImplementedError("the parts, output tied")

    def forward(
        self, ids: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError("(logits, loss)")


# %%
check("mini_gpt", MiniGPT)

# %% [markdown]
# ## Exercise 3 (predict): the loss of an untrained model
#
# A freshly initialised model gives every token about the same probability. What loss do you
# expect for a vocabulary of $V$ tokens, as a formula, with the targets shifted by one as in
# training? And when the targets are *not* shifted, so that every position's target is its own
# input token: is the loss higher, lower or the same, and does it depend on `tie_weights`? Run
# the cell for the character vocabulary of the text below, and open the answer.

# %%
text = (
    "Every moment is a beginning. Every beginning is a promise,\n"
    "and every promise is a moment that waits for its ending.\n"
    "Every ending is a beginning too: the moment a story stops,\n"
    "another one starts. So begin again, and again, and again.\n"
)
chars = CharTokenizer.from_text(text)
data = torch.tensor(chars.encode(text))
config = MiniGPTConfig(
    vocab_size=chars.vocab_size, block_size=32, embed_dim=32, num_heads=4, num_layers=2
)
torch.manual_seed(0)
model = minigpt.MiniGPT(config)
with torch.no_grad():
    _, loss = model(data[None, :32], data[None, 1:33])
lines = [
    f"untrained loss {loss:.3f}, ln V = ln {chars.vocab_size} = {math.log(chars.vocab_size):.3f}"
]
for tie_weights in (True, False):
    torch.manual_seed(0)
    untrained = minigpt.MiniGPT(replace(config, tie_weights=tie_weights))
    with torch.no_grad():
        _, unshifted = untrained(data[None, 1:33], data[None, 1:33])
    lines.append(f"not shifted, tie_weights={tie_weights}: {unshifted:.3f}")
lines.append(
    "Tied, the residual stream still holds each input token's embedding and the output layer\n"
    "scores tokens by their dot product with it, so the input token stands out: a step-0 loss\n"
    "below ln V means the targets leak into the inputs."
)
folded("\n".join(lines))

# %% [markdown]
# ## Train a tiny model
#
# Random blocks of 32 characters, the same blocks shifted by one as targets, and AdamW for 150
# steps. The text is small, so the model memorises it rather than learning English: that is
# fine for watching the loss fall.

# %%
generator = torch.Generator().manual_seed(0)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
model.train()
for step in range(150):
    starts = torch.randint(len(data) - config.block_size, (16,), generator=generator)
    x = torch.stack([data[s : s + config.block_size] for s in starts])
    y = torch.stack([data[s + 1 : s + 1 + config.block_size] for s in starts])
    _, loss = model(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if step % 50 == 0 or step == 149:
        print(f"step {step:3d}  loss {loss.item():.3f}")

# %% [markdown]
# ## Generate
#
# Greedy decoding is deterministic, so generating with the KV cache and without it gives the
# same characters; sampling at a few temperatures shows the trade-off between sticking to the
# memorised text and drifting into noise.

# %%
model.eval()
prompt = torch.tensor([chars.encode("Every moment")])
with_cache = model.generate(prompt, 80, temperature=0, use_cache=True)
without_cache = model.generate(prompt, 80, temperature=0, use_cache=False)
print(chars.decode(with_cache[0].tolist()))
print("with cache == without cache:", torch.equal(with_cache, without_cache))
for temperature in (0.5, 1.0, 1.5):
    sampled = model.generate(
        prompt, 60, temperature=temperature, generator=torch.Generator().manual_seed(0)
    )
    print(f"T={temperature}: {chars.decode(sampled[0].tolist())!r}")

# %% [markdown]
# **Going further.** Write the generation loop yourself: crop the context to the last
# `block_size` ids, run the model, take the last position's logits, pick the next id with your
# `sample_next_token(..., temperature=0)`, append; it must reproduce `with_cache` exactly.
# `F.cross_entropy` and the parts imported above are all you need for Exercise 2.
