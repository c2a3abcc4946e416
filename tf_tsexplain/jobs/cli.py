"""The ``tf-tsexplain explain-batch`` command: parsed arguments to a job on a runner."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf_tsexplain._targets import PREDICTED
from tf_tsexplain._validation import check_int
from tf_tsexplain.jobs.local import explain_to_parquet


def run_explain_batch(args) -> dict:
    """``tf-tsexplain explain-batch``: the parsed command line to a job (local, Beam or
    Spark)."""
    spark_conf = _cli_spark_conf(args) if args.runner == "spark" else None
    if args.master is not None and args.runner != "spark":
        raise ValueError(f"--master is for --runner spark. Received: --master {args.master}.")
    options = {}
    if args.num_samples is not None:
        options["num_samples"] = check_int(args.num_samples, "--num-samples", min_val=1)
    if args.base_method is not None:
        options["base_method"] = args.base_method
    baseline = _cli_baseline(args)
    output_index = _cli_output_index(args.output_index)
    names = args.feature_names.split(",") if args.feature_names else None
    source = args.source
    parts = [part.split("=", 1) for part in source.split(",")]
    if len(parts) > 1 or "=" in source and not Path(source).exists():
        if not all(len(p) == 2 and p[0] and p[1] for p in parts):
            raise ValueError(
                f"SOURCE of a model of several inputs is NAME=PATH,NAME=PATH. Received: {source!r}."
            )
        source = dict(parts)
    padding = {"padding": args.padding} if args.padding else {}
    if args.lengths is not None:  # rows in the source's order, on either runner
        padding["lengths"] = _cli_load(args.lengths, "--lengths")
    common = {
        "method": args.method,
        "baseline": baseline,
        "output_indices": output_index,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "shard_size": args.shard_size,
        "feature_names": names,
        "safe_mode": not args.unsafe,
        **padding,
        **options,
    }
    if args.runner == "beam":
        from tf_tsexplain.jobs.beam import run_pipeline

        summary = run_pipeline(
            args.model, source, args.out, pipeline_args=list(args.pipeline_args), **common
        )
    elif args.runner == "spark":
        from tf_tsexplain.jobs.spark import run_spark

        summary = run_spark(
            args.model,
            source,
            args.out,
            resume=not args.no_resume,
            master=args.master,
            spark_conf=spark_conf,
            **common,
        )
        summary = {k: v for k, v in summary.items() if not k.startswith("worker_")}
    else:
        if args.pipeline_args:
            raise ValueError(
                "Options after '--' need --runner beam (Beam pipeline options) or --runner "
                f"spark (Spark conf). Received: {' '.join(args.pipeline_args)}."
            )
        summary = explain_to_parquet(
            args.model, source, args.out, resume=not args.no_resume, **common
        )
    print(
        " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items())
    )
    return summary


def _cli_spark_conf(args) -> dict:
    """The ``key=value`` pairs after ``--`` as Spark conf."""
    conf = {}
    for item in args.pipeline_args:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value or key.startswith("-"):
            raise ValueError(
                "With --runner spark, what follows '--' is Spark conf as key=value pairs "
                f"(e.g. spark.executor.memory=4g). Received: {item!r}."
            )
        conf[key.strip()] = value
    return conf


def _cli_load(path, flag):
    p = Path(path)
    if p.suffix != ".npy" or not p.is_file():
        raise ValueError(f"{flag} must be an existing .npy file. Received: {flag} {path}.")
    return np.load(p, mmap_mode="r", allow_pickle=False)


def _cli_baseline(args):
    if args.references is not None:
        if args.baseline not in (None, "zeros"):
            raise ValueError("Give --baseline or --references (expected gradients), not both.")
        return np.asarray(_cli_load(args.references, "--references"))
    if args.baseline in (None, "zeros"):
        return None
    return np.asarray(_cli_load(args.baseline, "--baseline"))


def _cli_output_index(text):
    if text is None or text == PREDICTED:
        return text
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--output-index must be an int, 'T,C' or 'predicted'. Received: {text!r}."
        ) from None
    return values[0] if len(values) == 1 else values
