"""Chapter 8: LayerNorm, wrong."""

import torch

from minigpt.layer_norm import LayerNorm, RMSNorm

from .registry import mistake


def _affine(module, normalized):
    out = normalized * module.weight
    return out + module.bias if module.bias is not None else out


@mistake("layer_norm", "the variance divides by n − 1")
class UnbiasedVariance(LayerNorm):
    def forward(self, x):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True)  # unbiased by default
        return _affine(self, (x - mean) / torch.sqrt(var + self.eps))


@mistake("layer_norm", "ε goes under the square root")
class EpsilonOutsideTheRoot(LayerNorm):
    def forward(self, x):
        mean, std = x.mean(-1, keepdim=True), x.std(-1, keepdim=True, unbiased=False)
        return _affine(self, (x - mean) / (std + self.eps))


@mistake("layer_norm", "over the wrong dimension")
class StatisticsOverTheBatch(LayerNorm):
    def forward(self, x):
        mean, var = x.mean(0, keepdim=True), x.var(0, keepdim=True, unbiased=False)
        return _affine(self, (x - mean) / torch.sqrt(var + self.eps))


@mistake("layer_norm", "use self.eps, not a fixed 1e-5")
class FixedEpsilon(LayerNorm):
    def forward(self, x):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return _affine(self, (x - mean) / torch.sqrt(var + 1e-5))


@mistake("layer_norm", "keep self.bias = None")
class AlwaysABias(LayerNorm):
    def __init__(self, dim, eps=1e-5, bias=True):
        super().__init__(dim, eps, bias=True)


@mistake("rms_norm", "the mean was subtracted")
class RMSNormThatCentres(RMSNorm):
    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@mistake("rms_norm", "ε goes under the square root")
class RMSNormEpsilonOutside(RMSNorm):
    def forward(self, x):
        return x / (x.pow(2).mean(-1, keepdim=True).sqrt() + self.eps) * self.weight


@mistake("rms_norm", "not the sum")
class RootOfTheSum(RMSNorm):
    def forward(self, x):
        return x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + self.eps) * self.weight
