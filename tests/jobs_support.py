"""Helpers of the batch-job tests: small models, their data and in-process references.

Each builder returns what a module fixture of a ``test_jobs_*`` file holds; every file
builds its own (module-scoped), so that each runs alone.
"""

import keras
import numpy as np
import pandas as pd

from tf_tsexplain import PathExplainerTF
from tf_tsexplain.jobs.local import explain_to_parquet

T, F, C, N = 6, 3, 2, 40
S = 2  # static covariates
# 8 path points x 8 sequences per shard = two chunks of 32 rows: the model sees the
# same chunks as in one in-process call with batch_size=32, so results are bit-equal.
JOB = {"num_samples": 8, "batch_size": 32, "shard_size": 8, "output_indices": "predicted"}
NAMES = ["a", "b", "c"]


def ig(model, x, baseline, **kwargs):
    """The in-process reference: integrated gradients with the jobs' settings."""
    return PathExplainerTF(model).attributions(
        x, baseline, use_expectation=False, num_samples=8, batch_size=32, **kwargs
    )


def tidy(x, names, ids):
    """A tidy frame of ``x`` ``(n, T, F)``: time labels 0, 10, ... (not positions), the
    rows of a sample together, in random order within it."""
    n, t, f = x.shape
    frame = pd.DataFrame(
        {
            "sample": np.repeat(ids, t * f),
            "time": np.tile(np.repeat(np.arange(t) * 10, f), n),
            "feature": np.tile(names, n * t),
            "value": x.ravel(),
        }
    )
    rng = np.random.default_rng(1)
    frame["_key"] = rng.random(len(frame))
    return frame.sort_values(["sample", "_key"]).drop(columns="_key")


def build_job(root):
    """An LSTM classifier on (T, F), saved; 40 sequences (also as ``x.npy``) and their
    in-process integrated gradients for the predicted class."""
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((T, F)), keras.layers.LSTM(6), keras.layers.Dense(C, activation="softmax")]
    )
    model.save(root / "model.keras")
    x = np.random.default_rng(0).normal(size=(N, T, F)).astype(np.float32)
    np.save(root / "x.npy", x)
    ref = ig(model, x, np.zeros((1, T, F), np.float32), output_indices="predicted")
    return {"root": root, "model": model, "x": x, "ref": ref}


def run(job, source, out, **kwargs):
    settings = {**JOB, "verbose": False, **kwargs}
    return explain_to_parquet(job["model"], source, out, **settings)


def build_multi(root):
    """A two-input model (a sequence (T, F) and static covariates (S,)), 12 samples,
    a baseline per input and the in-process reference."""
    keras.utils.set_random_seed(6)
    seq = keras.Input((T, F), name="seq")
    static = keras.Input((S,), name="static")
    hidden = keras.layers.Concatenate()([keras.layers.LSTM(4)(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(C, activation="softmax")(hidden))
    model.save(root / "model.keras")
    rng = np.random.default_rng(2)
    x = {
        "seq": rng.normal(size=(12, T, F)).astype(np.float32),
        "static": rng.normal(size=(12, S)).astype(np.float32),
    }
    base = {"seq": np.zeros((1, T, F), np.float32), "static": np.full((1, S), 0.5, np.float32)}
    # the job resolves "predicted" itself (an explainer's "predicted" on a dict of inputs
    # fails in _explainer.predict): the same classes, given per input
    predicted = model.predict([x["seq"], x["static"]], verbose=0).argmax(axis=1)
    ref = ig(model, x, base, output_indices=predicted)
    return {"root": root, "model": model, "x": x, "base": base, "ref": ref}


def run_multi(multi, source, out, **kwargs):
    settings = {**JOB, "shard_size": 4, "baseline": multi["base"], "verbose": False, **kwargs}
    return explain_to_parquet(multi["model"], source, out, **settings)


def check_multi(multi, out, ids=None):
    """The job in ``out`` holds the reference bit for bit; returns its feature names."""
    from tf_tsexplain.jobs.layout import load_attributions

    got_ids, attributions, names = load_attributions(out)
    np.testing.assert_array_equal(got_ids, np.arange(12) if ids is None else ids)
    assert list(attributions) == ["seq", "static"]
    for name in ("seq", "static"):
        assert np.array_equal(attributions[name], multi["ref"][name]), name
    return names


def build_padded():
    """A Masking LSTM, 12 sequences of 1 to 6 steps (a list, and zero-padded) and the
    in-process reference with their padding mask (zero on padded steps)."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            keras.layers.Masking(0.0),
            keras.layers.LSTM(4),
            keras.layers.Dense(C, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(3)
    lengths = np.array([6, 2, 4, 5, 3, 6, 1, 4, 2, 5, 6, 3])
    seqs = [rng.normal(size=(k, F)).astype(np.float32) for k in lengths]
    x = np.zeros((len(seqs), T, F), np.float32)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    real = np.arange(T)[None] < lengths[:, None]
    zeros = np.zeros((1, T, F), np.float32)
    ref = ig(model, x, zeros, output_indices="predicted", padding_mask=real)
    assert np.all(ref[~real] == 0)
    return {"model": model, "seqs": seqs, "x": x, "lengths": lengths, "real": real, "ref": ref}


def run_padded(padded, source, out, **kwargs):
    settings = {**JOB, "shard_size": 4, "verbose": False, **kwargs}
    return explain_to_parquet(padded["model"], source, out, **settings)


def check_padded(padded, out, ids=None):
    """The padded job in ``out`` equals the reference, with no row for a padded cell
    and the real lengths in ``instances``."""
    from tf_tsexplain.jobs.layout import load_attributions, read_attributions, read_instances

    got_ids, attributions, _ = load_attributions(out)
    np.testing.assert_array_equal(got_ids, np.arange(12) if ids is None else ids)
    assert np.array_equal(attributions, padded["ref"])
    table = read_attributions(out).to_pandas()
    assert len(table) == padded["lengths"].sum() * F
    steps = table.groupby("sample").time.max().to_numpy()
    np.testing.assert_array_equal(steps, padded["lengths"] - 1)
    instances = read_instances(out).to_pandas().sort_values("sample")
    np.testing.assert_array_equal(instances.length, padded["lengths"])
    assert instances.approximation_error.max() < 0.05
