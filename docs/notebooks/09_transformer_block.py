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
# # Notebook 9: assemble a transformer block by hand
#
# Companion to [Chapter 9, Transformer block](../09-transformer-block.md). You will wire the
# parts built in chapters 5 to 8 (masked multi-head attention, the feed-forward network,
# residual additions and LayerNorm) into a transformer block, then check that it computes
# exactly what `minigpt.transformer_block.TransformerBlock` computes with the same weights.
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import torch
from torch import nn

from minigpt import MiniGPTConfig
from minigpt.feed_forward import FeedForward
from minigpt.layer_norm import LayerNorm
from minigpt.multi_head_attention import MultiHeadAttention
from minigpt.residual import residual_add
from minigpt.tokenization import GPT2Tokenizer
from minigpt.transformer_block import TransformerBlock

torch.manual_seed(0)

# %% [markdown]
# ## The input: the running example as vectors
#
# "Every moment is a beginning" is five GPT-2 tokens. A block does not care where its
# vectors come from, so random vectors stand in for token + positional embeddings here.
# `embed_dim=16` with 4 heads keeps everything small.

# %%
tokenizer = GPT2Tokenizer()
tokens = tokenizer.tokens("Every moment is a beginning")
config = MiniGPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, embed_dim=16,
                       num_heads=4, num_layers=1)
x = torch.randn(1, len(tokens), config.embed_dim)  # (batch, tokens, embed_dim)
print(tokens)
print(x.shape)

# %% [markdown]
# ## Step 1: the four parts
#
# **Exercise 1.** Create the four parts of a block for `config`: two `LayerNorm`s, a
# `MultiHeadAttention` and a `FeedForward` (all from `minigpt`). Use the attribute names
# `norm1`, `attention`, `norm2`, `feed_forward`: with the same names as `TransformerBlock`,
# the two modules will have the same `state_dict` keys and can swap weights.

# %%
# Solution
norm1 = LayerNorm(config.embed_dim)
attention = MultiHeadAttention(config.embed_dim, config.num_heads,
                               config.block_size)
norm2 = LayerNorm(config.embed_dim)
feed_forward = FeedForward(config.embed_dim, config.hidden_dim)
parts = (norm1, attention, norm2, feed_forward)
print(sum(p.numel() for part in parts for p in part.parameters()), "parameters")

# %% [markdown]
# ## Step 2: the six steps
#
# **Exercise 2.** Apply LayerNorm → masked multi-head attention → add → LayerNorm →
# feed-forward → add to `x`, one line per step. Check that the output has the input's shape.

# %%
# Solution
a = norm1(x)  # 1. normalize a copy
a = attention(a)  # 2. tokens exchange information (causally)
h = x + a  # 3. add it back onto the stream
f = norm2(h)  # 4. normalize again
f = feed_forward(f)  # 5. process each token on its own
y = h + f  # 6. add it back
assert y.shape == x.shape
print(y.shape)

# %% [markdown]
# ## Step 3: a module
#
# **Exercise 3.** Package the six steps as an `nn.Module` called `MyBlock`, with the four
# parts as attributes named as above and `residual_add` from `minigpt.residual` for the
# additions.

