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
# # Notebook 10: MiniGPT end to end
#
# Companion to [Chapter 10, MiniGPT](../10-minigpt.md). In this notebook you will
#
# 1. compute a full forward pass by hand (embeddings, positions, blocks, final LayerNorm,
#    tied output layer) and check it against `MiniGPT`;
# 2. compute the next-token loss by hand;
# 3. train a tiny MiniGPT for 150 steps on a short text and watch the loss fall;
# 4. generate text greedily with and without the KV cache, and check both give the same
#    tokens.
#
# Each exercise has its solution in the next cell: try it first, then run the solution.

# %%
import math
import time

import torch
from torch.nn import functional as F

from minigpt import MiniGPT, MiniGPTConfig
from minigpt.sampling import sample_next_token
from minigpt.tokenization import CharTokenizer, GPT2Tokenizer

torch.set_num_threads(1)  # the matrices here are tiny: one thread is fastest
started = time.perf_counter()

# %% [markdown]
# ## 1. A forward pass by hand
#
# A small model with GPT-2's vocabulary, so that it can read the running example
# "Every moment is a beginning".

# %%
tokenizer = GPT2Tokenizer()
ids = torch.tensor([tokenizer.encode("Every moment is a beginning")])
config = MiniGPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, embed_dim=32,
                       num_heads=4, num_layers=2)
torch.manual_seed(0)
model = MiniGPT(config).eval()
print(ids, ids.shape)
print(f"{model.num_parameters():,} parameters")

# %% [markdown]
# **Exercise 1.** Using only the model's parts (`model.token_embedding`,
# `model.position_embedding`, `model.blocks`, `model.final_norm`) and one matrix product
# with the token embedding matrix (weight tying!), compute the logits for `ids`. Compare
# with `model(ids)`.

# %%
# Solution
with torch.no_grad():
    positions = torch.arange(ids.shape[1])  # 0, 1, 2, 3, 4
    x = model.token_embedding(ids) + model.position_embedding(positions)
    for block in model.blocks:
        x = block(x)  # shape in = shape out
    x = model.final_norm(x)
    # The tied output layer: a product with the token embedding matrix.
    my_logits = x @ model.token_embedding.weight.T  # (1, 5, vocab_size)
    logits, _ = model(ids)

print(my_logits.shape)
torch.testing.assert_close(my_logits, logits)
print("forward pass by hand == MiniGPT:", torch.allclose(my_logits, logits))

# %% [markdown]
# ## 2. The loss by hand
#
# **Exercise 2.** The inputs are the sequence without its last token, the targets the
# sequence without its first. Compute the mean negative log-probability of the targets from
# a `log_softmax` of the logits, compare with `model(inputs, targets)`, and with
# $\ln V$, the loss of a uniform guess over the vocabulary.

# %%
# Solution
inputs, targets = ids[:, :-1], ids[:, 1:]
with torch.no_grad():
    logits, loss = model(inputs, targets)
    log_probs = F.log_softmax(logits, dim=-1)  # (1, 4, vocab)
    my_loss = -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
torch.testing.assert_close(my_loss, loss)
print(f"loss by hand {my_loss.item():.4f}, MiniGPT {loss.item():.4f}, "
      f"ln V = {math.log(config.vocab_size):.4f}")

# %% [markdown]
# ## 3. Train a tiny model
#
# A character-level model needs no downloads and learns a short text in seconds. The text is
# small, so the model will memorise it rather than learn English: that is fine for watching
# the loss fall.

# %%
text = (
    "Every moment is a beginning. Every beginning is a promise,\n"
    "and every promise is a moment that waits for its ending.\n"
    "Every ending is a beginning too: the moment a story stops,\n"
    "another one starts. So begin again, and again, and again.\n"
)
chars = CharTokenizer.from_text(text)
data = torch.tensor(chars.encode(text))
print(f"{len(text)} characters, vocabulary of {chars.vocab_size}")

tiny_config = MiniGPTConfig(vocab_size=chars.vocab_size, block_size=32,
                            embed_dim=32, num_heads=4, num_layers=2)
torch.manual_seed(0)
tiny = MiniGPT(tiny_config)
print(f"{tiny.num_parameters():,} parameters")

# %% [markdown]
# **Exercise 3.** Write `get_batch(batch_size)`: pick `batch_size` random start positions,
# and return inputs `x` (blocks of `block_size` characters) and targets `y` (the same blocks
# shifted by one character). Then train with AdamW (learning rate 0.01) for 150 steps,
# printing the loss every 25 steps.

# %%
# Solution
generator = torch.Generator().manual_seed(0)


def get_batch(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    block = tiny_config.block_size
    starts = torch.randint(len(data) - block, (batch_size,), generator=generator)
    x = torch.stack([data[s : s + block] for s in starts])
    y = torch.stack([data[s + 1 : s + 1 + block] for s in starts])
    return x, y


optimizer = torch.optim.AdamW(tiny.parameters(), lr=1e-2)
losses = []
tiny.train()
for step in range(150):
    x, y = get_batch(16)
    _, loss = tiny(x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if step % 25 == 0 or step == 149:
        print(f"step {step:3d}  loss {loss.item():.3f}")

print(f"start: {losses[0]:.3f} (ln V = {math.log(chars.vocab_size):.3f}), "
      f"end: {losses[-1]:.3f}")
assert losses[-1] < losses[0] / 2, "the loss should fall well below its start"

# %% [markdown]
# ## 4. Generate, with and without the KV cache
#
# Greedy decoding (`temperature=0`) is deterministic, so generating with the KV cache and
# without it must give exactly the same characters. With 80 new characters after a short
# prompt, the context grows past `block_size` (32), where `generate` stops using the cache
# and recomputes the last 32 characters at each step.

# %%
tiny.eval()
prompt = torch.tensor([chars.encode("Every moment")])
with_cache = tiny.generate(prompt, 80, temperature=0, use_cache=True)
without_cache = tiny.generate(prompt, 80, temperature=0, use_cache=False)
print(chars.decode(with_cache[0].tolist()))
assert torch.equal(with_cache, without_cache)
print("with cache == without cache:", torch.equal(with_cache, without_cache))

# %% [markdown]
# **Exercise 4.** Write the generation loop yourself: crop the context to the last
# `block_size` characters, run the model, take the logits of the last position, pick the
# next id with `sample_next_token(..., temperature=0)`, append. It should reproduce
# `generate` exactly.

# %%
# Solution
context = prompt
with torch.no_grad():
    for _ in range(80):
        logits, _ = tiny(context[:, -tiny_config.block_size :])
        next_id = sample_next_token(logits[:, -1, :], temperature=0)
        context = torch.cat([context, next_id], dim=1)
assert torch.equal(context, with_cache)
print("my loop == generate:", torch.equal(context, with_cache))

# %% [markdown]
# **Exercise 5.** Sample instead of taking the most likely character: try a few temperatures
# with a fixed seed. Low temperatures stick to the memorised text; high ones drift into
# noise.

# %%
# Solution
for temperature in (0.5, 1.0, 1.5):
    generator = torch.Generator().manual_seed(0)
    sampled = tiny.generate(prompt, max_new_tokens=60, temperature=temperature,
                            generator=generator)
    print(f"T={temperature}: {chars.decode(sampled[0].tolist())!r}")

# %%
print(f"notebook ran in {time.perf_counter() - started:.1f} s")
