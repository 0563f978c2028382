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


@mistake("residual_add", "residual_add(x, sublayer_output) failed; your code raised TypeError")
def calls_the_sublayer(x, sublayer_output, enabled=True):
    """Reads sublayer_output as the sub-layer itself, f, rather than its output f(x)."""
    return x + sublayer_output(x) if enabled else sublayer_output(x)
