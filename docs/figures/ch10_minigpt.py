"""Figures of chapter 10, MiniGPT: where the parameters sit, and sampling temperature."""

from __future__ import annotations

from functools import cache
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .registry import figure
from .style import NARROW_MIN_FONT_SIZE, PALETTE, ink_on, run_summary


def _guide_models() -> dict[str, Any]:
    """The models of chapter 10's size table, as MiniGPTConfigs (character presets only when
    a committed run tells the size of Tiny Shakespeare's character vocabulary)."""
    from minigpt import MiniGPTConfig
    from minigpt.tokenization import GPT2Tokenizer
    from minigpt.training import make_config

    gpt2_vocab = GPT2Tokenizer().vocab_size
    models = {
        "tiny (ch. 10)": MiniGPTConfig(
            vocab_size=gpt2_vocab, block_size=16, embed_dim=32, num_heads=4, num_layers=2
        )
    }
    summary = run_summary("shakespeare-char-cpu")
    if summary is not None:
        char_vocab = summary["model_config"]["vocab_size"]
        for preset in ("shakespeare-char-cpu", "shakespeare-char"):
            models[preset] = make_config(preset).model_config(char_vocab)
    models["shakespeare-gpt2"] = make_config("shakespeare-gpt2").model_config(gpt2_vocab)
    models["GPT-2 small"] = MiniGPTConfig()
    return models


