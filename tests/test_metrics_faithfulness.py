"""Faithfulness metrics without ground truth (tf_tsexplain.metrics.faithfulness)."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import tf_tsexplain
from tf_tsexplain import PathExplainerTF, Saliency, metrics
from tf_tsexplain.metrics import (
    compare_explainers,
    comprehensiveness,
    cumulative_prediction_difference,
    cumulative_prediction_preservation,
    deletion_insertion_curves,
    infidelity,
    max_sensitivity,
    randomization_check,
    sufficiency,
)

N, T, F = 5, 4, 3
D = T * F
RNG = np.random.default_rng(0)
W = RNG.normal(size=(T, F)).astype(np.float32)
X = RNG.normal(size=(N, T, F)).astype(np.float32)
FRACTIONS = (0.1, 0.25, 0.5, 1.0)


class Linear:
    """f(x) = sum(w * x), counting its Python calls (a traced function calls it once)."""

    def __init__(self, w=W):
        self.w = w
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return tf.reduce_sum(
            x * tf.constant(self.w, x.dtype), axis=list(range(1, len(self.w.shape) + 1))
        )


def top_sums(s, fractions, n_real=None):
    """Per fraction, the sum of each row's round(p * n) largest values, and of the rest."""
    flat = s.reshape(len(s), -1)
    n = np.full(len(s), flat.shape[1]) if n_real is None else n_real
    ordered = -np.sort(-flat, axis=1)
    top = np.array(
        [
            [row[: int(round(p * k))].sum() for row, k in zip(ordered, n, strict=True)]
            for p in fractions
        ]
    )
    return top, flat.sum(axis=1)[None] - top


def test_closed_forms_on_a_linear_model():
    model = Linear()
    s = (W * X).astype(np.float64)
    top, rest = top_sums(s, FRACTIONS)
    np.testing.assert_allclose(
        comprehensiveness(model, X, s, fractions=FRACTIONS), top.mean(0), atol=1e-5
    )
    np.testing.assert_allclose(
        sufficiency(model, X, s, fractions=FRACTIONS), rest.mean(0), atol=1e-5
    )
    # abs order: the cells of largest |saliency| first
    flat = s.reshape(N, -1)
    by_abs = np.take_along_axis(flat, np.argsort(-np.abs(flat), 1, kind="stable"), 1)
    want = np.mean([by_abs[:, : int(round(p * D))].sum(1) for p in FRACTIONS], 0)
    got = comprehensiveness(model, X, s, fractions=FRACTIONS, order="abs")
    np.testing.assert_allclose(got, want, atol=1e-5)
    # CPD: the K = min(steps, n) largest |saliency|; CPP: the K smallest
    abs_sorted = -np.sort(-np.abs(flat), axis=1)
    np.testing.assert_allclose(
        cumulative_prediction_difference(model, X, s, steps=5), abs_sorted[:, :5].sum(1), atol=1e-5
    )
    np.testing.assert_allclose(
        cumulative_prediction_difference(model, X, s, steps=500), np.abs(flat).sum(1), atol=1e-5
    )
    np.testing.assert_allclose(
        cumulative_prediction_preservation(model, X, s, steps=4),
        np.sort(np.abs(flat), axis=1)[:, :4].sum(1),
        atol=1e-5,
    )
    # a nonzero baseline b: removing cell i changes f by w_i (x_i - b)
    b = 0.5
    s_b = W * (X - b)
    top_b, _ = top_sums(s_b, FRACTIONS)
    np.testing.assert_allclose(
        comprehensiveness(model, X, s_b, b, fractions=FRACTIONS), top_b.mean(0), atol=1e-5
    )
    # infidelity: 0 for the gradient w; expectation noise^2 ||w x - w||^2 for w x
    gradient = np.broadcast_to(W, X.shape)
    assert np.abs(infidelity(model, X, gradient, seed=0)).max() < 1e-9
    scale = 0.2
    inf = infidelity(model, X, s, noise_scale=scale, n_perturbations=4000, seed=1)
    expected = scale**2 * ((s - W) ** 2).reshape(N, -1).sum(1)
    # the mean of 4000 draws of c^2 chi^2_1: relative standard error sqrt(2 / 4000) = 2.2%
    np.testing.assert_allclose(inf / expected, 1.0, atol=0.1)
    # every perturbed copy of every call above went through one traced function,
    # shared by the calls: the Python model ran once when the plain function was
    # traced, and once for the XLA function of infidelity's 20,000 copies
    assert model.calls == 2
    # max-sensitivity of the gradient of a linear model (the Saliency explainer): 0
    sens = max_sensitivity(Saliency(model).attributions, X, seed=0)
    assert sens.shape == (N,) and np.abs(sens).max() < 1e-6
    # ... and of x itself: the largest perturbation norm, at most radius * sqrt(D)
    sens_x = max_sensitivity(
        lambda z: np.asarray(z) * 1.0, X, radius=0.1, n_perturbations=20, seed=0
    )
    assert (sens_x > 0.1 * np.sqrt(D / 3) * 0.7).all() and (sens_x <= 0.1 * np.sqrt(D)).all()


