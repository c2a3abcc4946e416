"""Deprecated: batch jobs moved to :mod:`tf_tsexplain.jobs` (this module re-exports them).

``tf_tsexplain.batch`` keeps its public names for this release and warns on import;
import them from :mod:`tf_tsexplain.jobs` (or its modules: ``jobs.layout`` for the
output and its readers, ``jobs.sources``, ``jobs.explainer``, ``jobs.local``).
"""

from __future__ import annotations

import warnings

from tf_tsexplain.jobs.arrow import id_type_of
from tf_tsexplain.jobs.cli import run_explain_batch
from tf_tsexplain.jobs.explainer import (
    METHOD_NAMES,
    METHODS,
    JobExplainer,
    check_method,
    is_export_dir,
)
from tf_tsexplain.jobs.fingerprints import model_fingerprint
from tf_tsexplain.jobs.layout import (
    ATTRIBUTIONS_DIR,
    DEFAULT_SHARD_SIZE,
    INSTANCE_COLUMNS,
    INSTANCES_DIR,
    JOB_FILE,
    attribution_schema,
    instance_schema,
    job_settings,
    length_columns,
    load_attributions,
    prepare_out_dir,
    read_attributions,
    read_instances,
    result_files,
    shard_tables,
)
from tf_tsexplain.jobs.local import explain_to_parquet
from tf_tsexplain.jobs.names import INPUT_NAME
from tf_tsexplain.jobs.padding import block_masks, padding_masks
from tf_tsexplain.jobs.sources import (
    ArraySource,
    Block,
    DatasetSource,
    InputsSource,
    NpySource,
    ParquetSource,
    Source,
    TFRecordSource,
    block_from_records,
    check_names_subset,
    check_npy,
    feature_names_for,
    npy_header,
    open_source,
    parquet_layout,
    parse_sequence_example,
    sequence_list,
    tidy_columns,
    tidy_first_sample,
    tidy_to_sequences,
    wide_fields,
    wide_to_inputs,
    write_tfrecord,
)

__all__ = [
    "ATTRIBUTIONS_DIR",
    "DEFAULT_SHARD_SIZE",
    "INPUT_NAME",
    "INSTANCES_DIR",
    "INSTANCE_COLUMNS",
    "JOB_FILE",
    "METHODS",
    "METHOD_NAMES",
    "ArraySource",
    "Block",
    "DatasetSource",
    "InputsSource",
    "JobExplainer",
    "NpySource",
    "ParquetSource",
    "Source",
    "TFRecordSource",
    "attribution_schema",
    "block_from_records",
    "block_masks",
    "check_method",
    "check_names_subset",
    "check_npy",
    "explain_to_parquet",
    "feature_names_for",
    "id_type_of",
    "instance_schema",
    "is_export_dir",
    "job_settings",
    "length_columns",
    "load_attributions",
    "model_fingerprint",
    "npy_header",
    "open_source",
    "padding_masks",
    "parquet_layout",
    "parse_sequence_example",
    "prepare_out_dir",
    "read_attributions",
    "read_instances",
    "result_files",
    "run_explain_batch",
    "sequence_list",
    "shard_tables",
    "tidy_columns",
    "tidy_first_sample",
    "tidy_to_sequences",
    "wide_fields",
    "wide_to_inputs",
    "write_tfrecord",
]

warnings.warn(
    "tf_tsexplain.batch is deprecated and will be removed in the next release: import "
    "from tf_tsexplain.jobs (readers: tf_tsexplain.jobs.layout).",
    DeprecationWarning,
    stacklevel=2,
)
