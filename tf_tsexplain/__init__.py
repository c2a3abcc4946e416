"""tf_tsexplain: explain TensorFlow/Keras sequence models.

Which inputs, at which time steps, and which interactions drove a prediction of a
model on inputs shaped ``(batch, time, features)``.
"""

from tf_tsexplain import plot, tables
from tf_tsexplain._batching import get_memory_budget, set_memory_budget
from tf_tsexplain._explainer import Explainer
from tf_tsexplain._validation import NotFittedError
from tf_tsexplain.path import EmbeddingExplainerTF, PathExplainerTF
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
from tf_tsexplain.tsr import TemporalSaliencyRescaling

__version__ = "0.1.0"

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
    "SequenceShap",
    "Saliency",
    "SmoothGrad",
    "TemporalSaliencyRescaling",
    "__version__",
    "get_memory_budget",
    "plot",
    "set_memory_budget",
    "tables",
]
