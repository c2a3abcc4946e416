"""TimeSHAP 1.0.4 on the benchmark's model: run by bench_shapley.py in its own environment.

TimeSHAP needs an older stack than tf_tsexplain (TensorFlow 2.15, numpy < 1.25, shap 0.41,
pandas < 2.2), so it runs in a separate virtual environment, as a subprocess:

    python -m venv /work/timeshap-venv
    /work/timeshap-venv/bin/pip install "tensorflow==2.15.*" "numpy<1.25" "shap==0.41.0" \\
        "pandas<2.2" "timeshap==1.0.4"
    /work/timeshap-venv/bin/python timeshap_reference.py job.npz result.json

``job.npz`` holds the model's weights (``weight_0``, ``weight_1``, ...), its shape
(``steps``, ``features``, ``units``), the sequences, the baseline event, the pruning
tolerance, ``nsamples`` and the seed. The model (LSTM(units) and Dense(1, sigmoid)) is
rebuilt here from the weights. For each sequence: TimeSHAP's pruning, event-level and
feature-level explanations, each timed; the values and the model rows TimeSHAP asked for
go to ``result.json``. This file imports nothing from tf_tsexplain.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from timeshap.explainer import local_pruning  # noqa: E402
from timeshap.explainer.event_level import event_level  # noqa: E402
from timeshap.explainer.feature_level import feature_level  # noqa: E402

CHUNK = 8192  # model rows per call


def build_model(job):
    steps, features, units = (int(job[k]) for k in ("steps", "features", "units"))
    model = tf.keras.Sequential(
        [
            tf.keras.Input((steps, features)),
            tf.keras.layers.LSTM(units),
            tf.keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    count = sum(1 for k in job.files if k.startswith("weight_"))
    model.set_weights([job[f"weight_{i}"] for i in range(count)])
    return model


def main(job_path, out_path):
    job = np.load(job_path)
    model = build_model(job)
    compiled = tf.function(
        lambda b: model(b, training=False),
        input_signature=[tf.TensorSpec((None,) + job["sequences"].shape[1:], tf.float32)],
    )
    rows = [0]

    def f(batch):
        """TimeSHAP's model contract: (B, T, F) -> (B, 1) scores, in chunks."""
        batch = np.asarray(batch, np.float32)
        rows[0] += len(batch)
        return np.concatenate(
            [compiled(batch[i : i + CHUNK]).numpy() for i in range(0, len(batch), CHUNK)]
        )

    tolerance, nsamples, seed = float(job["tolerance"]), int(job["nsamples"]), int(job["seed"])
    baseline = job["baseline"].reshape(1, -1)
    # untimed warm-up on the first sequence: traces the model function and compiles
    # shap's numba kernels (about 1.5 s per sequence of a 4-sequence run otherwise)
    explain(f, job["sequences"][0][None], baseline, tolerance, nsamples, seed, rows)
    results = [
        explain(f, sequence[None], baseline, tolerance, nsamples, seed, rows)
        for sequence in job["sequences"]
    ]
    versions = {"tensorflow": tf.__version__, "numpy": np.__version__}
    import pandas
    import shap
    import timeshap

    versions.update(pandas=pandas.__version__, shap=shap.__version__, timeshap=timeshap.__version__)
    with open(out_path, "w") as out:
        json.dump({"versions": versions, "sequences": results}, out)


def explain(f, data, baseline, tolerance, nsamples, seed, rows):
    """TimeSHAP's pruning, event and feature explanations of one sequence, timed."""
    rows[0] = 0
    start = time.perf_counter()
    _, pruning_index = local_pruning(f, data, {"tol": tolerance}, baseline)
    pruned = data.shape[1] + pruning_index  # events before this index are pruned
    pruning_s = time.perf_counter() - start
    pruning_rows = rows[0]
    events = event_level(f, data, baseline, pruned, seed, nsamples)
    event_s = time.perf_counter() - start - pruning_s
    event_rows = rows[0] - pruning_rows
    feats = feature_level(f, data, baseline, pruned, seed, nsamples, None)
    feature_s = time.perf_counter() - start - pruning_s - event_s
    return {
        "window_start": int(pruned),
        # "Event -1", "Event -2", ... (most recent first), then "Pruned Events"
        "events": events["Shapley Value"].astype(float).tolist(),
        "event_names": events["Feature"].tolist(),
        # features in order, then "Pruned Events"
        "features": feats["Shapley Value"].astype(float).tolist(),
        "seconds": {"pruning": pruning_s, "event": event_s, "feature": feature_s},
        "rows": {
            "pruning": pruning_rows,
            "event": event_rows,
            "feature": rows[0] - pruning_rows - event_rows,
        },
    }


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
