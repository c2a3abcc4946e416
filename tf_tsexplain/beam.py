"""Deprecated: the Apache Beam runner moved to :mod:`tf_tsexplain.jobs.beam` (re-exported).

``tf_tsexplain.beam`` keeps its public names for this release and warns on import.
"""

from __future__ import annotations

import warnings

from tf_tsexplain.jobs.beam import (
    ExplainModelHandler,
    ExplainToParquet,
    local_model,
    run_pipeline,
)
from tf_tsexplain.jobs.beam_read import ReadSequences, ToBlocks, reader_shapes

__all__ = [
    "ExplainModelHandler",
    "ExplainToParquet",
    "ReadSequences",
    "ToBlocks",
    "local_model",
    "reader_shapes",
    "run_pipeline",
]

warnings.warn(
    "tf_tsexplain.beam is deprecated and will be removed in the next release: import "
    "from tf_tsexplain.jobs.beam.",
    DeprecationWarning,
    stacklevel=2,
)
