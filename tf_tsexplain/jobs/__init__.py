"""Batch explanation jobs: sequences from a source, attributions to a Parquet layout.

Shared pieces, used by every runner:

- :mod:`~tf_tsexplain.jobs.sources`: where samples come from (arrays, ``.npy``,
  Parquet tidy or wide, TFRecord, ``tf.data``), behind one :class:`Source` interface.
- :mod:`~tf_tsexplain.jobs.layout`: the output layout (schemas, shard names, atomic
  writes, the job's settings) and its readers :func:`read_attributions`,
  :func:`read_instances`, :func:`load_attributions`.
- :mod:`~tf_tsexplain.jobs.explainer`: :class:`JobExplainer` and the method table
  (:data:`METHODS`).

One module per runner, each depending on the shared pieces only:
:mod:`~tf_tsexplain.jobs.local` (:func:`explain_to_parquet`, on this machine),
:mod:`~tf_tsexplain.jobs.beam` (Apache Beam, extra ``beam``) and
:mod:`~tf_tsexplain.jobs.spark` (Apache Spark, extra ``spark``: :func:`run_spark`,
:func:`explain_dataframe`, exported here; pyspark is imported only when they run).
The Beam runner is imported from its module.

The names below are imported on first use, so that reading a job's output
(``from tf_tsexplain.jobs.layout import load_attributions``) does not load TensorFlow.
"""

from __future__ import annotations

import importlib

# public name -> the module that defines it
_EXPORTS = {
    "ATTRIBUTIONS_DIR": "tf_tsexplain.jobs.layout",
    "DEFAULT_SHARD_SIZE": "tf_tsexplain.jobs.layout",
    "INSTANCES_DIR": "tf_tsexplain.jobs.layout",
    "JOB_FILE": "tf_tsexplain.jobs.layout",
    "attribution_schema": "tf_tsexplain.jobs.layout",
    "instance_schema": "tf_tsexplain.jobs.layout",
    "load_attributions": "tf_tsexplain.jobs.layout",
    "read_attributions": "tf_tsexplain.jobs.layout",
    "read_instances": "tf_tsexplain.jobs.layout",
    "INPUT_NAME": "tf_tsexplain.jobs.names",
    "Block": "tf_tsexplain.jobs.sources",
    "Source": "tf_tsexplain.jobs.sources",
    "open_source": "tf_tsexplain.jobs.sources",
    "write_tfrecord": "tf_tsexplain.jobs.sources",
    "METHODS": "tf_tsexplain.jobs.explainer",
    "METHOD_NAMES": "tf_tsexplain.jobs.explainer",
    "JobExplainer": "tf_tsexplain.jobs.explainer",
    "explain_to_parquet": "tf_tsexplain.jobs.local",
    "run_spark": "tf_tsexplain.jobs.spark",
    "explain_dataframe": "tf_tsexplain.jobs.spark",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'tf_tsexplain.jobs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
