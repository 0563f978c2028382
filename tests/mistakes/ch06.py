"""Chapter 6: FeedForward, wrong."""

from torch import nn

from minigpt.feed_forward import FeedForward

from .registry import mistake


@mistake("feed_forward", "the tanh approximation")
class ExactGELU(FeedForward):
    def __init__(self, embed_dim, hidden_dim=None, dropout=0.0, bias=True):
        super().__init__(embed_dim, hidden_dim, dropout, bias)
        self.activation = nn.GELU()


@mistake("feed_forward", "not ReLU")
class ReLU(FeedForward):
    def __init__(self, embed_dim, hidden_dim=None, dropout=0.0, bias=True):
        super().__init__(embed_dim, hidden_dim, dropout, bias)
        self.activation = nn.ReLU()


@mistake("feed_forward", "end with nn.Dropout(dropout)")
class NoDropout(FeedForward):
    def forward(self, x):
        return self.project(self.activation(self.expand(x)))


@mistake("feed_forward", "hidden_dim=None means 4 × embed_dim")
class HiddenAsWideAsTheInput(FeedForward):
    def __init__(self, embed_dim, hidden_dim=None, dropout=0.0, bias=True):
        super().__init__(embed_dim, hidden_dim or embed_dim, dropout, bias)
