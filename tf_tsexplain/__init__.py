"""tf_tsexplain: explain TensorFlow/Keras sequence models.

Which inputs, at which time steps, and which interactions drove a prediction of a
model on inputs shaped ``(batch, time, features)``.
"""

from tf_tsexplain import plot, tables
from tf_tsexplain.path import EmbeddingExplainerTF, PathExplainerTF
from tf_tsexplain.saliency import (
    FeatureAblation,
    FeaturePermutation,
    InputXGradient,
    Occlusion,
    Saliency,
    SmoothGrad,
)
from tf_tsexplain.tsr import TemporalSaliencyRescaling

__version__ = "0.1.0"

__all__ = [
    "EmbeddingExplainerTF",
    "FeatureAblation",
    "FeaturePermutation",
    "InputXGradient",
    "Occlusion",
    "PathExplainerTF",
    "Saliency",
    "SmoothGrad",
    "TemporalSaliencyRescaling",
    "__version__",
    "plot",
    "tables",
]
