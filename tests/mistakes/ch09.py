"""Chapter 9: TransformerBlock, wrong."""

from minigpt.transformer_block import TransformerBlock

from .registry import mistake


@mistake("transformer_block", "this is post-norm")
class PostNorm(TransformerBlock):
    def forward(self, x):
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.feed_forward(x))


@mistake("transformer_block", "the residual stream itself was normalized")
class NormalizesTheStream(TransformerBlock):
    def forward(self, x):
        x = self.norm1(x)
        x = x + self.attention(x)
        x = self.norm2(x)
        return x + self.feed_forward(x)


@mistake("transformer_block", "the feed-forward sub-layer has no residual connection")
class NoSecondResidual(TransformerBlock):
    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return self.feed_forward(self.norm2(x))


@mistake("transformer_block", "residual_add(x, ..., config.residual)")
class IgnoresConfigResidual(TransformerBlock):
    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


@mistake("transformer_block", "pass bias=config.bias")
class IgnoresConfigBias(TransformerBlock):
    def __init__(self, config):
        super().__init__(type(config)(**(config.to_dict() | {"bias": True})))


@mistake("transformer_block", "reads norm1 again")
class SharedNorm(TransformerBlock):
    """Has norm2 but normalizes both sub-layers' inputs with norm1."""

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm1(x))
