"""Tidy tables: to_frame, aggregate and ranked interaction pairs."""

import numpy as np
import pytest

from tf_tsexplain.tables import (
    aggregate,
    interactions_frame,
    shapley_events_frame,
    shapley_features_frame,
    shapley_importance,
    to_frame,
)


def test_to_frame_round_trip_and_labels():
    attr = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    frame = to_frame(
        attr, feature_names=["a", "b"], time_index=[10, 20, 30], sample_ids=["x", "y"], inputs=-attr
    )
    assert len(frame) == 12
    np.testing.assert_array_equal(frame.attribution.to_numpy().reshape(attr.shape), attr)
    row = frame.iloc[7]  # sample 1, time 0, feature b
    assert (row["sample"], row["time"], row["feature"]) == ("y", 10, "b")
    assert row["value"] == -attr[1, 0, 1]
    assert to_frame(attr)["time"].dtype.kind == "i"
    with pytest.raises(ValueError, match="`feature_names` has 3 entries for 2 features"):
        to_frame(attr, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="`time_index` has 2 entries for 3 times"):
        to_frame(attr, time_index=[0, 1])
    with pytest.raises(ValueError, match=r"`inputs` must have the attributions' shape"):
        to_frame(attr, inputs=np.zeros(5))
    with pytest.raises(ValueError, match=r"`attributions` is empty"):
        to_frame(np.zeros((0, 3, 2)))


def test_aggregate_against_numpy_and_cancellation():
    attr = np.random.default_rng(0).normal(size=(4, 5, 3))
    np.testing.assert_allclose(aggregate(attr, "time", "mean_abs"), np.abs(attr).mean(1))
    np.testing.assert_allclose(aggregate(attr, "feature", "sum"), attr.sum(2))
    np.testing.assert_allclose(aggregate(attr, "sample", "max_abs"), np.abs(attr).max(0))
    np.testing.assert_allclose(aggregate(attr, "time", "sum_abs"), np.abs(attr).sum(1))
    np.testing.assert_allclose(aggregate(attr[0], "time", "mean"), attr[:1].mean(1))
    # a feature pushing up then down: its signed sum cancels, its magnitude does not
    flip = np.zeros((1, 2, 1))
    flip[0, :, 0] = [1.0, -1.0]
    assert (
        aggregate(flip, "time", "sum")[0, 0] == 0 and aggregate(flip, "time", "sum_abs")[0, 0] == 2
    )
    with pytest.raises(ValueError, match="`over` must be one of"):
        aggregate(attr, over="times")
    with pytest.raises(ValueError, match="`how` must be one of"):
        aggregate(attr, how="median")


def test_interactions_frame_ranks_pairs():
    gamma = np.zeros((2, 2, 2, 2))
    gamma[0, 1, 1, 0] = gamma[1, 0, 0, 1] = -3.0  # (t0, b) with (t1, a)
    gamma[0, 0, 1, 1] = gamma[1, 1, 0, 0] = 1.0  # (t0, a) with (t1, b)
    gamma[0, 0, 0, 0] = 100.0  # a main effect: not a pair
    table = interactions_frame(gamma, feature_names=["a", "b"])
    assert len(table) == 6  # 4 cells -> 6 unordered pairs
    top = table.iloc[0]
    assert (top.time_i, top.feature_i, top.time_j, top.feature_j) == (0, "b", 1, "a")
    assert top.interaction == -6.0 and table.iloc[1].interaction == 2.0
    assert len(interactions_frame(gamma, top_k=2)) == 2
    with pytest.raises(ValueError, match=r"must be \(T, F, T, F\)"):
        interactions_frame(np.zeros((2, 2, 2)))


def test_to_frame_drops_padded_rows():

    attr = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    real = np.array([[True, True, True, False], [False, True, True, True]])
    frame = to_frame(attr, inputs=attr, padding_mask=real)
    assert len(frame) == real.sum() * 3
    assert set(zip(frame["sample"], frame["time"], strict=True)) == {
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 2),
        (1, 3),
    }
    np.testing.assert_array_equal(frame.attribution.to_numpy(), attr[real].ravel())
    with pytest.raises(ValueError, match=r"`padding_mask` must have shape \(2, 4\)"):
        to_frame(attr, padding_mask=real[:, :2])


# ---------------------------------------------------------------------- Shapley values
def test_shapley_events_frame_lists_kept_events_from_the_end_then_the_pruned():
    values = np.arange(12.0).reshape(2, 6) / 10
    frame = shapley_events_frame(values, window_start=[3, 0], pruned=[0.5, 9.0])
    assert list(frame.columns) == ["sample", "position", "time", "pruned", "shapley"]
    first = frame[frame["sample"] == 0]
    assert first["position"].tolist()[:3] == [-1, -2, -3] and first["time"].tolist()[:3] == [
        5,
        4,
        3,
    ]
    assert first["pruned"].tolist() == [False, False, False, True]
    assert first["shapley"].tolist() == [0.5, 0.4, 0.3, 0.5]
    assert len(frame) == 4 + 6  # sequence 1: nothing pruned, no pruned row
    table = shapley_importance(frame)
    assert table["position"].iloc[:2].tolist() == [-1, -2] and table["pruned"].iloc[-1]
    np.testing.assert_allclose(table["mean_abs"].iloc[0], (0.5 + 1.1) / 2)
    assert table["count"].tolist() == [2, 2, 2, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="`window_start` must have one entry per sample"):
        shapley_events_frame(values, window_start=[1])


def test_shapley_features_frame_and_importance():
    values = np.array([[0.1, -0.6, 0.2], [0.3, -0.2, 0.0]])
    frame = shapley_features_frame(values, [0.05, np.nan], ["a", "b", "c"], ["s0", "s1"])
    assert len(frame) == 3 + 1 + 3  # s1 had nothing pruned: no pruned row
    assert frame["feature"].tolist()[:4] == ["a", "b", "c", "pruned events"]
    table = shapley_importance(frame)
    assert table["feature"].tolist() == ["b", "a", "c", "pruned events"]
    np.testing.assert_allclose(table["mean"], [-0.4, 0.2, 0.1, 0.05])
    with pytest.raises(ValueError, match="`feature_names` has 2 entries for 3 features"):
        shapley_features_frame(values, feature_names=["a", "b"])


def test_aggregate_with_padding_leaves_padded_cells_out():
    rng = np.random.default_rng(3)
    attr = rng.normal(size=(2, 5, 3))
    real = np.array([[False, False, True, True, True], [True, True, True, True, False]])
    junk = np.where(real[:, :, None], attr, 40.0)
    for how in ("sum_abs", "mean_abs", "sum", "mean", "max_abs"):
        got = aggregate(junk, "time", how, padding_mask=real)
        want = np.stack(
            [
                aggregate(attr[0, 2:][None], "time", how)[0],
                aggregate(attr[1, :4][None], "time", how)[0],
            ]
        )
        np.testing.assert_allclose(got, want, err_msg=how)
    by_step = aggregate(junk, "sample", "mean", padding_mask=real)
    np.testing.assert_allclose(by_step[0], attr[1, 0])  # only sample 1 is real at step 0
    np.testing.assert_allclose(by_step[2], attr[:, 2].mean(0))
    per_step = aggregate(junk, "feature", "sum", padding_mask=real)
    assert np.isnan(per_step[0, 0]) and np.isnan(per_step[1, 4])
    with pytest.raises(ValueError, match="padding_mask"):
        aggregate(junk, "time", padding_mask=real[:, :3])
