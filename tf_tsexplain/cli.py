"""The ``tf-tsexplain`` command line.

- ``tf-tsexplain demo --out DIR`` trains a small Keras LSTM on synthetic sequences
  with a known ground truth, explains some of its predictions and writes the results
  (:func:`tf_tsexplain.demo.run_demo`).
- ``tf-tsexplain explain MODEL INPUTS --out DIR`` explains a saved model (SavedModel
  directory or ``.keras`` file) on inputs from a ``.npy`` or ``.csv`` file; a model
  with several inputs takes ``--input NAME=PATH.npy`` per input (or one ``.npz``
  with an array per input name), and padded sequences ``--padding-mask`` or
  ``--lengths`` with ``--padding``.
- ``tf-tsexplain export MODEL EXPORT_DIR`` writes a SavedModel with an ``explain``
  signature next to ``serving_default``, for TF Serving.
- ``tf-tsexplain report JOB_DIR --out report.html`` writes the HTML report of a batch
  job's output (:func:`tf_tsexplain.report.report_from_job`).
- ``tf-tsexplain evaluate MODEL INPUTS --methods ig,eg,saliency --out DIR`` compares
  explainers on the model by faithfulness metrics (no ground truth needed) and writes
  the table, the curves and their plot (:func:`run_evaluate`).

Errors in what the user gave (paths, names, shapes) end the command with a one-line
message and exit status 1, without a traceback; usage errors (a missing or unknown
argument) with a one-line message and exit status 2. Nothing from the command line or
the input files is evaluated as code.

The command is quick and quiet: ``--help``, usage errors and the checks of paths and
numbers run before TensorFlow is imported (a command calls ``_import_tensorflow`` only
once its cheap checks passed), and TensorFlow's C++ logging is silenced unless
``--verbose`` is given (``TF_CPP_MIN_LOG_LEVEL`` is left as the user set it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line: ``prog: error: message (see prog --help)``."""

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


VERBOSE_HELP = (
    "show TensorFlow's C++ log messages (silenced by default; TF_CPP_MIN_LOG_LEVEL, "
    "when set, is always respected)"
)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tf-tsexplain",
        description="Explain TensorFlow/Keras sequence models: which inputs, at which time "
        "steps, and which interactions drove a prediction.",
    )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    demo = sub.add_parser(
        "demo",
        help="train a small LSTM on synthetic data and explain it",
        description="Train a small Keras LSTM on synthetic sequences whose relevant cells are "
        "known, explain test predictions with integrated and expected gradients, temporal "
        "saliency rescaling of the integrated gradients, the sufficient input subsets and "
        "the dynamic mask of one sequence, and write the attributions (.npy, tidy .csv) and "
        "plots (.png) into --out. Takes well under two minutes on 2 CPU cores.",
    )
    _add_verbose(demo)
    demo.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--epochs", type=int, default=25, help="training epochs (default: 25)")
    demo.add_argument(
        "--n-explain", type=int, default=8, help="test sequences to explain (default: 8)"
    )
    _add_explain_parser(sub)
    _add_export_parser(sub)
    _add_explain_batch_parser(sub)
    _add_report_parser(sub)
    _add_evaluate_parser(sub)
    return parser


def _add_verbose(parser) -> None:
    """``--verbose`` also after the command (``tf-tsexplain explain ... --verbose``)."""
    parser.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
    )


SAFETY_NOTE = (
    "Model files are code: .keras files are loaded with Keras safe mode, which refuses "
    "Lambda layers holding Python code; pass --unsafe only for files you trust. "
    "SavedModels run TensorFlow graphs, not Python."
)


def _add_model_arguments(parser) -> None:
    _add_verbose(parser)
    parser.add_argument("model", metavar="MODEL", help="a SavedModel directory or a .keras file")
    parser.add_argument(
        "--method",
        default="integrated_gradients",
        choices=("integrated_gradients", "expected_gradients", "saliency"),
        help="attribution method (default: integrated_gradients)",
    )
    parser.add_argument(
        "--baseline",
        default="zeros",
        help="integrated gradients / saliency: 'zeros' (default), 'mean' (mean of the "
        "references, or of the inputs) or a .npy file of shape (T, F); for a model with "
        "several inputs a .npz file with one baseline per input name",
    )
    parser.add_argument(
        "--references",
        help="expected gradients: .npy file of reference sequences (R, T, F), e.g. a few "
        "hundred training sequences (required for that method); for a model with several "
        "inputs a .npz file with the references of each input name (same R)",
    )
    parser.add_argument(
        "--num-samples",
        type=int,
        default=64,
        help="path points per input (default: 64; ignored for saliency)",
    )
    parser.add_argument(
        "--output-index",
        default=None,
        help="output to explain: an int (class or output unit), 'T,C' for sequence "
        "outputs (time step, class), or 'predicted' (the arg-max class of each input); "
        "default: the model's only output",
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="rows per model call (default: 256)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--signature",
        default="serving_default",
        help="SavedModel signature to explain (default: serving_default)",
    )
    parser.add_argument("--input-name", help="signature input, if it has several")
    parser.add_argument("--output-name", help="signature output, if it has several")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="load .keras files without safe mode (runs Python code stored in the file)",
    )


