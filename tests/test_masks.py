"""Dynamic masks: perturbation formulas, the fit, batching and bad input."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from tf_tsexplain import metrics
from tf_tsexplain._validation import NotFittedError
from tf_tsexplain.datasets import rare_feature, saliency_white_box
from tf_tsexplain.masks import (
    FadeMovingAverage,
    FadeMovingAveragePastWindow,
    FadeMovingAverageWindow,
    FadeReference,
    GaussianBlur,
    Mask,
    MaskGroup,
    MaskLayer,
    cross_entropy,
    log_loss,
    log_loss_target,
    mse,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 7, 3)).astype("float32")
M = RNG.uniform(size=(3, 2, 7, 3)).astype("float32")  # 3 masks per series


# ------------------------------------------------------------------ numpy formulas
def np_fade_average(x, m):
    return m * x + (1 - m) * x.mean(axis=-2, keepdims=True)


def np_blur(x, m, sigma_max=2.0, eps=1e-7):
    t = x.shape[-2]
    out = np.empty(np.broadcast_shapes(x.shape, m.shape))
    xb = np.broadcast_to(x, out.shape)
    sigma = sigma_max * (1 + eps - np.broadcast_to(m, out.shape).astype(np.float64))
    for tt in range(t):
        w = np.exp(-((tt - np.arange(t))[:, None] ** 2) / (2 * sigma[..., tt : tt + 1, :] ** 2))
        out[..., tt, :] = (w * xb).sum(-2) / w.sum(-2)
    return out


def np_window(x, m, w, causal):
    t = x.shape[-2]
    avg = np.empty_like(x)
    for tt in range(t):
        lo, hi = (max(0, tt - w), tt + 1) if causal else (max(0, tt - w), min(t, tt + w + 1))
        avg[..., tt, :] = x[..., lo:hi, :].mean(-2)
    return avg + m * (x - avg)


@pytest.mark.parametrize(
    "layer, formula",
    [
        (FadeMovingAverage(), np_fade_average),
        (GaussianBlur(), np_blur),
        (GaussianBlur(sigma_max=0.7), lambda x, m: np_blur(x, m, sigma_max=0.7)),
        (FadeMovingAverageWindow(2), lambda x, m: np_window(x, m, 2, causal=False)),
        (FadeMovingAveragePastWindow(2), lambda x, m: np_window(x, m, 2, causal=True)),
        (FadeReference(X[0] * 0 + 0.7), lambda x, m: 0.7 + m * (x - 0.7)),
    ],
    ids=["fade_avg", "blur", "blur_narrow", "window", "past_window", "reference"],
)
def test_perturbation_matches_numpy_formula(layer, formula):
    out = np.asarray(layer(X, M))
    assert out.shape == (3, 2, 7, 3)
    np.testing.assert_allclose(out, formula(X.astype(float), M.astype(float)), atol=2e-6)
    one = np.asarray(layer(X, np.ones_like(X)))  # m = 1 keeps every cell
    np.testing.assert_allclose(one, X, atol=1e-6)


def test_blur_on_long_series_skips_negligible_lags_only():
    x = RNG.normal(size=(1, 40, 2)).astype("float32")
    m = RNG.uniform(size=(1, 40, 2)).astype("float32")
    m[0, :5] = 0.0  # widest kernels
    np.testing.assert_allclose(np.asarray(GaussianBlur()(x, m)), np_blur(x, m), atol=2e-6)


def test_past_window_is_causal():
    x = RNG.normal(size=(1, 9, 2)).astype("float32")
    later = x.copy()
    later[0, 5:] += 10.0  # change the future only
    m = np.zeros_like(x)
    a = np.asarray(FadeMovingAveragePastWindow(3)(x, m))
    b = np.asarray(FadeMovingAveragePastWindow(3)(later, m))
    np.testing.assert_allclose(a[0, :5], b[0, :5])
    centred = np.asarray(FadeMovingAverageWindow(3)(later, m))
    assert not np.allclose(np.asarray(FadeMovingAverageWindow(3)(x, m))[0, :5], centred[0, :5])


def test_mask_layer_perturbs_and_clamps():
    layer = MaskLayer((3, 2, 7, 3), FadeReference(0.0), initial_value=0.25)
    np.testing.assert_allclose(np.asarray(layer(X)), 0.25 * np.broadcast_to(X, (3, 2, 7, 3)))
    w = layer.mask
    assert w.trainable and w.constraint is not None
    clamped = np.asarray(w.constraint(tf.constant([-1.0, 0.3, 2.0])))
    np.testing.assert_allclose(clamped, [0.0, 0.3, 1.0])
    deletion = MaskLayer((2, 7, 3), FadeReference(0.0), initial_value=0.25, deletion_mode=True)
    np.testing.assert_allclose(np.asarray(deletion(X)), 0.75 * X)


# ------------------------------------------------------------------ losses
def test_losses_per_row_against_numpy():
    p = np.array([[[0.2, 0.8], [0.6, 0.4]], [[0.5, 0.5], [0.9, 0.1]]], np.float32)
    q = np.array([[[0.0, 1.0], [1.0, 0.0]], [[0.3, 0.7], [0.5, 0.5]]], np.float32)
    np.testing.assert_allclose(np.asarray(mse(p, q)), ((p - q) ** 2).mean((1, 2)), rtol=1e-6)
    np.testing.assert_allclose(
        np.asarray(cross_entropy(p, q)), -(q * np.log(p)).mean((1, 2)), rtol=1e-5
    )
    expected = -(q * np.log(p) + (1 - q) * np.log(1 - p)).mean((1, 2))
    np.testing.assert_allclose(np.asarray(log_loss(p, q)), expected, rtol=1e-5)
    ids = np.array([[1, 0], [0, 0]])
    picked = np.take_along_axis(p, ids[..., None], -1)[..., 0]
    np.testing.assert_allclose(
        np.asarray(log_loss_target(p, ids)), -np.log(picked).mean(1), rtol=1e-5
    )


# ------------------------------------------------------------------ fitting
def fit_kwargs(**extra):
    base = dict(size_reg_factor_init=1.0, size_reg_factor_dilation=1000, learning_rate=1.0)
    return {**base, **extra}


@pytest.fixture(scope="module")
def rare_problem():
    x, truth = rare_feature(n_samples=3, n_steps=12, n_features=6, n_salient=2, seed=3)
    return x, truth, saliency_white_box(truth)


@pytest.fixture(scope="module")
def fitted_group(rare_problem):
    x, _, box = rare_problem
    areas = [0.05, 0.1, 0.2, 0.3]
    group = MaskGroup(GaussianBlur()).fit(x, box, areas, n_epoch=150, seed=1, **fit_kwargs())
    return group, areas


@pytest.mark.parametrize(
    "layer",
    [
        FadeMovingAverage(),
        GaussianBlur(),
        FadeMovingAverageWindow(1),
        FadeMovingAveragePastWindow(1),
        FadeReference(0.0),
    ],
    ids=["fade_avg", "blur", "window", "past_window", "reference"],
)
def test_keep_ratio_one_leaves_the_input_unchanged(layer, rare_problem):
    x, _, box = rare_problem
    mask = Mask(layer, jit_compile=False).fit(x[0], box, keep_ratio=1.0, n_epoch=40)
    assert mask.mask_tensor.shape == (12, 6)
    np.testing.assert_array_equal(mask.mask_tensor, 1.0)
    np.testing.assert_allclose(np.asarray(layer(x[0], mask.mask_tensor)), x[0], atol=1e-6)
    assert mask.get_error() < 1e-8


def test_size_regulariser_drives_area_to_keep_ratio(rare_problem):
    x = rare_problem[0]

    def indifferent(batch):  # the output ignores the input: only the regulariser acts
        return tf.reduce_sum(batch * 0.0, axis=-1)

    weights = tf.constant(np.linspace(0.0, 1e-3, 72).reshape(12, 6), tf.float32)

    def faint(batch):  # a faint, different sensitivity per cell: ties break
        return tf.reduce_sum(batch * weights, axis=(1, 2))

    for ratio in (0.25, 0.6):
        mask = Mask(FadeReference(0.0)).fit(x, indifferent, keep_ratio=ratio, n_epoch=200)
        area = (72 - int((1 - ratio) * 72)) / 72  # the number of ones is rounded like this
        np.testing.assert_allclose(mask.mask_tensor, area, atol=1e-3)  # ties share evenly
        mask = Mask(FadeReference(0.0)).fit(x, faint, keep_ratio=ratio, n_epoch=300)
        m = mask.mask_tensor
        assert m.shape == x.shape
        np.testing.assert_allclose(m.mean(axis=(1, 2)), ratio, atol=0.02)
        assert np.mean((m < 0.05) | (m > 0.95)) > 0.95  # nearly binary


def test_white_box_salient_cells_get_the_highest_values(rare_problem):
    x, truth, box = rare_problem
    ratio = float(truth[0].mean())
    mask = Mask(GaussianBlur()).fit(x, box, keep_ratio=ratio, n_epoch=200, **fit_kwargs())
    m = mask.mask_tensor
    for i in range(len(x)):
        k = int(truth[i].sum())
        top = np.argsort(-m[i].ravel(), kind="stable")[:k]
        assert truth[i].ravel()[top].mean() >= 0.9
    assert metrics.auroc(truth, m) > 0.95


def test_batched_fit_equals_fits_one_series_and_area_at_a_time(rare_problem):
    x, truth, box = rare_problem
    areas = [0.05, 0.1, 0.2, 0.3]
    # a gentle learning rate: with lr = 1 and momentum, 1-ulp differences between
    # kernels for different batch shapes can decide whether a cell ends clamped
    settings = dict(n_epoch=150, seed=1, **fit_kwargs(learning_rate=0.2))
    group = MaskGroup(GaussianBlur()).fit(x, box, areas, **settings)
    assert group.masks.shape == (4, 3, 12, 6) and group.errors.shape == (4, 3)
    for n in (0, 2):
        box_n = saliency_white_box(truth[n])  # this series alone
        for a in (1, 3):
            alone = Mask(GaussianBlur()).fit(x[n], box_n, keep_ratio=areas[a], **settings)
            np.testing.assert_allclose(alone.mask_tensor, group.masks[a, n], atol=1e-4)
            np.testing.assert_allclose(alone.get_error(), group.errors[a, n], rtol=1e-3, atol=1e-6)


def test_batch_order_seen_by_f_is_areas_by_series():
    x = RNG.normal(size=(3, 4, 2)).astype("float32")
    seen = []

    def recorder(batch):
        seen.append(batch)
        return tf.reduce_sum(batch**2, axis=-1)

    group = MaskGroup(FadeReference(0.0), jit_compile=False).fit(x, recorder, [0.5, 0.2], n_epoch=3)
    batch = np.asarray(seen[-1])  # the final error pass, eager: (A * N, T, F)
    assert batch.shape == (6, 4, 2) and group.area_list == [0.2, 0.5]
    # row a * N + n is series n perturbed by its mask for area_list[a]
    expected = (group.masks * x[None]).reshape(6, 4, 2)
    np.testing.assert_allclose(batch, expected, rtol=1e-6)
    assert not np.allclose(group.masks[0], group.masks[1])


def test_fits_are_deterministic(rare_problem):
    # nothing is random (seed is only accepted): fits with new objects, a reused
    # (cached) loop or another seed give bit-identical masks
    from tf_tsexplain.masks import clear_fit_cache

    x, _, box = rare_problem
    kw = dict(keep_ratio=0.2, n_epoch=30, **fit_kwargs())
    blur = GaussianBlur()
    # one compilation mode, XLA (the former default): "auto" may pick either from its
    # timings after the cache is cleared, and the two modes round differently
    masks = [Mask(GaussianBlur(), jit_compile=True).fit(x[:2], box, seed=5, **kw).mask_tensor]
    masks += [
        Mask(blur, jit_compile=True).fit(x[:2], box, seed=seed, **kw).mask_tensor
        for seed in (5, None)
    ]
    clear_fit_cache()
    masks.append(Mask(blur, jit_compile=True).fit(x[:2], box, seed=1, **kw).mask_tensor)
    assert 0.0 < masks[0].max() and masks[0].min() < 1.0
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])


def test_repeated_fits_reuse_one_compiled_loop(rare_problem):
    import tf_tsexplain.masks._fit as fit_loops

    x, _, box = rare_problem
    blur = GaussianBlur()
    # keep ratios 0.2 and 0.15 of 72 cells: 15 and 11 ones, the same top_k size 16
    settings = [
        dict(keep_ratio=0.2, n_epoch=30, learning_rate=0.5, size_reg_factor_init=1.0),
        dict(
            keep_ratio=0.15,
            n_epoch=45,
            learning_rate=0.8,
            momentum=0.5,
            size_reg_factor_init=2.0,
            size_reg_factor_dilation=50,
            time_reg_factor=0.1,
            initial_mask_coeff=0.7,
        ),
    ]
    fit_loops.clear_fit_cache()
    before = fit_loops.TRACES[0]
    # XLA fixed (the former default; bit-reproducible): "auto" would also trace the
    # loop without XLA it times
    cached = [Mask(blur, jit_compile=True).fit(x[:2], box, **kw).mask_tensor for kw in settings]
    assert fit_loops.TRACES[0] - before == 1  # traced once for both fits
    uncached = []
    for kw in settings:
        fit_loops.clear_fit_cache()
        uncached.append(Mask(blur, jit_compile=True).fit(x[:2], box, **kw).mask_tensor)
    assert fit_loops.TRACES[0] - before == 3
    for a, b in zip(cached, uncached, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(cached[0], cached[1])
    # another shape gets its own loop; the cache stays bounded
    Mask(blur, jit_compile=False).fit(x[:1], box, keep_ratio=0.2, n_epoch=2)
    assert fit_loops.TRACES[0] - before == 4
    assert fit_loops.cached_loops() <= fit_loops.CACHE_SIZE


def test_deletion_mode_marks_what_to_delete(rare_problem):
    x, truth, box = rare_problem
    ratio = float(truth[0].mean())
    mask = Mask(FadeReference(0.0), deletion_mode=True).fit(
        x[:1], box, keep_ratio=ratio, n_epoch=150, **fit_kwargs()
    )
    assert metrics.auroc(truth[:1], mask.mask_tensor) > 0.95


def test_group_extremal_best_and_plots(fitted_group, rare_problem):
    group, areas = fitted_group
    errors = group.errors
    threshold = float(np.median(errors))
    extremal = group.get_extremal_mask(threshold)
    assert extremal.mask_tensor.shape == (3, 12, 6)
    for n in range(3):
        below = np.nonzero(errors[:, n] < threshold)[0]
        a = below[0] if below.size else int(np.argmin(errors[:, n]))
        assert extremal.keep_ratio[n] == areas[a]
        np.testing.assert_array_equal(extremal.mask_tensor[n], group.masks[a, n])
        assert extremal.get_error()[n] == errors[a, n]
    best = group.get_best_mask()
    np.testing.assert_array_equal(best.get_error(), errors.min(axis=0))
    fig, ax = group.plot_errors()
    assert len(ax.lines) == 3
    np.testing.assert_allclose(ax.lines[1].get_ydata(), errors[:, 1])
    plt.close(fig)
    fig, ax = best.plot_mask(sample=2, feature_names=list("abcdef"))
    np.testing.assert_allclose(ax.images[0].get_array(), best.mask_tensor[2].T)
    assert fig.axes[-1].get_ylabel() == "mask value (1 = keep)"  # the colour bar
    plt.close(fig)
    x, _, box = rare_problem
    single = MaskGroup(FadeMovingAverage()).fit(x[0], box, [0.3, 0.1], n_epoch=5)
    assert single.area_list == [0.1, 0.3] and single.masks.shape == (2, 12, 6)
    assert isinstance(single.get_extremal_mask(1e9).keep_ratio, float)


def test_information_entropy_submask_and_smoothing(fitted_group):
    group, _ = fitted_group
    mask = group.get_best_mask()
    m = mask.mask_tensor
    ids_t, ids_f = [2, 3, 4], [0, 5]
    sub = mask.extract_submask(ids_t, ids_f)
    np.testing.assert_array_equal(sub, m[:, ids_t][:, :, ids_f])
    eps = 1e-5
    info = (-np.log2(1 + eps - sub.astype(np.float64))).sum((1, 2))
    np.testing.assert_allclose(mask.get_information(ids_t, ids_f, eps=eps), info, rtol=1e-5)
    p = np.clip(sub.astype(float), 1e-300, 1 - 1e-16)
    h = np.where((sub > 0) & (sub < 1), -p * np.log2(p) - (1 - p) * np.log2(1 - p), 0.0)
    np.testing.assert_allclose(mask.get_entropy(ids_t, ids_f), h.sum((1, 2)), rtol=1e-5, atol=1e-9)
    whole = (-np.log2(1 + eps - m.astype(np.float64))).sum((1, 2))
    share = mask.get_information(ids_t, ids_f, normalize=True, eps=eps)
    np.testing.assert_allclose(share, info / whole, rtol=1e-5)
    assert np.all(share < 1.0)  # the reference returns 1 here
    np.testing.assert_allclose(mask.get_information(normalize=True), 1.0, rtol=1e-6)
    # the default eps is the mask's (that of its group)
    assert mask.eps == group.eps == 1e-7
    info7 = (-np.log2(1 + 1e-7 - sub.astype(np.float64))).sum((1, 2))
    np.testing.assert_allclose(mask.get_information(ids_t, ids_f), info7, rtol=1e-5)
    ent_share = mask.get_entropy(ids_t, ids_f, normalize=True)
    assert np.all((ent_share >= 0) & (ent_share <= 1))
    smooth = mask.get_smooth_mask(1.5)
    t = np.arange(12)
    w = np.exp(-((t[:, None] - t[None]) ** 2) / (2 * 1.5**2))
    np.testing.assert_allclose(smooth, np.einsum("ts,nsf->ntf", w / w.sum(1, keepdims=True), m))
    with pytest.raises(ValueError, match="`ids_time`"):
        mask.extract_submask([12])


# ------------------------------------------------------------------ bad input
def _quadratic(batch):
    return tf.reduce_sum(batch**2, axis=-1)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(keep_ratio=0.0), ValueError, r"`keep_ratio` must be in \(0, 1\]"),
        (dict(keep_ratio=1.5), ValueError, r"`keep_ratio` must be in \(0, 1\]"),
        (dict(n_epoch=0), ValueError, "`n_epoch` must be >= 1"),
        (dict(X=np.zeros(5, np.float32)), ValueError, r"one series \(T, F\) or a batch"),
        (dict(X=np.zeros((1, 2, 3, 4), np.float32)), ValueError, r"one series \(T, F\)"),
        (dict(X=np.zeros((3, 2), int)), TypeError, "`X` must hold floating point"),
        (
            dict(X=np.ones((2, 6, 3), np.float32), f=lambda b: tf.zeros((1, 3))),
            ValueError,
            "`f`: .*first axis of the output must be the batch",
        ),
        (dict(f=lambda b: tf.round(b)), ValueError, "`f`: .*gradient is None"),
        (dict(loss_function=log_loss), ValueError, "needs task='classification'"),
        (dict(learning_rate=0.0), ValueError, "`learning_rate` must be > 0"),
        (dict(momentum=1.5), ValueError, "`momentum` must be in"),
        (dict(target=np.zeros(4, np.float32)), ValueError, "`target` must have the shape"),
        (dict(loss_function=lambda p, q: tf.reduce_mean(p)), ValueError, "one error per row"),
    ],
)
def test_mask_fit_bad_input(kwargs, error, match):
    args = dict(X=np.ones((6, 3), np.float32), f=_quadratic)
    args.update(kwargs)
    x, f = args.pop("X"), args.pop("f")
    with pytest.raises(error, match=match):
        Mask(FadeMovingAverage()).fit(x, f, **args)


def test_group_and_classification_bad_input():
    x = np.ones((2, 6, 3), np.float32)
    with pytest.raises(ValueError, match=r"`area_list\[1\]` must be in \(0, 1\]"):
        MaskGroup(FadeMovingAverage()).fit(x, _quadratic, [0.1, 1.2])
    with pytest.raises(ValueError, match=r"`area_list\[0\]` must be in \(0, 1\]"):
        MaskGroup(FadeMovingAverage()).fit(x, _quadratic, [0.0])
    with pytest.raises(ValueError, match="at least one area"):
        MaskGroup(FadeMovingAverage()).fit(x, _quadratic, [])
    # f must return one row per input row: it gets A * N rows during a group fit
    weights = tf.ones((2, 6))

    def fixed_rows(batch):  # N rows whatever the batch
        return tf.reduce_sum(batch**2, axis=-1)[:2] * weights

    with pytest.raises(ValueError, match=r"one row per input row.*A \* N = 2 x 2 = 4 rows"):
        MaskGroup(FadeReference(0.0)).fit(x, fixed_rows, [0.2, 0.5], n_epoch=3)
    clf = Mask(FadeMovingAverage(), task="classification")
    with pytest.raises(ValueError, match=r"expects probabilities in \[0, 1\]"):
        clf.fit(x, lambda b: tf.reduce_sum(b, axis=1) * 3.0, loss_function=log_loss)
    with pytest.raises(ValueError, match="summing to 1"):
        clf.fit(x, lambda b: tf.sigmoid(tf.reduce_sum(b, axis=1)), loss_function=cross_entropy)
    with pytest.raises(ValueError, match="`task` must be"):
        Mask(FadeMovingAverage(), task="ranking")
    with pytest.raises(NotFittedError, match="not fitted"):
        Mask(FadeMovingAverage()).get_error()
    for bad in (0.0, -1.0):  # eps keeps a width and a log finite: it must be > 0
        for make in (GaussianBlur, lambda eps: Mask(FadeReference(0.0), eps=eps)):
            with pytest.raises(ValueError, match=r"`eps` must be > 0"):
                make(eps=bad)
        with pytest.raises(ValueError, match=r"`eps` must be > 0"):
            MaskGroup(FadeReference(0.0), eps=bad)
    # NaN is a number of the right kind with a wrong value: ValueError
    with pytest.raises(ValueError, match="`eps` must be finite"):
        GaussianBlur(eps=float("nan"))


def test_classification_fit_with_log_loss_target():
    x = RNG.normal(size=(2, 6, 3)).astype("float32")

    def probs(batch):
        logits = tf.stack([batch[:, 2, 0] * 3.0, -batch[:, 2, 0] * 3.0], axis=-1)
        return tf.nn.softmax(logits)

    mask = Mask(FadeReference(0.0), task="classification").fit(
        x, probs, loss_function=log_loss_target, keep_ratio=1 / 18, n_epoch=100, **fit_kwargs()
    )
    assert mask.target.shape == (2,)  # argmax of f(X)
    assert np.argmax(mask.mask_tensor.reshape(2, -1), axis=1).tolist() == [6, 6]  # cell (2, 0)


def test_blur_gradients_match_numerical_differences():
    x = tf.constant(RNG.normal(size=(2, 20, 2)).astype("float32"))
    m = tf.Variable(RNG.uniform(0.1, 0.9, size=(3, 2, 20, 2)).astype("float32"))
    blur = GaussianBlur()
    w = tf.constant(RNG.normal(size=(3, 2, 20, 2)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        total = tf.reduce_sum(blur(x, m) * w)
    g_mask, g_x = tape.gradient(total, m), tape.gradient(total, x)
    assert g_x.shape == x.shape and g_mask.shape == m.shape
    for grad, var, idx in ((g_mask, m, (1, 0, 5, 1)), (g_x, x, (1, 7, 0))):
        base = var.numpy().astype(np.float64)
        step = np.zeros_like(base)
        step[idx] = 1e-3

        def value(v, var=var):
            xv, mv = (v, m.numpy()) if var is x else (x.numpy(), v)
            return float(np.sum(np_blur(xv, mv) * w.numpy()))

        numeric = (value(base + step) - value(base - step)) / 2e-3
        assert np.asarray(grad)[idx] == pytest.approx(numeric, rel=2e-2, abs=1e-3)


# ------------------------------------------------------------------ not fitted, kinds
def test_every_result_of_an_unfitted_mask_or_group_raises_not_fitted():
    mask, group = Mask(FadeReference(0.0)), MaskGroup(FadeReference(0.0))
    results = {
        "Mask": [
            lambda: mask.mask_tensor,
            lambda: mask.keep_ratio,
            lambda: mask.X,
            lambda: mask.target,
            lambda: mask.loss_function,
            mask.get_error,
            mask.get_smooth_mask,
            mask.extract_submask,
            mask.get_information,
            mask.get_entropy,
            mask.plot_mask,
        ],
        "MaskGroup": [
            lambda: group.area_list,
            lambda: group.masks,
            lambda: group.errors,
            lambda: group.X,
            lambda: group.target,
            lambda: group.loss_function,
            group.get_best_mask,
            lambda: group.get_extremal_mask(0.1),
            group.plot_errors,
        ],
    }
    for name, calls in results.items():
        for call in calls:
            with pytest.raises(NotFittedError, match=rf"This {name} is not fitted yet: call fit"):
                call()
    # a ValueError and an AttributeError: hasattr is False until the fit
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)
    assert not hasattr(mask, "mask_tensor") and not hasattr(group, "masks")
    fitted = Mask(FadeReference(0.0), jit_compile=False).fit(X[0], _quadratic, n_epoch=2)
    assert hasattr(fitted, "mask_tensor") and fitted.X.shape == (7, 3)
    assert fitted.loss_function is mse and fitted.keep_ratio == 0.5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(keep_ratio="0.1"),
            TypeError,
            "`keep_ratio` must be a number. Received: keep_ratio='0.1'",
        ),
        (dict(keep_ratio=True), TypeError, "`keep_ratio` must be a number"),
        (dict(n_epoch=2.5), TypeError, r"`n_epoch` must be an integer. Received: n_epoch=2.5"),
        (dict(n_epoch="10"), TypeError, "`n_epoch` must be an integer"),
        (dict(learning_rate="0.1"), TypeError, "`learning_rate` must be a number"),
        (dict(momentum=None), TypeError, "`momentum` must be a number"),
        (dict(seed=1.5), TypeError, "`seed` must be an integer"),
        (dict(seed=-1), ValueError, r"`seed` must be >= 0. Received: seed=-1"),
        (dict(verbose="yes"), TypeError, "`verbose` must be True or False"),
        (dict(initial_mask_coeff=1.5), ValueError, r"`initial_mask_coeff` must be in \[0, 1\]"),
        (dict(size_reg_factor_init=-1.0), ValueError, "`size_reg_factor_init` must be >= 0"),
        (
            dict(size_reg_factor_dilation=0),
            ValueError,
            r"`size_reg_factor_dilation` must be > 0",
        ),
        (dict(time_reg_factor=-0.1), ValueError, "Received: time_reg_factor=-0.1"),
        (dict(time_reg_factor=float("inf")), ValueError, "`time_reg_factor` must be finite"),
        (dict(loss_function="mse"), TypeError, "`loss_function` must be callable"),
    ],
)
def test_mask_fit_wrong_kinds_and_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        Mask(FadeMovingAverage()).fit(np.ones((6, 3), np.float32), _quadratic, **kwargs)


def test_constructors_and_accessors_wrong_kinds_and_values(fitted_group):
    cases = [
        (lambda: Mask(FadeReference(0.0), task=3), TypeError, "`task` must be one of"),
        (lambda: Mask(FadeReference(0.0), deletion_mode="no"), TypeError, "`deletion_mode`"),
        (lambda: Mask(FadeReference(0.0), deletion_mode=1), TypeError, "`deletion_mode`"),
        (lambda: MaskGroup(FadeReference(0.0), eps="1e-7"), TypeError, "`eps` must be a number"),
        (lambda: Mask(FadeReference(0.0), jit_compile="xla"), ValueError, "`jit_compile`"),
        (lambda: MaskGroup(FadeReference(0.0), jit_compile=1), TypeError, "`jit_compile`"),
        (lambda: Mask(None), TypeError, "`perturbation` must be a layer"),
        (lambda: FadeMovingAverageWindow(2.0), TypeError, "`window_size` must be an integer"),
        (lambda: FadeMovingAveragePastWindow(-1), ValueError, "`window_size` must be >= 0"),
        (lambda: GaussianBlur(sigma_max="2"), TypeError, "`sigma_max` must be a number"),
        (lambda: GaussianBlur(sigma_max=0), ValueError, r"`sigma_max` must be > 0"),
        (lambda: FadeReference("zero"), TypeError, "`reference` must be real numbers"),
        (lambda: FadeReference([0.0, np.nan]), ValueError, "`reference` must be finite"),
    ]
    group, _ = fitted_group
    best = group.get_best_mask()
    x = np.ones((2, 6, 3), np.float32)
    cases += [
        (
            lambda: MaskGroup(FadeReference(0.0)).fit(x, _quadratic, ["0.1"]),
            TypeError,
            r"`area_list\[0\]` must be a number",
        ),
        (
            lambda: MaskGroup(FadeReference(0.0)).fit(x, _quadratic, [0.1], n_epoch=0.5),
            TypeError,
            "`n_epoch` must be an integer",
        ),
        (lambda: group.get_extremal_mask("0.1"), TypeError, "`threshold` must be a number"),
        (lambda: group.plot_errors(samples=[5]), ValueError, "`samples` must be <= 2"),
        (lambda: best.get_smooth_mask("1"), TypeError, "`sigma` must be a number"),
        (lambda: best.get_smooth_mask(0), ValueError, r"`sigma` must be > 0"),
        (lambda: best.get_information(eps=0), ValueError, r"`eps` must be > 0"),
        (lambda: best.plot_mask(sample=3), ValueError, "`sample` must be <= 2"),
        (lambda: best.plot_mask(sample=1.0), TypeError, "`sample` must be an integer"),
    ]
    for make, error, match in cases:
        with pytest.raises(error, match=match):
            make()


# ------------------------------------------------------------------ output_indices
W3 = tf.constant(RNG.uniform(size=(3, 6, 3)).astype("float32"))  # one weight map per class


def three_outputs(batch):
    """(rows, 3): output c weighs the squared cells by W3[c]."""
    return tf.einsum("ntf,ctf->nc", batch**2, W3)


def test_fit_with_output_indices_equals_the_fit_on_f_restricted_by_hand():
    x = RNG.normal(size=(2, 6, 3)).astype("float32")
    import tf_tsexplain.masks._fit as fit_loops

    kw = dict(keep_ratio=0.3, n_epoch=40, **fit_kwargs(learning_rate=0.2))
    reference = FadeReference(0.0)
    traces = 0
    for index in (1, 0):  # the same f twice: the cached loop must not keep the old index
        before = fit_loops.TRACES[0]
        chosen = Mask(reference, jit_compile=False).fit(
            x, three_outputs, output_indices=index, **kw
        )
        traces += fit_loops.TRACES[0] - before
        by_hand = Mask(reference, jit_compile=False).fit(
            x, lambda b, i=index: three_outputs(b)[:, i], **kw
        )
        np.testing.assert_allclose(chosen.mask_tensor, by_hand.mask_tensor, atol=1e-5)
        np.testing.assert_allclose(chosen.get_error(), by_hand.get_error(), rtol=1e-5)
        np.testing.assert_allclose(chosen.target, np.asarray(three_outputs(x))[:, index])
    assert traces <= 1  # the second index reused the first one's compiled loop
    # one index per series, and 'predicted' (the arg-max class of f(X) per series)
    predicted = np.argmax(np.asarray(three_outputs(x)), axis=1)

    def per_series(batch):  # MaskGroup rows are area-major: row % N is the series
        rows = tf.shape(batch)[0]
        picks = tf.gather(tf.constant(predicted, tf.int32), tf.range(rows) % 2)
        return tf.gather(three_outputs(batch), picks, axis=1, batch_dims=1)

    areas = [0.2, 0.5]
    gkw = dict(n_epoch=40, **fit_kwargs(learning_rate=0.2))
    by_hand = MaskGroup(FadeReference(0.0)).fit(x, per_series, areas, **gkw)
    for indices in ("predicted", predicted):
        group = MaskGroup(FadeReference(0.0)).fit(
            x, three_outputs, areas, output_indices=indices, **gkw
        )
        np.testing.assert_allclose(group.masks, by_hand.masks, atol=1e-5)
        np.testing.assert_allclose(group.errors, by_hand.errors, rtol=1e-5, atol=1e-7)
    # None keeps f's whole output; a single-output model's only output
    whole = Mask(FadeReference(0.0)).fit(x, three_outputs, **kw)
    assert whole.target.shape == (2, 3)
    single = Mask(FadeReference(0.0)).fit(x[0], _quadratic, n_epoch=2, output_indices=None)
    assert single.target.shape == (6,)
    # the reduced output is one value per row: class-probability losses are refused
    with pytest.raises(ValueError, match="output_indices reduces the outputs"):
        Mask(FadeReference(0.0), task="classification").fit(
            x, lambda b: tf.nn.softmax(three_outputs(b)), cross_entropy, output_indices=0
        )
    with pytest.raises(ValueError, match="out of range"):
        Mask(FadeReference(0.0)).fit(x, three_outputs, output_indices=3)
    with pytest.raises(ValueError, match="Received: output_indices='max'"):
        Mask(FadeReference(0.0)).fit(x, three_outputs, output_indices="max")


def test_reference_call_style_still_works():
    # Dynamask's call: Mask(pert).fit(X, f, loss_function=mse, keep_ratio=..., ...)
    x = RNG.normal(size=(6, 3)).astype("float32")
    mask = Mask(FadeMovingAverage()).fit(
        x, _quadratic, loss_function=mse, keep_ratio=0.1, size_reg_factor_init=0.01, n_epoch=5
    )
    assert mask.mask_tensor.shape == (6, 3) and mask.keep_ratio == 0.1


# ------------------------------------------------------------------ padding, multi-input
def _step_model(x):
    """A smooth model on which padded zero steps change nothing: sum_t tanh(x_t w)."""
    w = tf.constant([[0.7], [-1.1], [0.4]], x.dtype)
    return tf.reduce_sum(tf.tanh(tf.einsum("ntf,fo->nto", x, w)), axis=1) + 0.3


PERTURBATIONS = [
    lambda: GaussianBlur(sigma_max=1.5),
    FadeMovingAverage,
    lambda: FadeMovingAverageWindow(2),
    lambda: FadeMovingAveragePastWindow(1),
]


@pytest.mark.parametrize(
    "make, deletion_mode", [(make, False) for make in PERTURBATIONS] + [(PERTURBATIONS[0], True)]
)
def test_padded_series_get_the_masks_of_the_series_without_padding(make, deletion_mode):
    """Pre- and post-padded copies of two 7-step series give the unpadded fits' masks on
    their real steps (areas count real cells, perturbations see only real steps) and
    mask value 0 on padding; padded cells are never perturbed."""
    kw = dict(n_epoch=40, keep_ratio=0.3, learning_rate=0.5)
    plain = Mask(make(), deletion_mode=deletion_mode, jit_compile=False).fit(X, _step_model, **kw)
    padded = np.zeros((2, 10, 3), np.float32)
    padded[0, 3:], padded[1, :7] = X[0], X[1]  # pre-padding, post-padding
    real = np.zeros((2, 10), bool)
    real[0, 3:], real[1, :7] = True, True
    mask = Mask(make(), deletion_mode=deletion_mode, jit_compile=False).fit(
        padded, _step_model, padding_mask=real, **kw
    )
    got = mask.mask_tensor
    np.testing.assert_allclose(got[0, 3:], plain.mask_tensor[0], atol=3e-4)
    np.testing.assert_allclose(got[1, :7], plain.mask_tensor[1], atol=3e-4)
    assert np.all(got[~real] == 0.0)
    assert 0.05 < plain.mask_tensor.std()  # the masks are not flat: the check has teeth
    np.testing.assert_array_equal(mask.padding_mask, real)
    np.testing.assert_allclose(mask.get_error(), plain.get_error(), rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(mask.get_information(), plain.get_information(), rtol=2e-3)
    np.testing.assert_allclose(mask.get_entropy(), plain.get_entropy(), rtol=2e-3)
    smooth, plain_smooth = mask.get_smooth_mask(1.0), plain.get_smooth_mask(1.0)
    np.testing.assert_allclose(smooth[0, 3:], plain_smooth[0], atol=3e-4)
    assert np.all(smooth[~real] == 0.0)
    # padded cells are never perturbed, whatever the mask
    layer = MaskLayer((2, 10, 3), make(), initial_value=0.0)
    out = layer(tf.constant(padded), tf.constant(real[:, :, None], tf.float32)).numpy()
    np.testing.assert_array_equal(out[~real], padded[~real])


def test_masking_layer_padding_is_detected_and_groups_count_real_cells():
    import keras

    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((10, 3)),
            keras.layers.Masking(0.0),
            keras.layers.GRU(3),
            keras.layers.Dense(1),
        ]
    )
    padded = np.zeros((2, 10, 3), np.float32)
    padded[0, 3:], padded[1, :7] = X[0], X[1]
    kw = dict(n_epoch=20)
    group = MaskGroup(GaussianBlur(sigma_max=1.0), jit_compile=False).fit(
        padded, model, [0.2, 0.6], **kw
    )
    real = np.any(padded != 0, axis=-1)
    np.testing.assert_array_equal(group.padding_mask, real)
    assert np.all(group.masks[:, ~real] == 0.0)
    extremal = group.get_extremal_mask(1e9)  # the smallest area of every series
    np.testing.assert_array_equal(extremal.padding_mask, real)
    assert np.all(extremal.mask_tensor[~real] == 0.0)
    _, ax = extremal.plot_mask(sample=0)  # the 3 pre-padded steps hatched grey
    assert len(ax.collections) == 1 and np.all(ax.images[0].get_array().mask[:, :3])
    plt.close("all")


def test_multi_input_masks_cover_the_sequence_with_the_other_inputs_held():
    import keras

    keras.utils.set_random_seed(5)
    seq, static = keras.Input((7, 3), name="seq"), keras.Input((2,), name="static")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(seq), static])
    model = keras.Model([seq, static], keras.layers.Dense(1, activation="tanh")(h))
    s = np.array([[2.0, -1.0], [-3.0, 0.5]], np.float32)

    def by_hand(batch):  # row i is series i % 2, as the fit sends rows
        held = tf.gather(tf.constant(s), tf.range(tf.shape(batch)[0]) % 2)
        return model([batch, held])

    kw = dict(n_epoch=30)
    want = MaskGroup(FadeMovingAverage(), jit_compile=False).fit(X, by_hand, [0.3, 0.7], **kw)
    got = MaskGroup(FadeMovingAverage(), jit_compile=False).fit([X, s], model, [0.3, 0.7], **kw)
    named = Mask(FadeMovingAverage(), jit_compile=False).fit(
        {"seq": X, "static": s}, model, input_name="seq", **kw
    )
    np.testing.assert_allclose(got.masks, want.masks, atol=1e-6)
    np.testing.assert_array_equal(got.X, X)
    single = Mask(FadeMovingAverage(), jit_compile=False).fit(X, by_hand, **kw)
    np.testing.assert_allclose(named.mask_tensor, single.mask_tensor, atol=1e-6)
    with pytest.raises(ValueError, match="not a sequence input"):
        Mask(FadeMovingAverage(), jit_compile=False).fit([X, s], model, input_name="static", **kw)
    with pytest.raises(ValueError, match="`input_name` chooses an input"):
        Mask(FadeMovingAverage(), jit_compile=False).fit(X, by_hand, input_name="seq", **kw)


def test_padding_bad_input():
    class Shift:  # a perturbation that cannot take a padding mask
        def __call__(self, inputs, mask):
            return inputs * mask

    real = np.ones((2, 7), bool)
    real[0, :2] = False
    with pytest.raises(ValueError, match="does not take a padding mask"):
        Mask(Shift()).fit(X, _step_model, padding_mask=real, n_epoch=1)
    with pytest.raises(ValueError, match="padding_mask"):
        Mask(GaussianBlur()).fit(X, _step_model, padding_mask=real[:, :5], n_epoch=1)
    with pytest.raises(ValueError, match="padding_mask"):
        Mask(GaussianBlur()).fit(X, _step_model, padding_mask=np.zeros((2, 7), bool), n_epoch=1)


# ------------------------------------------------------------ compilation and chunks
def test_prefer_xla_decides_from_the_timings():
    from tf_tsexplain.masks._compile import MARGIN, TRIAL_EPOCHS, prefer_xla

    # slower, equal or barely faster with XLA: off (near ties keep XLA off)
    assert not prefer_xla(1.23, 2.8, 1.0, 500)  # the GRU(200) State fit of issue 28
    assert not prefer_xla(1.0, 1.0, 0.0, 10_000)
    assert not prefer_xla(1.0, 1.0 / MARGIN + 1e-3, 0.0, 10_000)
    assert not prefer_xla(1.0, None, 0.0, 10_000)  # XLA failed
    # much faster: on, if the saving over the epochs left pays for the compilation
    # and for the plain epochs a restart throws away
    assert prefer_xla(1.0, 0.2, 5.0, 100)  # saves 80 s for 5 s + 3 epochs
    assert not prefer_xla(1.0, 0.2, 5.0, 8)  # saves 6.4 s < 5 s + 3 s
    # no compilation: XLA at half the time pays once 0.5 s x epochs > 3 plain epochs
    assert TRIAL_EPOCHS + 1 == 3
    assert prefer_xla(1.0, 0.5, 0.0, 7) and not prefer_xla(1.0, 0.5, 0.0, 6)


@pytest.mark.parametrize("xla_seconds, xla_wins", [(5.0, False), (0.01, True)])
def test_auto_runs_the_mode_its_timings_favour(monkeypatch, xla_seconds, xla_wins):
    # timings injected: XLA 5 s per call (slower) or 10 ms (faster) against 1 s plain
    import tf_tsexplain.masks._compile as compile_choice
    from tf_tsexplain.masks import ExtremalMask, clear_fit_cache

    def timed(call, xla):
        call()
        return xla_seconds if xla else 1.0

    monkeypatch.setattr(compile_choice, "timed", timed)
    monkeypatch.setattr(compile_choice, "TIME_WITHOUT_GPU", True)  # time on this CPU too
    x = X[:, :6]
    kw = dict(n_epoch=12, **fit_kwargs(learning_rate=0.2))
    fade = FadeMovingAverage()
    clear_fit_cache()
    auto = Mask(fade).fit(x, _quadratic, **kw)
    assert auto.compilation.xla is xla_wins and auto.compilation.reason == "measured"
    assert (
        "XLA on" in auto.compilation.describe()
        if xla_wins
        else "XLA off" in auto.compilation.describe()
    )
    fixed = Mask(fade, jit_compile=xla_wins).fit(x, _quadratic, **kw)
    assert fixed.compilation.xla is xla_wins
    # exactly the masks of the chosen mode: kept plain epochs, or a restart under XLA
    np.testing.assert_array_equal(auto.mask_tensor, fixed.mask_tensor)
    again = Mask(fade).fit(x, _quadratic, **kw)  # the cached loop keeps its choice
    assert again.compilation is auto.compilation
    if xla_wins:
        return
    # ExtremalMask chooses the same way (one case: each fit traces or compiles)
    extremal = ExtremalMask().fit(x, _quadratic, n_epoch=8, learning_rate=0.05, seed=0)
    assert extremal.compilation.xla is False
    other = ExtremalMask(jit_compile=False).fit(
        x, _quadratic, n_epoch=8, learning_rate=0.05, seed=0
    )
    np.testing.assert_array_equal(extremal.mask_tensor, other.mask_tensor)
    # a fit too short to time runs without XLA and decides nothing for later fits
    clear_fit_cache()
    short = Mask(fade).fit(x, _quadratic, n_epoch=3)
    assert short.compilation.xla is False and "too short" in short.compilation.reason


def test_auto_without_gpu_runs_without_xla_untimed(monkeypatch):
    import tf_tsexplain.masks._compile as compile_choice
    from tf_tsexplain.masks import clear_fit_cache

    def timed(call, xla):  # the rule decides before any trial
        raise AssertionError("timed a trial")

    monkeypatch.setattr(compile_choice, "timed", timed)
    monkeypatch.setattr(compile_choice.tf.config, "list_physical_devices", lambda kind: [])
    x = X[:, :6]
    kw = dict(n_epoch=12, **fit_kwargs(learning_rate=0.2))
    clear_fit_cache()
    auto = Mask(FadeMovingAverage()).fit(x, _quadratic, **kw)
    assert auto.compilation.xla is False and "no GPU" in auto.compilation.reason
    plain = Mask(FadeMovingAverage(), jit_compile=False).fit(x, _quadratic, **kw)
    np.testing.assert_array_equal(auto.mask_tensor, plain.mask_tensor)


def test_plan_chunks_splits_areas_before_series():
    from tf_tsexplain.masks._fit import plan_chunks

    assert plan_chunks(10, 200, 663) == (2, 200)  # 5 calls of 400 rows, none padded
    assert plan_chunks(10, 200, 2000) == (10, 200)
    assert plan_chunks(7, 100, 350) == (1, 100)  # 3 areas: 3 calls, 9 computed for 7
    assert plan_chunks(8, 100, 350) == (2, 100)
    assert plan_chunks(1, 10, 4) == (1, 4)  # 3 calls of 4 series (the last padded)
    assert plan_chunks(3, 1, 1) == (1, 1)


def test_chunked_group_equals_the_joint_fit():
    x = RNG.normal(size=(3, 6, 3)).astype("float32")
    areas = [0.1, 0.3, 0.5, 0.8]
    sizes = []

    def f(batch):
        if not tf.executing_eagerly():  # the rows of the fit loop (not the checks)
            sizes.append(int(batch.shape[0]))
        return tf.reduce_sum(batch**2 * W3[0], axis=-1)

    kw = dict(n_epoch=30, **fit_kwargs(learning_rate=0.2))
    joint = MaskGroup(GaussianBlur(), jit_compile=False).fit(x, f, areas, **kw)
    assert max(sizes) == 12  # 4 areas x 3 series in one call
    for batch_size, rows in ((6, 6), (2, 2)):  # 2 areas x 3 series; 2 series x 1 area
        sizes.clear()
        chunked = MaskGroup(GaussianBlur(), jit_compile=False).fit(
            x, f, areas, batch_size=batch_size, **kw
        )
        assert max(sizes) == rows
        np.testing.assert_allclose(chunked.masks, joint.masks, atol=1e-5)
        np.testing.assert_allclose(chunked.errors, joint.errors, rtol=1e-4, atol=1e-7)
    assert joint.masks.min() < 0.2 and joint.masks.max() > 0.8  # it moved