def test_ties_by_flat_index_and_round_half_to_even():
    model = Linear(np.ones((T, F), np.float32))
    x = np.ones((1, T, F), np.float32)
    s = np.ones((1, T, F))  # all tied: any order gives the same sums here, so use
    s[0, 0, 0] = 2.0  # one clear top cell and check the counts
    # D = 12: p = 0.125 -> round(1.5) = 2 cells (half to even); 0.2 -> round(2.4) = 2
    got = comprehensiveness(model, x, s, fractions=(0.125, 0.2))
    np.testing.assert_allclose(got, [2.0])
    # ties by flat index: with a map ranking cells 0..D-1 equal, CPD with a model that
    # weighs cell j by 2^j sees cells removed in flat order
    weights = (2.0 ** np.arange(D)).reshape(T, F).astype(np.float32)
    cpd = cumulative_prediction_difference(Linear(weights), x, np.ones((1, T, F)), steps=3)
    np.testing.assert_allclose(cpd, [1.0 + 2.0 + 4.0])
    cpp = cumulative_prediction_preservation(Linear(weights), x, np.ones((1, T, F)), steps=2)
    np.testing.assert_allclose(cpp, [1.0 + 2.0])


@pytest.fixture(scope="module")
def lstm():
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [keras.Input((6, 3)), keras.layers.LSTM(8), keras.layers.Dense(3, activation="softmax")]
    )


def one_by_one(model, rows, target):
    """The brute force: one model call per perturbed copy."""
    return np.array([float(model(r[None], training=False).numpy()[0, target]) for r in rows])


def test_lstm_against_one_model_call_per_copy(lstm):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 6, 3)).astype(np.float32)
    sal = rng.normal(size=x.shape)
    base = rng.normal(size=(6, 3)).astype(np.float32)
    targets = np.argmax(lstm(x).numpy(), axis=1)
    fractions = (0.05, 0.3, 0.5, 1.0)
    want_c, want_s, want_cpd, want_cpp = [], [], [], []
    for i in range(3):
        fx = one_by_one(lstm, x[i : i + 1], targets[i])[0]
        flat = sal[i].ravel()
        signed = np.argsort(-flat, kind="stable")
        deleted, kept = [], []
        for p in fractions:
            top = signed[: int(round(p * 18))]
            d = x[i].ravel().copy()
            d[top] = base.ravel()[top]
            deleted.append(d.reshape(6, 3))
            k = base.ravel().copy()
            k[top] = x[i].ravel()[top]
            kept.append(k.reshape(6, 3))
        want_c.append(np.mean(fx - one_by_one(lstm, np.stack(deleted), targets[i])))
        want_s.append(np.mean(fx - one_by_one(lstm, np.stack(kept), targets[i])))
        for order, out in (
            (np.argsort(-np.abs(flat), kind="stable"), want_cpd),
            (np.argsort(np.abs(flat), kind="stable"), want_cpp),
        ):
            row, path = x[i].ravel().copy(), [x[i]]
            for cell in order[:7]:
                row[cell] = base.ravel()[cell]
                path.append(row.reshape(6, 3).copy())
            values = one_by_one(lstm, np.stack(path), targets[i])
            out.append(np.abs(np.diff(values)).sum())
    kw = {"batch_size": 5}  # several chunks of one trace
    np.testing.assert_allclose(
        comprehensiveness(lstm, x, sal, base, fractions=fractions, **kw), want_c, atol=1e-5
    )
    np.testing.assert_allclose(
        sufficiency(lstm, x, sal, base, fractions=fractions, **kw), want_s, atol=1e-5
    )
    np.testing.assert_allclose(
        cumulative_prediction_difference(lstm, x, sal, base, steps=7, **kw), want_cpd, atol=1e-5
    )
    np.testing.assert_allclose(
        cumulative_prediction_preservation(lstm, x, sal, base, steps=7), want_cpp, atol=1e-5
    )
    # infidelity against the same draws, one call per copy (an input's draws depend on
    # the seed and its index only, so batch_size does not change them)
    got = infidelity(lstm, x, sal, noise_scale=0.3, n_perturbations=6, seed=5, batch_size=4)
    again = infidelity(lstm, x, sal, noise_scale=0.3, n_perturbations=6, seed=5)
    np.testing.assert_allclose(got, again, rtol=1e-6)  # (float32 sums vary with the chunk)
    for i in range(3):
        noise = np.random.default_rng([5, i]).normal(0.0, 0.3, size=(6, 18)).astype(np.float32)
        fx = one_by_one(lstm, x[i : i + 1], targets[i])[0]
        fxi = one_by_one(lstm, (x[i].ravel() - noise).reshape(6, 6, 3), targets[i])
        want = np.mean((noise.astype(np.float64) @ sal[i].ravel() - (fx - fxi)) ** 2)
        assert got[i] == pytest.approx(want, rel=1e-4, abs=1e-7)


