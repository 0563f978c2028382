"""Chapter 7: residual_add, wrong."""

from .registry import mistake


@mistake("residual_add", "enabled=False still adds x")
def always_adds(x, sublayer_output, enabled=True):
    return x + sublayer_output


@mistake("residual_add", "x changed")
def adds_in_place(x, sublayer_output, enabled=True):
    if not enabled:
        return sublayer_output
    x += sublayer_output
    return x


@mistake("residual_add", "enabled=False returned x")
def keeps_the_input_when_disabled(x, sublayer_output, enabled=True):
    return x + sublayer_output if enabled else x
