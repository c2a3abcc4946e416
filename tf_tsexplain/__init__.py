"""tf_tsexplain: explain TensorFlow/Keras sequence models.

Which inputs, at which time steps, and which interactions drove a prediction of a
model on inputs shaped ``(batch, time, features)``.
"""

from tf_tsexplain import plot, tables
from tf_tsexplain.path import EmbeddingExplainerTF, PathExplainerTF

__version__ = "0.1.0"

__all__ = ["EmbeddingExplainerTF", "PathExplainerTF", "__version__", "plot", "tables"]
