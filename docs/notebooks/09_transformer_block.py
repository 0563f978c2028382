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
# # Notebook 9: the transformer block, a worksheet
#
# Companion to [Chapter 9, Transformer block](../09-transformer-block.md). You will wire the
# parts of chapters 5 to 8 into a transformer block, predict its parameter count, and see what
# the original Transformer's post-norm arrangement changes.
#
# **How the worksheet works.** An exercise that asks for code gives you a stub with the
# package's name and signature; it raises `NotImplementedError`. Replace the `raise` lines with
# your code and run the check cell below it: `check` tests your object against `minigpt`'s own
# and prints ✓ or ✗ with a hint for each check. Every other cell uses the package's code, so
# the notebook runs from top to bottom whether or not you are done. The solutions are in the
# [chapter's exercises](../09-transformer-block.md#exercises), folded away. The same checks run
# from a terminal: `minigpt check transformer_block my_file.py`.

# %%
import torch
from torch import nn

import minigpt.transformer_block
from minigpt import MiniGPTConfig
from minigpt.exercises import check, folded
from minigpt.feed_forward import FeedForward
from minigpt.layer_norm import LayerNorm
from minigpt.multi_head_attention import MultiHeadAttention
from minigpt.residual import residual_add
from minigpt.tokenization import GPT2Tokenizer

tokens = GPT2Tokenizer().tokens("Every moment is a beginning")
config = MiniGPTConfig(vocab_size=100, block_size=16, embed_dim=16, num_heads=4, num_layers=1)
torch.manual_seed(0)
x = torch.randn(1, len(tokens), config.embed_dim)  # stands in for token + position vectors

# %% [markdown]
# ## Exercise 1 (implement): TransformerBlock
#
# Write `TransformerBlock(config)` from the package's parts, imported above: `norm1` and `norm2`
# (`LayerNorm(config.embed_dim, eps=config.layer_norm_eps, bias=config.bias)`), `attention`
# (`MultiHeadAttention` with the config's sizes, `dropout` and `bias`) and `feed_forward`
# (`FeedForward(config.embed_dim, config.hidden_dim, ...)`). `forward(x)` is pre-norm, as in
# GPT-2: `x + attention(norm1(x))`, then the same with `norm2` and `feed_forward`, each added
# with `residual_add(..., config.residual)`. The checks copy the package's weights into yours by
# those names.


# %%
class TransformerBlock(nn.Module):
    def __init__(self, config: MiniGPTConfig) -> None:
        super().__init__()
        raise NotImplementedError("the four parts")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("two residual sub-layers")


# %%
check("transformer_block", TransformerBlock)

# %% [markdown]
# ## Exercise 2 (predict): how many parameters?
#
# With $d$ = `embed_dim` and a feed-forward width of $4d$, count the parameters of one block as
# a formula in $d$, then evaluate it for GPT-2 medium, $d = 1024$, with biases and with
# `bias=False`. Run the cell and open the answer.

# %%
d, lines = 1024, []
for bias, formula in ((True, 12 * d * d + 13 * d), (False, 12 * d * d + 2 * d)):
    block = minigpt.transformer_block.TransformerBlock(
        MiniGPTConfig(embed_dim=d, num_heads=16, block_size=16, bias=bias)
    )
    counted = sum(p.numel() for p in block.parameters())
    lines.append(f"bias={bias}: {counted:,} parameters; formula {formula:,}")
folded("\n".join(lines + ["12d² + 13d with biases, 12d² + 2d without."]))

# %% [markdown]
# ## Exercise 3 (change and observe): post-norm
#
# The 2017 Transformer normalized *after* each addition: `x = norm(x + sublayer(x))`. With the
# same weights as the package's block, compare the outputs and the size of the output vectors.
# Which arrangement leaves the residual stream's scale alone?


# %%
class PostNormBlock(minigpt.transformer_block.TransformerBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(residual_add(x, self.attention(x)))
        return self.norm2(residual_add(x, self.feed_forward(x)))


pre = minigpt.transformer_block.TransformerBlock(config).eval()
post = PostNormBlock(config).eval()
post.load_state_dict(pre.state_dict())
with torch.no_grad():
    folded(
        f"same output? {torch.allclose(post(x), pre(x))}\n"
        f"norms of the output vectors, pre-norm:  {pre(x).norm(dim=-1)[0].numpy().round(2)}\n"
        f"norms of the output vectors, post-norm: {post(x).norm(dim=-1)[0].numpy().round(2)}\n\n"
        "Every output vector of a post-norm block is normalized (its norm is about sqrt(d) = 4),\n"
        "while a pre-norm block adds its updates to the stream and lets it keep its own scale."
    )

# %% [markdown]
# **Going further.** Build your block from the parts by hand, without `TransformerBlock`: the
# six steps, one line each, on `x`, and compare with `pre(x)` after copying its weights into
# your four parts: `LayerNorm`, `MultiHeadAttention` and `FeedForward` are imported above.
