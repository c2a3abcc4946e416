"""tf_tsexplain: explain TensorFlow/Keras sequence models.

Which inputs, at which time steps, and which interactions drove a prediction of a
model on inputs shaped ``(batch, time, features)``.

The names below are imported on first use (PEP 562), so ``import tf_tsexplain`` and
the command line's ``--help`` do not load TensorFlow; ``from tf_tsexplain import
PathExplainerTF`` works as usual. path_explain's exports are here under the same
names: ``from tf_tsexplain import PathExplainerTF, scatter_plot, summary_plot``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Explainer": "tf_tsexplain._explainer",
    "NotFittedError": "tf_tsexplain._validation",
    "get_memory_budget": "tf_tsexplain._batching",
    "set_memory_budget": "tf_tsexplain._batching",
    "EmbeddingExplainerTF": "tf_tsexplain.path",
    "PathExplainerTF": "tf_tsexplain.path",
    "split_embedding": "tf_tsexplain.path",
    "smooth_surrogate": "tf_tsexplain.smooth",
    "mask_from_lengths": "tf_tsexplain._structure",
    "FeatureAblation": "tf_tsexplain.saliency",
    "FeaturePermutation": "tf_tsexplain.saliency",
    "InputXGradient": "tf_tsexplain.saliency",
    "Occlusion": "tf_tsexplain.saliency",
    "Saliency": "tf_tsexplain.saliency",
    "SmoothGrad": "tf_tsexplain.saliency",
    "SISExplainer": "tf_tsexplain.sis",
    "SequenceShap": "tf_tsexplain.shapley",
    "TemporalSaliencyRescaling": "tf_tsexplain.tsr",
    "TimingExplainer": "tf_tsexplain.timing",
    "compare_explainers": "tf_tsexplain.metrics",
    # path_explain's plots, importable from the package as path_explain exports them
    "bar_interaction_plot": "tf_tsexplain.plot",
    "matrix_interaction_plot": "tf_tsexplain.plot",
    "scatter_plot": "tf_tsexplain.plot",
    "summary_plot": "tf_tsexplain.plot",
    "text_plot": "tf_tsexplain.plot",
}
_SUBMODULES = ("plot", "tables")

__all__ = [
    "EmbeddingExplainerTF",
    "Explainer",
    "FeatureAblation",
    "FeaturePermutation",
    "InputXGradient",
    "NotFittedError",
    "Occlusion",
    "PathExplainerTF",
    "SISExplainer",
    "Saliency",
    "SequenceShap",
    "SmoothGrad",
    "TemporalSaliencyRescaling",
    "TimingExplainer",
    "__version__",
    "bar_interaction_plot",
    "compare_explainers",
    "get_memory_budget",
    "mask_from_lengths",
    "matrix_interaction_plot",
    "plot",
    "scatter_plot",
    "set_memory_budget",
    "smooth_surrogate",
    "split_embedding",
    "summary_plot",
    "tables",
    "text_plot",
]  # = _EXPORTS, _SUBMODULES and __version__ (tested)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES or (
        not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None
    ):  # any submodule, as when this file imported them all: tf_tsexplain.sis, ...
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # static analysers and IDEs see the names directly
    from tf_tsexplain import plot, tables
    from tf_tsexplain._batching import get_memory_budget, set_memory_budget
    from tf_tsexplain._explainer import Explainer
    from tf_tsexplain._structure import mask_from_lengths
    from tf_tsexplain._validation import NotFittedError
    from tf_tsexplain.metrics import compare_explainers
    from tf_tsexplain.path import EmbeddingExplainerTF, PathExplainerTF, split_embedding
    from tf_tsexplain.plot import (
        bar_interaction_plot,
        matrix_interaction_plot,
        scatter_plot,
        summary_plot,
        text_plot,
    )
    from tf_tsexplain.saliency import (
        FeatureAblation,
        FeaturePermutation,
        InputXGradient,
        Occlusion,
        Saliency,
        SmoothGrad,
    )
    from tf_tsexplain.shapley import SequenceShap
    from tf_tsexplain.sis import SISExplainer
    from tf_tsexplain.smooth import smooth_surrogate
    from tf_tsexplain.timing import TimingExplainer
    from tf_tsexplain.tsr import TemporalSaliencyRescaling