def test_padded_cells_are_never_changed_nor_counted():
    # the model reacts to padded cells (it weighs every cell), the metrics must not
    model = Linear()
    mask = np.ones((N, T), bool)
    mask[0, 2:] = False  # input 0: 2 real steps = 6 real cells
    mask[3, 3:] = False
    real = np.repeat(mask[:, :, None], F, axis=2)
    s = (W * X).astype(np.float64) + 10.0 * ~real  # padded cells look most salient
    n_real = real.reshape(N, -1).sum(1)
    s_real = np.where(real, W * X, -np.inf).reshape(N, -1)
    ordered = -np.sort(-s_real, axis=1)
    want = np.mean(
        [
            [row[: int(round(p * k))].sum() for row, k in zip(ordered, n_real, strict=True)]
            for p in FRACTIONS
        ],
        0,
    )
    got = comprehensiveness(model, X, s, fractions=FRACTIONS, padding_mask=mask)
    np.testing.assert_allclose(got, want, atol=1e-5)
    real_sum = np.where(real, W * X, 0).reshape(N, -1).sum(1)
    want_suff = np.mean(
        [
            real_sum
            - [row[: int(round(p * k))].sum() for row, k in zip(ordered, n_real, strict=True)]
            for p in FRACTIONS
        ],
        0,
    )
    got = sufficiency(model, X, s, fractions=FRACTIONS, padding_mask=mask)
    np.testing.assert_allclose(got, want_suff, atol=1e-5)
    # CPD stops at the real cells: K = min(steps, n_real)
    abs_real = -np.sort(-np.where(real, np.abs(W * X), -1).reshape(N, -1), axis=1)
    got = cumulative_prediction_difference(model, X, s, steps=8, padding_mask=mask)
    np.testing.assert_allclose(
        got, [r[: min(8, k)].sum() for r, k in zip(abs_real, n_real, strict=True)], atol=1e-5
    )
    # infidelity draws no noise on padded cells: the gradient still scores 0, and the
    # expectation counts real cells only
    grad = np.broadcast_to(W, X.shape)
    assert np.abs(infidelity(model, X, grad, seed=0, padding_mask=mask)).max() < 1e-9
    inf = infidelity(
        model, X, W * X, noise_scale=0.2, n_perturbations=4000, seed=2, padding_mask=mask
    )
    expected = 0.04 * np.where(real, (W * X - W) ** 2, 0).reshape(N, -1).sum(1)
    np.testing.assert_allclose(inf / expected, 1.0, atol=0.1)
    # deletion at fraction 1 leaves the padded cells' contribution
    curves = deletion_insertion_curves(model, X, s, steps=2, padding_mask=mask)
    padded_sum = np.where(real, 0, W * X).reshape(N, -1).sum(1)
    np.testing.assert_allclose(curves["deletion"][:, -1], padded_sum, atol=1e-5)
    np.testing.assert_allclose(curves["insertion"][:, 0], padded_sum, atol=1e-5)
    # max-sensitivity: perturbations only on real cells
    sens = max_sensitivity(lambda z: np.asarray(z) * 1.0, X, radius=0.1, seed=0, padding_mask=mask)
    assert (sens <= 0.1 * np.sqrt(n_real) + 1e-6).all()


