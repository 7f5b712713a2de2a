"""Chapter 2's softmax-scale slider: a query's weights over its keys for any divisor.

:class:`SoftmaxScale` is a Jupyter widget (anywidget) whose front end,
``assets/softmax_scale.js``, draws ``softmax(scores / divide_by)`` as bars with the
uniform weight dotted, under a slider over ``divide_by`` (powers of two). The drawing
lives in the browser, so the static book's page, which stores the widget's state,
redraws at every move of the slider with no kernel; in a kernel ``widget.divide_by``
reads or sets it::

    SoftmaxScale(scores[typical].tolist(), divide_by=math.sqrt(512))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources

import anywidget
import traitlets

ASSETS = resources.files("bertedu.viz") / "assets"


class SoftmaxScale(anywidget.AnyWidget):
    """Bars of ``softmax(scores / divide_by)``; a slider moves ``divide_by`` over powers of 2.

    The slider runs from ``2**min_exponent`` to ``2**max_exponent`` in steps of
    ``step`` in the exponent; ``divide_by`` is kept inside that range.
    """

    _esm = (ASSETS / "softmax_scale.js").read_text(encoding="utf-8")
    _css = (ASSETS / "softmax_scale.css").read_text(encoding="utf-8")

    scores = traitlets.List(traitlets.Float()).tag(sync=True)
    divide_by = traitlets.Float(1.0).tag(sync=True)
    min_exponent = traitlets.Float(0.0).tag(sync=True)
    max_exponent = traitlets.Float(8.0).tag(sync=True)
    step = traitlets.Float(0.25).tag(sync=True)

    def __init__(self, scores: Sequence[float], *, divide_by: float = 1.0, **range_: float):
        if len(scores) < 2:
            raise ValueError(f"SoftmaxScale needs at least two scores, got {len(scores)}.")
        super().__init__(scores=[float(s) for s in scores], **range_)
        self.divide_by = divide_by

    @traitlets.validate("divide_by")
    def _in_range(self, proposal: dict) -> float:
        value = float(proposal["value"])
        if not value > 0:
            raise traitlets.TraitError(f"divide_by must be positive, got {value}.")
        low, high = 2.0**self.min_exponent, 2.0**self.max_exponent
        return min(max(value, low), high)

    def weights(self) -> list[float]:
        """The weights the page draws for the current ``divide_by``."""
        scaled = [s / self.divide_by for s in self.scores]
        top = max(scaled)
        exps = [math.exp(s - top) for s in scaled]
        return [e / sum(exps) for e in exps]