def _add_explain_parser(sub) -> None:
    explain = sub.add_parser(
        "explain",
        help="explain a saved model on inputs from a .npy or .csv file",
        description="Explain the predictions of a saved model (SavedModel directory or "
        ".keras file) on the sequences in INPUTS and write into --out: "
        "attributions.npy (N, T, F), attributions.csv (tidy: sample, time, feature, "
        "attribution, value), instances.csv (per input: explained output, prediction, "
        "baseline prediction, approximation error) and heatmap_<i>.png for the samples "
        "chosen with --plot. " + SAFETY_NOTE,
        epilog="INPUTS: a .npy array (N, T, F), or (T, F) for one sequence; or a .csv "
        "file either tidy (columns sample, time, feature, value) or wide (one sequence: "
        "one row per time step, one numeric column per feature, header = feature "
        "names).  Example: tf-tsexplain explain model.keras x_test.npy --out expl "
        "--output-index predicted --plot 0,1.  A model with several inputs (e.g. a "
        "sequence and static covariates): --input sequence=x_seq.npy --input "
        "static=x_static.npy (the model's input names), or INPUTS = one .npz file with "
        "an array per input name; the results are then written per input "
        "(attributions_<name>.npy, attributions_<name>.csv).",
    )
    _add_model_arguments(explain)
    explain.add_argument(
        "inputs",
        metavar="INPUTS",
        nargs="?",
        help="a .npy or .csv file of sequences, or a .npz file with an array per input name",
    )
    explain.add_argument(
        "--input",
        dest="named_inputs",
        action="append",
        metavar="NAME=PATH",
        help="one input of a model with several inputs: its name and a .npy file "
        "(repeat for every input; instead of INPUTS)",
    )
    explain.add_argument(
        "--padding-mask",
        metavar="PATH",
        help="padded sequences: .npy file of booleans (N, T), True on real steps (for "
        "every sequence input of T steps)",
    )
    explain.add_argument(
        "--lengths",
        metavar="PATH",
        help="padded sequences: .npy file of the N sequence lengths (instead of --padding-mask)",
    )
    explain.add_argument(
        "--padding",
        choices=("pre", "post"),
        help="with --lengths: where the padding is, 'post' (real steps first; default) or "
        "'pre' (real steps last, the default of keras.utils.pad_sequences)",
    )
    explain.add_argument("--out", required=True, help="output folder (created if needed)")
    explain.add_argument(
        "--plot",
        default="0",
        help="samples to draw a heatmap for: comma-separated indices, 'all' or 'none' (default: 0)",
    )
    explain.add_argument(
        "--feature-names",
        action="append",
        help="comma-separated feature names; with several inputs NAME=a,b,c (repeat per input)",
    )
    explain.add_argument(
        "--allow-nonfinite", action="store_true", help="accept NaN/Inf input values"
    )


def _add_export_parser(sub) -> None:
    export = sub.add_parser(
        "export",
        help="write a SavedModel with an 'explain' signature for TF Serving",
        description="Write a SavedModel to EXPORT_DIR with two signatures: "
        "serving_default (the model's predictions, unchanged) and explain (predictions, "
        "attributions shaped like the inputs, baseline prediction and approximation "
        "error per instance). Serve it with TF Serving and request "
        '{"signature_name": "explain", "instances": [...]}. ' + SAFETY_NOTE,
        epilog="Example: tf-tsexplain export model.keras exported/1 --method "
        "integrated_gradients --output-index predicted",
    )
    _add_model_arguments(export)
    export.add_argument("export_dir", metavar="EXPORT_DIR", help="new directory for the SavedModel")
    export.add_argument(
        "--overwrite", action="store_true", help="replace EXPORT_DIR if it is not empty"
    )
    export.add_argument(
        "--padding-mask-input",
        nargs="?",
        const=True,
        default=False,
        metavar="INPUT",
        help="add the explain input padding_mask, bool (batch, T), True on real steps, "
        "for padded sequences of a model without a Masking layer (applied to every "
        "sequence input, or to INPUT only)",
    )


def _add_explain_batch_parser(sub) -> None:
    job = sub.add_parser(
        "explain-batch",
        usage="tf-tsexplain explain-batch MODEL SOURCE --out DIR [options] "
        "[-- BEAM_OPTIONS | -- SPARK_KEY=VALUE ...]",
        help="explain every sequence of a large source into a Parquet dataset",
        description="Explain every sequence of SOURCE, shard by shard, into --out: "
        "attributions/*.parquet (sample, time, feature, attribution, value) and "
        "instances/*.parquet (explained index, f(x), f(baseline), approximation error), "
        "with memory bounded by --shard-size. A local job resumes where it stopped. " + SAFETY_NOTE,
        epilog="SOURCE: a .npy file (N, T, F) (memory-mapped), a Parquet file or directory "
        "(tidy sample, time, feature, value, or one row per sequence), or TFRecord files; "
        "globs match several files; a model of several inputs takes NAME=PATH,NAME=PATH. "
        "Beam options follow '--', e.g. tf-tsexplain "
        "explain-batch model.keras 'x-*.npy' --out expl --runner beam -- "
        "--direct_num_workers=2 --direct_running_mode=multi_processing. With --runner spark, "
        "what follows '--' is Spark conf, key=value pairs, e.g. --runner spark --master "
        "local[2] -- spark.executor.memory=4g",
    )
    job.add_argument("model", metavar="MODEL", help="a .keras file, SavedModel or export directory")
    job.add_argument("source", metavar="SOURCE", help="sequences: .npy, Parquet or TFRecord")
    job.add_argument("--out", required=True, help="output directory of the job")
    job.add_argument(
        "--method",
        default=None,
        help="integrated_gradients (default), expected_gradients, saliency, input_x_gradient, "
        "smoothgrad, occlusion, feature_ablation, feature_permutation, timing, contralsp or tsr",
    )
    job.add_argument("--base-method", help="tsr: the method it rescales (default: IG)")
    job.add_argument("--baseline", help="a .npy file (T, F) (default: zeros)")
    job.add_argument("--references", help="expected gradients: a .npy file (R, T, F)")
    job.add_argument("--num-samples", type=int, help="path points or noisy samples per input")
    job.add_argument("--output-index", help="an int, 'T,C' or 'predicted'")
    job.add_argument("--batch-size", type=int, help="model rows per call (default: automatic)")
    job.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    job.add_argument(
        "--shard-size", type=int, default=10_000, help="sequences per output file (default 10000)"
    )
    job.add_argument("--feature-names", help="comma-separated feature names")
    job.add_argument("--lengths", help="a .npy file (N,) of real steps per padded sequence")
    job.add_argument("--padding", choices=("pre", "post"), help="side of padding (default post)")
    job.add_argument("--runner", choices=("local", "beam", "spark"), default="local")
    job.add_argument(
        "--master", help="--runner spark: the Spark master, e.g. local[2], yarn (default local[*])"
    )
    job.add_argument("--no-resume", action="store_true", help="refuse an existing job directory")
    job.add_argument("--unsafe", action="store_true", help="load .keras files without safe mode")
    _add_verbose(job)