def test_multi_input_cells_of_all_inputs_ranked_together():
    seq = keras.Input((T, F), name="seq")
    static = keras.Input((2,), name="static")
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(1, use_bias=False)(joined))
    w = np.concatenate([W.ravel(), [3.0, -2.0]]).astype(np.float32)
    model.layers[-1].set_weights([w[:, None]])
    xs = X
    xz = RNG.normal(size=(N, 2)).astype(np.float32)
    inputs = {"seq": xs, "static": xz}
    flat_x = np.concatenate([xs.reshape(N, -1), xz], axis=1)
    sal_flat = flat_x * w
    sal = {"seq": sal_flat[:, :D].reshape(N, T, F), "static": sal_flat[:, D:]}

    def flat_model(z):
        return tf.reduce_sum(z * tf.constant(w), axis=1)

    for fn, kwargs in (
        (comprehensiveness, {"fractions": FRACTIONS}),
        (sufficiency, {"fractions": FRACTIONS}),
        (cumulative_prediction_difference, {"steps": 6}),
        (cumulative_prediction_preservation, {"steps": 6}),
    ):
        got = fn(model, inputs, sal, **kwargs)
        want = fn(flat_model, flat_x, sal_flat, **kwargs)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=fn.__name__)
    top, _ = top_sums(sal_flat, FRACTIONS)
    np.testing.assert_allclose(
        comprehensiveness(model, inputs, sal, fractions=FRACTIONS), top.mean(0), atol=1e-5
    )
    grad = {"seq": np.broadcast_to(W, X.shape), "static": np.broadcast_to(w[D:], (N, 2))}
    assert np.abs(infidelity(model, inputs, grad, seed=0)).max() < 1e-8
    table = compare_explainers(
        model,
        inputs,
        {"gradient": lambda v: grad, "x_times_w": lambda v: sal},
        seed=0,
        n_perturbations=10,
        cpd_steps=5,
    )
    assert table.loc["gradient", "infidelity"] < 1e-8
    with pytest.raises(ValueError, match="saliency"):
        comprehensiveness(model, inputs, {"seq": sal["seq"], "static": sal["static"][:, :1]})
    with pytest.raises(TypeError, match="saliency"):
        comprehensiveness(model, inputs, sal_flat)


class Counting(keras.layers.Layer):
    calls = 0

    def call(self, x):
        Counting.calls += 1
        return x


