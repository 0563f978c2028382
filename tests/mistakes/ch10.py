"""Chapter 10: sample_next_token and MiniGPT, wrong."""

import torch
from torch import nn
from torch.nn import functional as F

from minigpt.model import MiniGPT

from .registry import mistake


def _sample(logits, temperature=1.0, top_k=None, top_p=None, generator=None, **wrong):
    """A learner's sampler; each keyword in `wrong` switches one mistake on."""
    if temperature == 0 and not wrong.get("no_greedy"):
        return logits.argmax(dim=-1, keepdim=True)
    if wrong.get("in_place"):
        logits /= temperature
    else:
        logits = logits * temperature if wrong.get("multiply") else logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        probabilities = torch.softmax(logits, dim=-1)
        if wrong.get("unsorted"):
            cumulative = probabilities.cumsum(-1)
            logits = logits.masked_fill(cumulative - probabilities >= top_p, float("-inf"))
        else:
            sorted_p, order = torch.sort(probabilities, dim=-1, descending=True)
            cumulative = sorted_p.cumsum(-1)
            if wrong.get("drop_crossing"):
                drop = cumulative > top_p
                drop[:, 0] = False
            else:
                drop = cumulative - sorted_p >= top_p
            logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    if wrong.get("no_generator"):
        generator = None
    return torch.multinomial(probabilities, 1, generator=generator)


@mistake("sample_next_token", "temperature=0 means greedy decoding")
def divides_by_zero(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return _sample(logits, temperature, top_k, top_p, generator, no_greedy=True)


@mistake("sample_next_token", "don't multiply")
def multiplies_by_the_temperature(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return _sample(logits, temperature, top_k, top_p, generator, multiply=True)


@mistake("sample_next_token", "the token that crosses p was dropped")
def drops_the_crossing_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return _sample(logits, temperature, top_k, top_p, generator, drop_crossing=True)


@mistake("sample_next_token", "sort the probabilities")
def top_p_unsorted(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return _sample(logits, temperature, top_k, top_p, generator, unsorted=True)


@mistake("sample_next_token", "pass generator= on")
def ignores_the_generator(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return _sample(logits, temperature, top_k, top_p, generator, no_generator=True)


@mistake("sample_next_token", "logits /= temperature")
def divides_in_place(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return _sample(logits, temperature, top_k, top_p, generator, in_place=True)


@mistake("mini_gpt", "tie it to the token embedding")
class Untied(MiniGPT):
    def __init__(self, config):
        super().__init__(config)
        self.output.weight = nn.Parameter(self.token_embedding.weight.detach().clone())


class _Loss(MiniGPT):
    def forward(self, ids, targets=None):
        logits, _ = super().forward(ids)
        return logits, None if targets is None else self.loss(logits, targets)


@mistake("mini_gpt", "don't shift again", absent="ignore_index")
class ShiftsTheTargets(_Loss):
    def loss(self, logits, targets):
        return F.cross_entropy(
            logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten(), ignore_index=-1
        )


@mistake("mini_gpt", "ignore_index=-1")
class NoIgnoreIndex(_Loss):
    def loss(self, logits, targets):
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@mistake("mini_gpt", "apply final_norm before the output layer", absent="ignore_index")
class NoFinalNorm(MiniGPT):
    def forward(self, ids, targets=None):
        x = self.token_embedding(ids) + self.position_embedding(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.output(x)
        loss = (
            None
            if targets is None
            else F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        )
        return logits, loss


@mistake("mini_gpt", "add the positional embedding")
class NoPositions(MiniGPT):
    def forward(self, ids, targets=None):
        x = self.token_embedding(ids)
        for block in self.blocks:
            x = block(x)
        logits = self.output(self.final_norm(x))
        loss = (
            None
            if targets is None
            else F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1)
        )
        return logits, loss


@mistake("sample_next_token", "top_p was measured on the full distribution")
def top_p_on_the_full_distribution(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """Keeps the tokens in both sets, each chosen from the full distribution."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits / temperature
    keep = torch.ones_like(logits, dtype=torch.bool)
    if top_k is not None and top_k < logits.shape[-1]:
        keep &= logits >= torch.topk(logits, top_k, dim=-1).values[:, -1:]
    if top_p is not None and top_p < 1.0:
        probabilities, order = torch.sort(torch.softmax(logits, dim=-1), descending=True)
        drop_sorted = probabilities.cumsum(-1) - probabilities >= top_p
        keep &= ~drop_sorted.scatter(-1, order, drop_sorted)
    probabilities = torch.softmax(logits.masked_fill(~keep, float("-inf")), dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator)
