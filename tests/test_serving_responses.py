"""serving.responses: TF Serving answers of the explain signature as tidy tables."""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from serving_support import F, T

from tf_tsexplain.serving import parse_explain_response


def test_parse_explain_response_row_and_columnar(artifacts):
    sig = tf.saved_model.load(str(artifacts["root"] / "ig")).signatures["explain"]
    out = {k: v.numpy() for k, v in sig(inputs=tf.constant(artifacts["x"])).items()}
    n = len(artifacts["x"])
    rows = [{k: v[i].tolist() for k, v in out.items()} for i in range(n)]
    frame = parse_explain_response(json.dumps({"predictions": rows}), feature_names=list("abc"))
    assert len(frame) == n * T * F and list(frame.feature[:3]) == ["a", "b", "c"]
    np.testing.assert_allclose(
        frame.attribution.to_numpy().reshape(n, T, F), out["attributions"], atol=1e-7
    )
    per_instance = frame.groupby("sample").approximation_error.first().to_numpy()
    np.testing.assert_allclose(per_instance, out["approximation_error"], rtol=1e-6)
    columnar = {"outputs": {k: v.tolist() for k, v in out.items()}}
    pd.testing.assert_frame_equal(
        parse_explain_response(json.dumps(columnar).encode()),
        parse_explain_response({"predictions": rows}),
    )
    with pytest.raises(ValueError, match="signature_name='explain'"):
        parse_explain_response({"predictions": [{"predictions": [0.1, 0.9]}]})
    with pytest.raises(ValueError, match="server returned an error"):
        parse_explain_response({"error": "Serving signature name: 'x' not found"})
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_explain_response("{not json")


def test_parse_multi_input_response_per_input(two_input_artifacts):
    art = two_input_artifacts
    x, mask = art["x"], art["mask"]
    sig = tf.saved_model.load(str(art["root"] / "two_ig")).signatures["explain"]
    out = {k: v.numpy() for k, v in sig(**x, padding_mask=tf.constant(mask)).items()}
    rows = [{k: v[i].tolist() for k, v in out.items()} for i in range(len(mask))]
    frames = parse_explain_response(
        json.dumps({"predictions": rows}), feature_names={"static": ["age", "income", "tenure"]}
    )
    assert list(frames) == ["sequence", "static"]
    seq, static = frames["sequence"], frames["static"]
    np.testing.assert_allclose(
        seq.attribution.to_numpy().reshape(x["sequence"].shape), out["attributions_sequence"]
    )
    assert "time" not in static and list(static.feature[:3]) == ["age", "income", "tenure"]
    np.testing.assert_allclose(
        static.attribution.to_numpy().reshape(x["static"].shape), out["attributions_static"]
    )
    errors = static.groupby("sample").approximation_error.first().to_numpy()
    np.testing.assert_allclose(errors, out["approximation_error"], rtol=1e-6)
    columnar = {"outputs": {k: v.tolist() for k, v in out.items()}}
    for name, frame in parse_explain_response(columnar).items():
        pd.testing.assert_frame_equal(frame, parse_explain_response({"predictions": rows})[name])
    with pytest.raises(TypeError, match="`feature_names` must be a dict"):
        parse_explain_response(columnar, feature_names=["a", "b"])
    with pytest.raises(ValueError, match=r"`time_index` names \['seq'\]"):
        parse_explain_response(columnar, time_index={"seq": range(5)})
    bad = {"outputs": {"attributions_sequence": [1.0, 2.0]}}
    with pytest.raises(ValueError, match=r"'attributions_sequence' must be .* got shape \(2,\)"):
        parse_explain_response(bad)