# %%
# Solution
class MyBlock(nn.Module):
    def __init__(self, config: MiniGPTConfig) -> None:
        super().__init__()
        self.norm1 = LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.attention = MultiHeadAttention(config.embed_dim, config.num_heads,
                                            config.block_size,
                                            dropout=config.dropout)
        self.norm2 = LayerNorm(config.embed_dim, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config.embed_dim, config.hidden_dim,
                                        dropout=config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = residual_add(x, self.attention(self.norm1(x)))
        x = residual_add(x, self.feed_forward(self.norm2(x)))
        return x


# %% [markdown]
# ## Step 4: check against `minigpt`
#
# Copy the weights of a `TransformerBlock` into `MyBlock` and compare the outputs. Because
# the attribute names match, `load_state_dict` works directly.

# %%
reference = TransformerBlock(config).eval()
mine = MyBlock(config).eval()
mine.load_state_dict(reference.state_dict())

torch.testing.assert_close(mine(x), reference(x))
print("MyBlock == TransformerBlock:", torch.equal(mine(x), reference(x)))

# %% [markdown]
# ## Step 5: the causal property
#
# **Exercise 4.** The only place where tokens meet is attention, and it is masked. Show that
# changing the last token's vector leaves the outputs for the first four tokens unchanged.

# %%
# Solution
changed = x.clone()
changed[:, -1] += 1.0
out, out_changed = mine(x), mine(changed)
torch.testing.assert_close(out_changed[:, :-1], out[:, :-1])
print("first four unchanged:", torch.allclose(out_changed[:, :-1], out[:, :-1]))
print("last changed:        ", not torch.allclose(out_changed[:, -1], out[:, -1]))

# %% [markdown]
# ## Step 6: count the parameters
#
# **Exercise 5.** With $d$ = `embed_dim` and a feed-forward width of $4d$, a block has
# $12d^2 + 13d$ parameters. Check the formula for $d = 16$, and for GPT-2 small
# ($d = 768$) using the `meta` device, which creates shapes without allocating memory.

# %%
# Solution
def block_parameters(d: int) -> int:
    return 12 * d * d + 13 * d


assert sum(p.numel() for p in mine.parameters()) == block_parameters(16)
with torch.device("meta"):
    gpt2_block = TransformerBlock(MiniGPTConfig())
assert sum(p.numel() for p in gpt2_block.parameters()) == block_parameters(768)
print(f"GPT-2 small block: {block_parameters(768):,} parameters")

# %% [markdown]
# ## Step 7: dropout is on only in training mode
#
# **Exercise 6.** Build a `MyBlock` with `dropout=0.2`, give it the same weights, and show
# that in `train()` mode two calls differ while in `eval()` mode it equals the block without
# dropout.

# %%
# Solution
dropout_config = MiniGPTConfig(**(config.to_dict() | {"dropout": 0.2}))
noisy = MyBlock(dropout_config)
noisy.load_state_dict(mine.state_dict())
noisy.train()
print("train: two calls equal?", torch.equal(noisy(x), noisy(x)))
noisy.eval()
torch.testing.assert_close(noisy(x), mine(x))
print("eval: equals the block without dropout")

# %% [markdown]
# ## Step 8 (optional): post-norm, the original Transformer's arrangement
#
# The 2017 Transformer normalized *after* each addition: `x = LN(x + sublayer(x))`. With the
# same weights it computes something different; note also that every output vector of a
# post-norm block is normalized, while a pre-norm block leaves the stream's scale alone.

# %%
class PostNormBlock(MyBlock):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(residual_add(x, self.attention(x)))
        return self.norm2(residual_add(x, self.feed_forward(x)))


post = PostNormBlock(config).eval()
post.load_state_dict(mine.state_dict())
print("post-norm == pre-norm?", torch.allclose(post(x), mine(x)))
print("output norms, pre-norm: ", mine(x).norm(dim=-1)[0].detach().numpy().round(2))
print("output norms, post-norm:", post(x).norm(dim=-1)[0].detach().numpy().round(2))

# %% [markdown]
# ## Final check
#
# A stack of four `MyBlock`s, with weights copied from four `TransformerBlock`s, matches the
# stack of `TransformerBlock`s.

# %%
torch.manual_seed(1)
reference_stack = nn.Sequential(*(TransformerBlock(config) for _ in range(4)))
reference_stack.eval()
my_stack = nn.Sequential(*(MyBlock(config) for _ in range(4))).eval()
my_stack.load_state_dict(reference_stack.state_dict())
torch.testing.assert_close(my_stack(x), reference_stack(x))
print("4 stacked blocks match:", tuple(my_stack(x).shape))