def test_bad_input_is_refused_before_any_model_call():
    model = Linear()
    s = W * X
    bad = [
        (ValueError, "saliency", lambda: comprehensiveness(model, X, s[:, :2])),
        (ValueError, "saliency", lambda: sufficiency(model, X, s[:3])),
        (ValueError, "NaN", lambda: comprehensiveness(model, X, np.where(s > 0, np.nan, s))),
        (ValueError, "NaN", lambda: infidelity(model, X, np.full(X.shape, np.nan))),
        (ValueError, "fractions", lambda: comprehensiveness(model, X, s, fractions=(0.0, 0.5))),
        (ValueError, "fractions", lambda: sufficiency(model, X, s, fractions=(0.5, 1.5))),
        (TypeError, "fractions", lambda: sufficiency(model, X, s, fractions=())),
        (TypeError, "fractions", lambda: sufficiency(model, X, s, fractions=0.5)),
        (ValueError, "steps", lambda: cumulative_prediction_difference(model, X, s, steps=0)),
        (TypeError, "steps", lambda: cumulative_prediction_preservation(model, X, s, steps=2.0)),
        (ValueError, "steps", lambda: deletion_insertion_curves(model, X, s, steps=0)),
        (ValueError, "order", lambda: comprehensiveness(model, X, s, order="size")),
        (ValueError, "noise_scale", lambda: infidelity(model, X, s, noise_scale=0.0)),
        (ValueError, "n_perturbations", lambda: infidelity(model, X, s, n_perturbations=0)),
        (ValueError, "seed", lambda: infidelity(model, X, s, seed=-1)),
        (TypeError, "batch_size", lambda: comprehensiveness(model, X, s, batch_size=2.5)),
        (ValueError, "baseline", lambda: comprehensiveness(model, X, s, np.zeros((2, 2)))),
        (
            ValueError,
            "padding_mask",
            lambda: comprehensiveness(model, X, s, padding_mask=np.ones((N, 2), bool)),
        ),
        (TypeError, "inputs", lambda: comprehensiveness(model, X.astype(int), s)),
        (TypeError, "explain", lambda: max_sensitivity("saliency", X)),
        (ValueError, "radius", lambda: max_sensitivity(lambda z: z, X, radius=-1.0)),
        (TypeError, "make_explainer", lambda: randomization_check(None, model, X)),
        (TypeError, "explainers", lambda: compare_explainers(model, X, [lambda v: v])),
        (ValueError, "explainers", lambda: compare_explainers(model, X, {})),
        (ValueError, "random", lambda: compare_explainers(model, X, {"random": lambda v: v})),
        (TypeError, "explainers", lambda: compare_explainers(model, X, {"a": 3})),
        (
            ValueError,
            "metrics",
            lambda: compare_explainers(model, X, {"a": lambda v: v}, metrics=["auc"]),
        ),
        (
            ValueError,
            "fractions",
            lambda: compare_explainers(model, X, {"a": lambda v: v}, fractions=(2,)),
        ),
    ]
    for error, word, call in bad:
        with pytest.raises(error, match=word):
            call()
    assert model.calls == 0
    # a model with several outputs needs output_indices: refused from its static
    # output shape before it runs
    counting = Counting()
    multi = keras.Sequential(
        [keras.Input((T, F)), counting, keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    Counting.calls = 0
    for fn in (comprehensiveness, sufficiency, cumulative_prediction_difference, infidelity):
        with pytest.raises(ValueError, match="output_indices"):
            fn(multi, X, s, output_indices=None)
    with pytest.raises(ValueError, match="output_indices"):
        compare_explainers(multi, X, {"a": lambda v: s}, output_indices=None)
    assert Counting.calls == 0
    # an explainer whose map is not shaped like the inputs: named in the error
    with pytest.raises(ValueError, match="'flat'"):
        compare_explainers(model, X, {"flat": lambda v: np.zeros((N, D))})


def test_randomization_check(lstm):
    x = np.random.default_rng(7).normal(size=(4, 6, 3)).astype(np.float32)

    def gradient(m):
        return lambda v: Saliency(m).attributions(v, output_indices=0)

    def input_itself(m):  # an "explainer" ignoring the model: correlation 1
        return lambda v: np.asarray(v) * 1.0

    same = randomization_check(input_itself, lstm, x, seed=0)
    np.testing.assert_allclose(same, 1.0)
    rho = randomization_check(gradient, lstm, x, seed=0)
    assert rho.shape == (4,) and np.all(np.abs(rho) < 0.9)
    # the copy is re-initialised by the layers' own initialisers, seeded
    a = metrics.randomized_copy(lstm, seed=1)
    b = metrics.randomized_copy(lstm, seed=1)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))
    assert not np.array_equal(a.get_weights()[0], lstm.get_weights()[0])
    # a given random model, and the comparison of one map with itself
    np.testing.assert_allclose(randomization_check(gradient, lstm, x, randomized_model=lstm), 1.0)
    with pytest.raises(TypeError, match="randomized_model"):
        randomization_check(gradient, lambda v: v, x)


RELEVANT = [(1, 0), (3, 2), (5, 1)]
V = np.array([1.5, -1.0, 2.0], np.float32)


def white_box(x):
    """Two classes; the logit of class 1 is 3 tanh(sum of v times the relevant cells)."""
    picked = tf.stack([x[:, t, f] for t, f in RELEVANT], axis=1)
    z = 3.0 * tf.tanh(tf.reduce_sum(picked * tf.constant(V, x.dtype), axis=1))
    return tf.nn.softmax(tf.stack([tf.zeros_like(z), z], axis=1))