@figure("figures/10-parameter-breakdown.svg")
def parameter_breakdown(narrow: bool) -> Figure:
    """Where each model's parameters sit: embeddings, attention, feed-forward, LayerNorms.

    Narrow: each model's name above its bar, the legend in two columns."""
    import torch

    from minigpt import MiniGPT

    parts = {
        "token embedding = output layer (tied)": ("token_embedding.", "output."),
        "positional embedding": ("position_embedding.",),
        "attention": (".attention.",),
        "feed-forward": (".feed_forward.",),
        "LayerNorms": (".norm1.", ".norm2.", "final_norm."),
    }
    names, shares, totals = [], [], []
    for name, config in _guide_models().items():
        with torch.device("meta"):  # shapes only, no memory
            model = MiniGPT(config)
        counts = dict.fromkeys(parts, 0)
        for param_name, param in model.named_parameters():  # a tied matrix is listed once
            key = next(
                k for k, prefixes in parts.items() if any(p in f".{param_name}" for p in prefixes)
            )
            counts[key] += param.numel()
        total = model.num_parameters()
        assert sum(counts.values()) == total
        names.append(name)
        totals.append(total)
        shares.append([100 * counts[k] / total for k in parts])
    if narrow:
        fig, ax = plt.subplots(figsize=(3.6, 0.75 * len(names) + 1.3), layout="constrained")
    else:
        fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.6))
    rows = [r * (1.45 if narrow else 1) for r in range(len(names))][::-1]  # first model on top
    left = [0.0] * len(names)
    for j, (label, color) in enumerate(zip(parts, PALETTE)):
        widths = [s[j] for s in shares]
        ax.barh(rows, widths, left=left, color=color, label=label, height=0.62)
        for row, start, width in zip(rows, left, widths):
            if width >= (11 if narrow else 7):
                ax.text(
                    start + width / 2,
                    row,
                    f"{width:.0f}%",
                    ha="center",
                    va="center",
                    color=ink_on(color),
                    fontsize=NARROW_MIN_FONT_SIZE if narrow else 9,
                )
        left = [a + b for a, b in zip(left, widths)]
    described = [f"{n}{{}}{t / 1e6:.2f}M parameters" for n, t in zip(names, totals)]
    if narrow:  # the model above its bar
        ax.set_yticks([])
        for row, text in zip(rows, described):
            ax.text(0, row + 0.34, text.format(", "), va="bottom", fontsize=NARROW_MIN_FONT_SIZE)
        ax.set_ylim(-0.5, rows[0] + 0.9)
    else:
        ax.set_yticks(rows, [text.format("\n") for text in described], fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the model's parameters (%)")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if narrow:
        ax.legend(
            loc="lower left", bbox_to_anchor=(-0.02, 1.0), ncol=1, fontsize=NARROW_MIN_FONT_SIZE
        )
    else:
        ax.legend(loc="lower center", bbox_to_anchor=(0.45, 1.0), ncol=3, fontsize=9)
    return fig


# A short text for a tiny character-level model to learn in seconds (chapter 10's figure).
TINY_TEXT = (
    "Every moment is a beginning. Every beginning is a promise, and every promise is a "
    "moment that waits for its ending. Every ending is a beginning too: the moment a story "
    "stops, another one starts. So begin again, and again, and again.\n"
)


@cache
def _tiny_trained_char_model(steps: int = 120):
    """A 2-block character-level MiniGPT trained on TINY_TEXT with AdamW; (model, tokenizer)."""
    import torch

    from minigpt import MiniGPT, MiniGPTConfig
    from minigpt.data import get_batch
    from minigpt.tokenization import CharTokenizer

    tokenizer = CharTokenizer.from_text(TINY_TEXT)
    data = torch.tensor(tokenizer.encode(TINY_TEXT)).numpy()
    torch.manual_seed(0)
    config = MiniGPTConfig(
        vocab_size=tokenizer.vocab_size, block_size=32, embed_dim=32, num_heads=4, num_layers=2
    )
    model = MiniGPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads cost more than they save
    try:
        for _ in range(steps):
            x, y = get_batch(data, 16, config.block_size, generator)
            _, loss = model(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval(), tokenizer


@figure("figures/10-temperature.svg")
def temperature_distributions(narrow: bool) -> Figure:
    """Next-character probabilities of a tiny trained model at three temperatures.

    Narrow: the three temperatures one below the other."""
    import torch

    steps = 120
    model, tokenizer = _tiny_trained_char_model(steps)
    prompt = "Every moment is a "
    with torch.no_grad():
        logits = model(torch.tensor([tokenizer.encode(prompt)]))[0][0, -1]
    temperatures = (0.5, 1.0, 2.0)
    order = torch.argsort(logits, descending=True)[:12]  # the 12 most likely characters
    labels = [repr(tokenizer.decode([i]))[1:-1].replace(" ", "␣") or "?" for i in order.tolist()]
    if narrow:
        fig, axes = plt.subplots(
            len(temperatures), 1, figsize=(3.6, 7.4), sharex=True, sharey=True, layout="constrained"
        )
    else:
        fig, axes = plt.subplots(1, len(temperatures), figsize=(8.8, 3.5), sharey=True)
    for ax, temperature, color in zip(axes, temperatures, PALETTE):
        probabilities = torch.softmax(logits / temperature, dim=-1)
        ax.bar(range(len(order)), probabilities[order].numpy(), color=color)
        ax.set_xticks(range(len(order)), labels, family="monospace")
        rest = 1 - probabilities[order].sum().item()
        ax.set_title(
            f"temperature {temperature:g}{' ' if narrow else chr(10)}(other "
            f"{len(logits) - len(order)} characters: {rest:.1%})",
            fontsize=9 if narrow else 10,
        )
        ax.grid(True, axis="y")
    if narrow:
        for ax in axes:  # every panel names its characters
            ax.set_ylabel("probability")
            ax.tick_params(labelbottom=True)
        axes[-1].set_xlabel("the 12 most likely next characters")
        fig.suptitle(
            f"After the prompt {prompt!r}:\na tiny character model, {steps} training steps\n"
            f"on a {len(TINY_TEXT)}-character paragraph",
            fontsize=9,
        )
        return fig
    axes[0].set_ylabel("probability of the next character")
    fig.suptitle(
        f"After the prompt {prompt!r}: a tiny character model trained for {steps} steps "
        f"on a {len(TINY_TEXT)}-character paragraph",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