def _explain_batch_command(args) -> None:
    _import_tensorflow(args)  # quietly, unless --verbose
    from tf_tsexplain.jobs.cli import run_explain_batch

    run_explain_batch(args)


def _add_report_parser(sub) -> None:
    report = sub.add_parser(
        "report",
        help="write the HTML report of a batch job (one file, opens offline)",
        description="Write one self-contained HTML file of the output of explain-batch "
        "(local, Beam or Spark): header, sortable instance table, a detail view per "
        "sequence (time x feature heat map with zoom, hover, totals) and a global view. "
        "It needs no network or server to open.",
    )
    report.add_argument("job_dir", metavar="JOB_DIR", help="the job's output directory")
    report.add_argument("--out", default="report.html", help="the HTML file (default report.html)")
    report.add_argument(
        "--max-sequences",
        type=int,
        default=100,
        help="most sequences with a detail view, those of largest |f(x)| (default 100)",
    )
    report.add_argument("--ids", help="comma-separated sample ids to show in detail instead")
    report.add_argument("--title", help="the page title (default: method and sequence count)")
    _add_verbose(report)


def run_report(args) -> dict:
    """``tf-tsexplain report``: a job directory to one HTML file; prints its name and size."""
    _check_numbers(args, ("max_sequences", 1))
    from tf_tsexplain.report.job import check_job_dir

    check_job_dir(args.job_dir)  # before the report's imports (Plotly, pandas)
    ids = None
    if args.ids is not None:
        ids = [v.strip() for v in args.ids.split(",") if v.strip()]  # matched by their text
    from tf_tsexplain.report import report_from_job  # no TensorFlow: the readers are pyarrow

    try:
        info = report_from_job(
            args.job_dir,
            args.out,
            max_sequences=args.max_sequences,
            detail_ids=ids,
            title=args.title,
        )
    except ImportError as err:  # Plotly missing: one line, as every user error
        raise ValueError(str(err)) from None
    size = info["bytes"]
    shown = f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"
    print(
        f"wrote {info['path']} ({shown}; {info['sequences']:,} sequences, "
        f"{len(info['detail']):,} in detail)"
    )
    return info


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tf-tsexplain`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_options = []  # explain-batch: what follows '--' goes to Beam (or Spark conf) as it is
    if argv[:1] == ["explain-batch"] and "--" in argv:
        split = argv.index("--")
        argv, beam_options = argv[:split], argv[split + 1 :]
    args = _build_parser().parse_args(argv)
    if args.command == "explain-batch":
        args.pipeline_args = beam_options
    commands = {
        "demo": _demo_command,
        "explain": run_explain,
        "export": run_export,
        "explain-batch": _explain_batch_command,
        "report": run_report,
        "evaluate": run_evaluate,
    }
    try:
        commands[args.command](args)
    except (ValueError, TypeError, OSError, KeyError) as err:
        message = " ".join(str(err).split())  # one line, whatever the exception held
        print(f"tf-tsexplain {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


def _import_tensorflow(args) -> None:
    """Import TensorFlow, quietly unless ``--verbose``.

    Without ``--verbose``, ``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 (no C++ log lines)
    and the lines TensorFlow's libraries print while they load (before their logging
    reads that variable, e.g. about CUDA drivers) are discarded by pointing file
    descriptor 2 at /dev/null for the duration of the import. A variable the user set
    is left as it is. Python errors raised by the import are reported as usual.
    """
    if "tensorflow" in sys.modules:
        return
    if getattr(args, "verbose", False):
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    tf.get_logger().setLevel("ERROR")  # Python-side warnings of TensorFlow


def _check_numbers(args, *minimums: tuple[str, int]) -> None:
    """Check integer options against their minimums, naming them as typed (--num-samples)."""
    from tf_tsexplain._validation import check_int  # numpy only: not needed for --help

    for name, low in minimums:
        flag = "--" + name.replace("_", "-")
        check_int(getattr(args, name), flag, min_val=low)


def _demo_command(args) -> None:
    _check_numbers(args, ("epochs", 1), ("n_explain", 1), ("seed", 0))
    _import_tensorflow(args)
    from tf_tsexplain.demo import run_demo

    run_demo(Path(args.out), seed=args.seed, epochs=args.epochs, n_explain=args.n_explain)


def _parse_output_index(text):
    """'3' -> 3, '4,1' -> (4, 1), 'predicted' -> 'predicted', None -> None."""
    if text is None or text == "predicted":
        return text
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"--output-index must be an int, 'T,C' or 'predicted'; got {text!r}."
        ) from None
    return values[0] if len(values) == 1 else values


def _load_array(path: str, what: str):
    """A .npy file as a numpy array (no pickled objects: they could run code)."""
    import numpy as np

    p = Path(path)
    if p.suffix != ".npy":
        raise ValueError(f"{what} must be a .npy file; got {path!r}.")
    if not p.is_file():
        raise ValueError(f"{what} file {path!r} does not exist.")
    try:
        return np.load(p, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"cannot read {what} {path!r}: {err}") from None


def _load_arrays(path: str, what: str) -> dict:
    """A .npz file as a dict of numpy arrays by name (no pickled objects)."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} file {path!r} does not exist.")
    try:
        with np.load(p, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (ValueError, OSError) as err:
        raise ValueError(f"cannot read {what} {path!r}: {err}") from None


def _named_paths(entries: list[str]) -> dict[str, str]:
    """``--input NAME=PATH`` entries as ``{name: path}``, checked without TensorFlow."""
    paths: dict[str, str] = {}
    for entry in entries:
        name, sep, path = entry.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise ValueError(f"--input must be NAME=PATH.npy; got {entry!r}.")
        if name in paths:
            raise ValueError(f"--input {name!r} is given twice.")
        if Path(path).suffix != ".npy":
            raise ValueError(f"--input {name}: the file must be a .npy file; got {path!r}.")
        if not Path(path).is_file():
            raise ValueError(f"--input {name}: file {path!r} does not exist.")
        paths[name] = path
    return paths


def read_named_inputs(args):
    """The inputs of ``explain``: ``(inputs, feature names or None)``, with ``inputs``
    one array (INPUTS .npy/.csv) or a dict of arrays by input name (``--input``
    entries, or an INPUTS .npz)."""
    if args.named_inputs and args.inputs is not None:
        raise ValueError("give either INPUTS or --input NAME=PATH entries, not both.")
    if args.named_inputs:
        return {
            name: _load_array(path, f"--input {name}")
            for name, path in _named_paths(args.named_inputs).items()
        }, None
    if args.inputs is None:
        raise ValueError(
            "give INPUTS (a .npy, .npz or .csv file), or --input NAME=PATH.npy for each "
            "input of a model with several inputs."
        )
    if Path(args.inputs).suffix == ".npz":
        arrays = _load_arrays(args.inputs, "INPUTS")
        if not arrays:
            raise ValueError(f"INPUTS {args.inputs!r} holds no arrays.")
        return arrays, None
    return read_inputs(args.inputs)


def _padding_arrays(args):
    """``(padding mask, lengths)`` arrays from --padding-mask / --lengths (or None)."""
    if args.padding_mask is not None and args.lengths is not None:
        raise ValueError("give --padding-mask or --lengths, not both.")
    if args.padding is not None and args.lengths is None:
        raise ValueError("--padding goes with --lengths (where the padding of each length is).")
    mask = None if args.padding_mask is None else _load_array(args.padding_mask, "--padding-mask")
    lengths = None if args.lengths is None else _load_array(args.lengths, "--lengths")
    return mask, lengths


def read_inputs(path: str):
    """Sequences from a .npy or .csv file: ``(inputs (N, T, F), feature names or None)``.

    CSV files are either tidy (columns ``sample, time, feature, value``, any order of
    rows; samples and times sorted, features in order of first appearance) or wide
    (one sequence: a row per time step, a numeric column per feature).
    """
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"INPUTS file {path!r} does not exist.")
    if p.suffix not in (".npy", ".csv"):
        raise ValueError(f"INPUTS must be a .npy, .npz or .csv file; got {path!r}.")
    import numpy as np
    import pandas as pd

    if p.suffix == ".npy":
        x = _load_array(path, "INPUTS")
        if x.ndim == 2:
            x = x[None]
        return x, None
    frame = pd.read_csv(p)
    if {"sample", "time", "feature", "value"} <= set(frame.columns):
        features = list(dict.fromkeys(frame["feature"]))
        samples = sorted(frame["sample"].unique())
        times = sorted(frame["time"].unique())
        cube = frame.pivot_table(
            index=["sample", "time"], columns="feature", values="value", aggfunc="first"
        )
        expected = len(samples) * len(times)
        if len(cube) != expected or cube.isna().to_numpy().any():
            raise ValueError(
                f"{path}: the tidy table must have one value per (sample, time, feature); "
                f"found {len(frame)} rows for {len(samples)} samples x {len(times)} steps x "
                f"{len(features)} features."
            )
        cube = cube.reindex(pd.MultiIndex.from_product([samples, times]))[features]
        values = cube.to_numpy(dtype=np.float64)
        return values.reshape(len(samples), len(times), len(features)), [str(f) for f in features]
    if all(_is_number(c) for c in frame.columns):
        raise ValueError(
            f"{path}: the header row holds only numbers; a wide CSV needs a header of "
            "feature names (or use the tidy columns sample, time, feature, value)."
        )
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in frame.columns if numeric[c].isna().any() and not frame[c].isna().any()]
    if bad:
        raise ValueError(
            f"{path}: column(s) {', '.join(map(str, bad))} are not numeric; a wide CSV holds "
            "one sequence (one row per time step, one numeric column per feature), a tidy "
            "CSV has the columns sample, time, feature, value."
        )
    return numeric.to_numpy(dtype=np.float64)[None], [str(c) for c in frame.columns]


def _is_number(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_model_path(path: str) -> None:
    """The one check of MODEL that needs no TensorFlow: that the path exists."""
    if not Path(path).exists():
        raise ValueError(
            f"MODEL path {path!r} does not exist; give a SavedModel directory (with "
            "saved_model.pb) or a .keras file."
        )


def _load_for_cli(args):
    _check_model_path(args.model)
    _import_tensorflow(args)
    from tf_tsexplain.serving import load_model

    return load_model(
        args.model,
        signature=args.signature,
        input_name=args.input_name,
        output_name=args.output_name,
        safe_mode=not args.unsafe,
    )


def _baseline_for_cli(args, inputs, names=None):
    """(baseline or None, description) from --baseline/--references: one array, or for
    a model with inputs ``names`` a dict of arrays by input name (.npz files)."""
    import numpy as np

    def load(path, what):
        if names is None:
            return _load_array(path, what)
        if Path(path).suffix != ".npz":
            raise ValueError(
                f"{what} of a model with several inputs {names} must be a .npz file with an "
                f"array per input name; got {path!r}."
            )
        return _load_arrays(path, what)

    if args.method == "expected_gradients":
        if args.references is None:
            raise ValueError(
                "--method expected_gradients needs --references FILE.npy: reference "
                "sequences (R, T, F), e.g. a sample of the training data (.npz by input "
                "name for several inputs)."
            )
        return load(args.references, "--references"), f"references {args.references}"
    if args.baseline == "zeros":
        return None, "zeros"
    if args.baseline == "mean":
        first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
        rows = None if first is None else len(first)
        if args.references is None and (rows is None or rows < 2):
            raise ValueError(
                "--baseline mean of a single input is the input itself (all attributions "
                "0); give --references FILE.npy to average, or another baseline."
            )
        source = inputs if args.references is None else load(args.references, "--references")
        if isinstance(source, dict):
            return {k: np.asarray(v, np.float64).mean(axis=0) for k, v in source.items()}, (
                "mean of each input"
            )
        return np.asarray(source, np.float64).mean(axis=0), "mean sequence"
    return load(args.baseline, "--baseline"), f"baseline {args.baseline}"


def _plot_indices(text: str, n: int) -> list[int]:
    if text == "none":
        return []
    if text == "all":
        return list(range(n))
    try:
        picked = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(
            f"--plot must be indices like 0,3, 'all' or 'none'; got {text!r}."
        ) from None
    bad = [i for i in picked if not 0 <= i < n]
    if bad:
        raise ValueError(f"--plot index {bad[0]} is out of range for {n} input(s).")
    return picked


def run_explain(args) -> dict:
    """``tf-tsexplain explain``: explain MODEL on INPUTS, write the results to --out."""
    _check_numbers(args, ("num_samples", 1), ("batch_size", 1), ("seed", 0))
    output_index = _parse_output_index(args.output_index)
    _check_model_path(args.model)
    raw, csv_names = read_named_inputs(args)
    mask, lengths = _padding_arrays(args)
    import numpy as np

    model = _load_for_cli(args)
    from tf_tsexplain.serving import check_model_inputs, explain_instances, model_inputs

    expected = model_inputs(model)
    if expected is None and isinstance(raw, dict):
        if len(raw) != 1:
            raise ValueError(
                f"the model takes one input; got --input for {len(raw)} names "
                f"{sorted(raw)}: give INPUTS or a single --input."
            )
        raw = next(iter(raw.values()))
    elif expected is not None and not isinstance(raw, dict):
        raise ValueError(
            f"the model takes the inputs {list(expected)}: give --input NAME=PATH.npy for "
            "each (or INPUTS as one .npz file with an array per input name)."
        )
    x = check_model_inputs(model, raw, allow_nonfinite=args.allow_nonfinite)
    parts = x if isinstance(x, dict) else {"": x}
    n = len(next(iter(parts.values())))
    names = _feature_names_for_cli(args.feature_names, csv_names, parts)
    padding_mask = _padding_mask_for_cli(mask, lengths, args.padding, parts)
    plots = _plot_indices(args.plot, n)
    baseline, baseline_text = _baseline_for_cli(args, x, list(x) if isinstance(x, dict) else None)
    shapes = ", ".join(f"{k + ' ' if k else ''}{tuple(v.shape[1:])}" for k, v in parts.items())
    print(
        f"explaining {n} input(s) of shape {shapes} with {args.method} "
        f"({baseline_text}, {args.num_samples} path points)"
    )
    result = explain_instances(
        model,
        x,
        method=args.method,
        baseline=baseline,
        num_samples=args.num_samples,
        output_indices=output_index,
        batch_size=args.batch_size,
        seed=args.seed,
        verbose=True,
        allow_nonfinite=args.allow_nonfinite,
        padding_mask=padding_mask,
    )
    out = Path(args.out)  # created only now: bad input leaves no folder behind
    out.mkdir(parents=True, exist_ok=True)
    paths = _write_results(out, args, result, parts, names, padding_mask, plots)
    error = float(np.max(result["approximation_error"]))
    print(f"max approximation error |sum(attr) - (f(x) - f(baseline))| = {error:.3g}")
    for key, path in paths.items():
        print(f"  {key:>14}: {path}")
    return paths


def _feature_names_for_cli(given, csv_names, parts: dict) -> dict:
    """Feature names per input (key "" for a single input), checked against the inputs."""
    if not given:
        return {"": csv_names} if "" in parts else {}
    if "" in parts:
        if len(given) > 1:
            raise ValueError("--feature-names is given more than once for a single input.")
        names = {"": given[0].split(",")}
    else:
        names = {}
        for entry in given:
            name, sep, listed = entry.partition("=")
            if not sep or name not in parts:
                raise ValueError(
                    f"--feature-names with several inputs must be NAME=a,b,c with NAME one "
                    f"of {list(parts)}; got {entry!r}."
                )
            names[name] = listed.split(",")
    for key, listed in names.items():
        features = parts[key].shape[-1]
        if len(listed) != features:
            which = f" for input {key!r}" if key else ""
            raise ValueError(
                f"--feature-names has {len(listed)} names{which} for {features} features."
            )
    return names


def _padding_mask_for_cli(mask, lengths, padding, parts: dict):
    """The ``(N, T)`` padding mask of the sequence inputs, from --padding-mask or
    --lengths/--padding, checked against the inputs (None without either)."""
    if mask is None and lengths is None:
        return None
    from tf_tsexplain._structure import mask_from_lengths
    from tf_tsexplain._validation import check_padding_mask

    flag = "--padding-mask" if mask is not None else "--lengths"
    steps = {v.shape[1] for v in parts.values() if v.ndim == 3}
    if len(steps) != 1:
        raise ValueError(
            f"{flag} needs sequence inputs (N, T, F) of one length T; the inputs have "
            f"shapes {[v.shape for v in parts.values()]}."
        )
    (t,) = steps
    n = len(next(iter(parts.values())))
    if mask is not None:
        return check_padding_mask(mask, n, t, name="--padding-mask")
    if lengths.shape != (n,):
        raise ValueError(
            f"--lengths must hold {n} lengths (one per input); got shape {lengths.shape}."
        )
    try:
        return mask_from_lengths(lengths, t, padding or "post")
    except (TypeError, ValueError) as err:
        raise ValueError(f"--lengths: {err}".replace("`lengths` ", "")) from None


def _write_results(out: Path, args, result: dict, parts: dict, names: dict, mask, plots):
    """Attributions (.npy, tidy .csv: one pair per input with several inputs),
    instances.csv and heatmaps into ``out``; returns the paths written."""
    import numpy as np
    import pandas as pd

    from tf_tsexplain.tables import to_frame

    paths = {}
    for key, x in parts.items():
        label = f"attributions_{key}" if key else "attributions"
        attributions = result[label]
        paths[label] = out / f"{label}.npy"
        np.save(paths[label], attributions)
        table_key = f"table_{key}" if key else "table"
        paths[table_key] = out / f"{label}.csv"
        features = names.get(key)
        if x.ndim == 2:  # static covariates: no time axis
            frame = to_frame(attributions[:, None], feature_names=features, inputs=x[:, None])
            frame = frame.drop(columns="time")
        else:
            padded = mask if mask is not None and mask.shape[1] == x.shape[1] else None
            frame = to_frame(attributions, feature_names=features, inputs=x, padding_mask=padded)
        frame.to_csv(paths[table_key], index=False)
    columns = ("explained_index", "explained_prediction", "baseline_prediction")
    instances = pd.DataFrame({k: result[k] for k in (*columns, "approximation_error")})
    instances.insert(0, "sample", np.arange(len(instances)))
    paths["instances"] = out / "instances.csv"
    instances.to_csv(paths["instances"], index=False)
    sequences = [k for k, x in parts.items() if x.ndim == 3]
    if plots and sequences:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt

        from tf_tsexplain.plot import time_feature_heatmap

        for key in sequences:
            label = f"attributions_{key}" if key else "attributions"
            for i in plots:
                name = f"heatmap_{key}_{i}" if key else f"heatmap_{i}"
                fig, _ = time_feature_heatmap(
                    result[label][i],
                    inputs=parts[key][i],
                    feature_names=names.get(key),
                    title=f"{args.method}, {key + ', ' if key else ''}sample {i} (output "
                    f"{result['explained_index'][i]}, f = "
                    f"{result['explained_prediction'][i]:.3g}; lines: inputs)",
                )
                paths[name] = out / f"{name}.png"
                fig.savefig(paths[name], dpi=110, bbox_inches="tight")
                plt.close(fig)
    return paths


def run_export(args) -> dict:
    """``tf-tsexplain export``: write MODEL with an explain signature to EXPORT_DIR."""
    numbers = [("batch_size", 1), ("seed", 0)]
    if args.method != "saliency":  # saliency has no path points
        numbers.append(("num_samples", 1))
    _check_numbers(args, *numbers)
    output_index = _parse_output_index(args.output_index)
    _check_model_path(args.model)
    if args.baseline == "mean" and args.method != "expected_gradients" and not args.references:
        raise ValueError("--baseline mean needs --references FILE.npy to take the mean of.")
    for flag, path in (("--baseline", args.baseline), ("--references", args.references)):
        if path in (None, "zeros", "mean"):
            continue
        if Path(path).suffix not in (".npy", ".npz"):
            raise ValueError(f"{flag} must be a .npy (or, for several inputs, .npz) file.")
        if not Path(path).is_file():
            raise ValueError(f"{flag} file {path!r} does not exist.")
    model = _load_for_cli(args)
    from tf_tsexplain.serving import export_explainer, model_inputs

    expected = model_inputs(model)
    baseline, baseline_text = _baseline_for_cli(
        args, None, None if expected is None else list(expected)
    )
    info = export_explainer(
        model,
        args.export_dir,
        method=args.method,
        baseline=baseline,
        num_samples=args.num_samples,
        output_indices=output_index,
        batch_size=args.batch_size,
        seed=args.seed,
        overwrite=args.overwrite,
        padding_mask=args.padding_mask_input,
    )
    explain_inputs, explain_outputs = info["explain_inputs"], info["explain_outputs"]
    shapes = info["input_shape"]
    if isinstance(shapes, dict):
        shown = ", ".join(f"{k} (None, {', '.join(map(str, v))})" for k, v in shapes.items())
        print(f"wrote {info['export_dir']} ({args.method}, {baseline_text}; inputs {shown})")
    else:
        t, f = shapes
        print(
            f"wrote {info['export_dir']} ({args.method}, {baseline_text}; input (None, {t}, {f}))"
        )
    print(
        "  signatures: serving_default -> predictions; explain ("
        + ", ".join(explain_inputs)
        + ") -> "
        + ", ".join(explain_outputs)
    )
    instance = (
        "<(T, F) list>"
        if explain_inputs == ("inputs",)
        else "{" + ", ".join(f'"{k}": ...' for k in explain_inputs) + "}"
    )
    print(
        "  TF Serving REST: POST /v1/models/<name>:predict with "
        f'{{"signature_name": "explain", "instances": [{instance}, ...]}}'
    )
    return info


# ---------------------------------------------------------------------------- evaluate
# name -> (what it is, for --help). Each is built in _evaluate_explainers.
EVALUATE_METHODS = {
    "ig": "integrated gradients from a zero baseline (--num-samples path points)",
    "eg": "expected gradients over --references (default: the inputs themselves)",
    "saliency": "the signed gradient",
    "input_x_gradient": "input times gradient",
    "smoothgrad": "SmoothGrad (--num-samples noisy copies)",
    "occlusion": "occlusion of one cell at a time (set to 0)",
    "feature_ablation": "ablation of one cell at a time (set to 0)",
    "tsr": "temporal saliency rescaling of integrated gradients (--tsr-samples points)",
    "timing": "TIMING: integrated gradients along segment-masked paths (--num-samples points)",
    "contralsp": "ContraLSP masks fitted on the inputs (--mask-epochs steps)",
}
EVALUATE_METRICS = (
    "deletion_auc",
    "insertion_auc",
    "comprehensiveness",
    "sufficiency",
    "cpd",
    "cpp",
    "infidelity",
    "max_sensitivity",
)


def _add_evaluate_parser(sub) -> None:
    evaluate = sub.add_parser(
        "evaluate",
        help="which explainer to trust: faithfulness metrics of several methods on a model",
        description="Explain INPUTS with each of --methods and a random control, score every "
        "map by faithfulness metrics that need no ground truth (deletion and insertion "
        "AUC, comprehensiveness, sufficiency, cumulative prediction difference, "
        "infidelity by default) and write into --out: faithfulness.csv (one row per "
        "method: each metric's mean and standard error over the inputs, seconds per "
        "input, mean rank), curves.parquet (tidy deletion and insertion curves: "
        "explainer, curve, fraction, mean, sem) and faithfulness.png. The table is "
        "printed, best method first. " + SAFETY_NOTE,
        epilog="Methods: "
        + "; ".join(f"{k}: {v}" for k, v in EVALUATE_METHODS.items())
        + ". Example: tf-tsexplain evaluate model.keras x_test.npy --methods "
        "ig,eg,saliency,occlusion,tsr --out faith",
    )
    _add_verbose(evaluate)
    evaluate.add_argument("model", metavar="MODEL", help="a SavedModel directory or a .keras file")
    evaluate.add_argument(
        "inputs", metavar="INPUTS", help="a .npy (N, T, F) or .csv file of sequences"
    )
    evaluate.add_argument("--out", required=True, help="output folder (created if needed)")
    evaluate.add_argument(
        "--methods",
        default="ig,saliency,occlusion",
        help=f"comma-separated, from {', '.join(EVALUATE_METHODS)} (default: ig,saliency,"
        "occlusion)",
    )
    evaluate.add_argument(
        "--metrics",
        help=f"comma-separated, from {', '.join(EVALUATE_METRICS)} (default: the first "
        "five and infidelity)",
    )
    evaluate.add_argument(
        "--output-index",
        default="predicted",
        help="output explained and tracked: 'predicted' (default, the arg-max class of "
        "each input), an int, or 'T,C' for sequence outputs",
    )
    evaluate.add_argument("--references", help="eg: .npy file of reference sequences (R, T, F)")
    evaluate.add_argument(
        "--num-samples", type=int, default=32, help="ig/eg/smoothgrad samples (default: 32)"
    )
    evaluate.add_argument(
        "--tsr-samples", type=int, default=8, help="tsr: IG points per map (default: 8)"
    )
    evaluate.add_argument(
        "--mask-epochs",
        type=int,
        default=500,
        help="contralsp: optimisation steps of the masks (default: 500, the method's)",
    )
    evaluate.add_argument("--steps", type=int, default=10, help="deletion/insertion steps (10)")
    evaluate.add_argument("--cpd-steps", type=int, default=50, help="CPD cells removed (50)")
    evaluate.add_argument(
        "--n-perturbations", type=int, default=100, help="infidelity draws per input (100)"
    )
    evaluate.add_argument(
        "--batch-size", type=int, help="model rows per call (default: from the memory budget)"
    )
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    evaluate.add_argument(
        "--signature",
        default="serving_default",
        help="SavedModel signature (default: serving_default)",
    )
    evaluate.add_argument("--input-name", help="signature input, if it has several")
    evaluate.add_argument("--output-name", help="signature output, if it has several")
    evaluate.add_argument(
        "--unsafe",
        action="store_true",
        help="load .keras files without safe mode (runs Python code stored in the file)",
    )


def _comma_choices(text: str, flag: str, choices) -> list[str]:
    picked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [p for p in picked if p not in choices]
    if not picked or unknown:
        raise ValueError(
            f"{flag} must be comma-separated names from {', '.join(choices)}; got {text!r}."
        )
    if len(set(picked)) != len(picked):
        raise ValueError(f"{flag} names a method twice; got {text!r}.")
    return picked


def _evaluate_explainers(model, methods, x, references, args, output_index) -> dict:
    """``name -> callable inputs -> saliency`` for the chosen methods."""
    import numpy as np

    from tf_tsexplain import (
        FeatureAblation,
        InputXGradient,
        Occlusion,
        PathExplainerTF,
        Saliency,
        SmoothGrad,
        TemporalSaliencyRescaling,
        TimingExplainer,
    )
    from tf_tsexplain.masks.contralsp import ContraLSPExplainer

    zeros = np.zeros((1, *x.shape[1:]), np.float32)
    common = {"output_indices": output_index, "batch_size": args.batch_size}
    path = PathExplainerTF(model)
    table = {
        "ig": lambda v: path.attributions(
            v, zeros, use_expectation=False, num_samples=args.num_samples, **common
        ),
        "eg": lambda v: path.attributions(
            v,
            references,
            use_expectation=True,
            num_samples=args.num_samples,
            seed=args.seed,
            **common,
        ),
        "saliency": lambda v: Saliency(model).attributions(v, **common),
        "input_x_gradient": lambda v: InputXGradient(model).attributions(v, **common),
        "smoothgrad": lambda v: SmoothGrad(model).attributions(
            v, num_samples=args.num_samples, seed=args.seed, **common
        ),
        "occlusion": lambda v: Occlusion(model).attributions(v, 0.0, **common),
        "feature_ablation": lambda v: FeatureAblation(model).attributions(v, 0.0, **common),
        "tsr": lambda v: TemporalSaliencyRescaling(PathExplainerTF(model)).attributions(
            v, zeros, use_expectation=False, num_samples=args.tsr_samples, **common
        ),
        "timing": lambda v: TimingExplainer(model).attributions(
            v, num_samples=args.num_samples, seed=args.seed, **common
        ),
        "contralsp": lambda v: ContraLSPExplainer(model).attributions(
            v, seed=args.seed, n_epoch=args.mask_epochs, **common
        ),
    }

    def announced(name, explain):
        def run(v):
            print(f"  explaining with {name} ...", flush=True)
            return explain(v)

        return run

    return {name: announced(name, table[name]) for name in methods}


def run_evaluate(args):
    """``tf-tsexplain evaluate``: compare explainers on MODEL and INPUTS, write to --out."""
    numbers = [("num_samples", 1), ("tsr_samples", 1), ("steps", 1), ("cpd_steps", 1)]
    numbers += [("n_perturbations", 1), ("seed", 0), ("mask_epochs", 1)]
    if args.batch_size is not None:
        numbers.append(("batch_size", 1))
    _check_numbers(args, *numbers)
    methods = _comma_choices(args.methods, "--methods", tuple(EVALUATE_METHODS))
    metrics = None
    if args.metrics is not None:
        metrics = _comma_choices(args.metrics, "--metrics", EVALUATE_METRICS)
    output_index = _parse_output_index(args.output_index)
    _check_model_path(args.model)
    if Path(args.inputs).suffix == ".npz":
        raise ValueError("evaluate takes one input array (.npy or .csv); got a .npz file.")
    x, _ = read_inputs(args.inputs)
    references = None
    if "eg" in methods:
        references = x if args.references is None else _load_array(args.references, "--references")
    elif args.references is not None:
        raise ValueError("--references is for --methods eg.")
    model = _load_for_cli(args)
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt
    import numpy as np

    from tf_tsexplain.metrics import compare_explainers
    from tf_tsexplain.plot import faithfulness_plot

    x = np.asarray(x, np.float32) if x.dtype != np.float64 else x
    n = len(x)
    print(
        f"evaluating {', '.join(methods)} and a random control on {n} input(s) of shape "
        f"{tuple(x.shape[1:])}"
    )
    table = compare_explainers(
        model,
        x,
        _evaluate_explainers(model, methods, x, references, args, output_index),
        metrics=metrics,
        output_indices=output_index,
        seed=args.seed,
        batch_size=args.batch_size,
        steps=args.steps,
        cpd_steps=args.cpd_steps,
        n_perturbations=args.n_perturbations,
    )
    out = Path(args.out)  # created only now: bad input leaves no folder behind
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "table": out / "faithfulness.csv",
        "curves": out / "curves.parquet",
        "plot": out / "faithfulness.png",
    }
    table.to_csv(paths["table"])
    table.attrs["curves"].to_parquet(paths["curves"], index=False)
    fig, _ = faithfulness_plot(
        table, title=f"Faithfulness on {Path(args.inputs).name} ({n} inputs)"
    )
    fig.savefig(paths["plot"], dpi=100)
    plt.close(fig)
    directions = table.attrs["directions"]
    shown = [c for c in table.columns if not c.endswith("_sem")]
    print(
        "mean over inputs (better: "
        + ", ".join(f"{m} {'higher' if d == 'higher' else 'lower'}" for m, d in directions.items())
        + "; rank 1 = best)"
    )
    print(table[shown].to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"scoring took {table.attrs['scoring_seconds']:.1f} s")
    for key, path in paths.items():
        print(f"  {key:>6}: {path}")
    return {"table": table, **paths}


if __name__ == "__main__":
    sys.exit(main())