def test_compare_explainers_ranks_ig_above_the_random_control():
    rng = np.random.default_rng(8)
    n = 24
    x = rng.normal(0, 0.3, size=(n, 6, 3)).astype(np.float32)
    labels = rng.integers(0, 2, n)
    for t, f in RELEVANT:  # the signal: class 1 has the relevant cells set
        x[:, t, f] += np.where(labels == 1, 1.0, -1.0) * np.sign(V[RELEVANT.index((t, f))])
    ig = PathExplainerTF(white_box)
    explainers = {
        "ig": lambda v: ig.attributions(
            v,
            np.zeros((1, 6, 3), np.float32),
            use_expectation=False,
            num_samples=32,
            output_indices="predicted",
        ),
        "gradient": lambda v: Saliency(white_box).attributions(v, output_indices="predicted"),
    }
    table = compare_explainers(white_box, x, explainers, seed=0, n_perturbations=20)
    assert isinstance(table, pd.DataFrame) and table.index.name == "explainer"
    assert set(table.index) == {"ig", "gradient", "random"}
    metric_names = [
        "deletion_auc",
        "insertion_auc",
        "comprehensiveness",
        "sufficiency",
        "cpd",
        "infidelity",
    ]
    assert list(table.columns) == [c for m in metric_names for c in (m, f"{m}_sem")] + [
        "seconds",
        "rank",
    ]
    assert (
        table.loc["ig", "comprehensiveness"]
        > table.loc["random", "comprehensiveness"]
        + 3 * table.loc["random", "comprehensiveness_sem"]
    )
    assert table.loc["ig", "deletion_auc"] < table.loc["random", "deletion_auc"]
    assert table.loc["ig", "rank"] < table.loc["random", "rank"]
    assert table.index[-1] == "random" and table["rank"].is_monotonic_increasing
    assert (table["seconds"] > 0).all() and (table.filter(like="_sem") >= 0).all().all()
    # the columns agree with the metric functions on the same maps
    maps = ig.attributions(
        x,
        np.zeros((1, 6, 3), np.float32),
        use_expectation=False,
        num_samples=32,
        output_indices="predicted",
    )
    assert table.loc["ig", "comprehensiveness"] == pytest.approx(
        comprehensiveness(white_box, x, maps).mean()
    )
    assert table.loc["ig", "cpd"] == pytest.approx(
        cumulative_prediction_difference(white_box, x, maps).mean()
    )
    assert table.loc["ig", "infidelity"] == pytest.approx(
        infidelity(white_box, x, maps, seed=0, n_perturbations=20).mean()
    )
    curves = table.attrs["curves"]
    assert list(curves.columns) == ["explainer", "curve", "fraction", "mean", "sem"]
    assert set(curves["curve"]) == {"deletion", "insertion"} and len(curves) == 3 * 2 * 11
    want = deletion_insertion_curves(white_box, x, maps)
    ig_del = curves.query("explainer == 'ig' and curve == 'deletion'")
    np.testing.assert_allclose(ig_del["mean"], want["deletion"].mean(0), atol=1e-6)
    np.testing.assert_allclose(
        ig_del["sem"], want["deletion"].std(0, ddof=1) / np.sqrt(n), atol=1e-6
    )
    # the table keeps working as a table (attrs holding a frame do not get in the way)
    assert len(pd.concat([table, table])) == 6 and table.round(3).shape == table.shape
    # optional metrics, and the package-level name
    extra = tf_tsexplain.compare_explainers(
        white_box,
        x[:6],
        {"gradient": explainers["gradient"]},
        metrics=["cpp", "max_sensitivity"],
        seed=0,
    )
    assert list(extra.columns[:4]) == ["cpp", "cpp_sem", "max_sensitivity", "max_sensitivity_sem"]
    assert (
        np.isnan(extra.loc["random", "max_sensitivity"])
        and extra.loc["gradient", "max_sensitivity"] >= 0
    )


def test_xla_gives_the_plain_numbers_and_auto_falls_back(lstm, monkeypatch):
    from tf_tsexplain.metrics import _perturb

    rng = np.random.default_rng(9)
    x = rng.normal(size=(20, 6, 3)).astype(np.float32)
    sal = rng.normal(size=x.shape)
    plain = cumulative_prediction_difference(lstm, x, sal, steps=18, jit_compile=False)
    xla = cumulative_prediction_difference(lstm, x, sal, steps=18, jit_compile=True, batch_size=100)
    np.testing.assert_allclose(xla, plain, atol=1e-5)

    def numpy_inside(v):  # an op XLA cannot compile
        return tf.numpy_function(lambda a: a.reshape(len(a), -1).sum(1), [v], tf.float32)

    monkeypatch.setattr(_perturb, "XLA_MIN_COPIES", 1)
    got = cumulative_prediction_difference(numpy_inside, X, X, steps=5)  # "auto"
    want = -np.sort(-np.abs(X.reshape(N, -1)), axis=1)[:, :5].sum(1)
    np.testing.assert_allclose(got, want, atol=1e-5)
    with pytest.raises(ValueError, match="jit_compile"):
        comprehensiveness(lstm, x, sal, jit_compile="yes")
