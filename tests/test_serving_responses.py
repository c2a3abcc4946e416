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
