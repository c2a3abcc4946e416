"""Reading responses: TF Serving answers of the ``explain`` signature as tidy tables."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from tf_tsexplain.tables import to_frame


def parse_explain_response(response, feature_names=None, time_index=None) -> pd.DataFrame:
    """Tidy table from a TF Serving response of the ``explain`` signature.

    Args:
        response: the JSON body (str, bytes or the parsed dict) of a ``predict``
            request with ``signature_name="explain"``: row format
            ``{"predictions": [{"attributions": ..., ...}, ...]}`` (request with
            ``instances``) or columnar ``{"outputs": {"attributions": ..., ...}}``
            (request with ``inputs``).
        feature_names: F names (default ``f0, f1, ...``).
        time_index: T labels (default ``0..T-1``).

    Returns:
        The table of :func:`tf_tsexplain.tables.to_frame` (columns ``sample, time,
        feature, attribution``, N * T * F rows) with the per-instance columns
        ``explained_index, explained_prediction, baseline_prediction,
        approximation_error`` repeated on each of the instance's rows.
    """
    if isinstance(response, bytes | bytearray):
        response = response.decode("utf-8")
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except json.JSONDecodeError as err:
            raise ValueError(f"`response` is not valid JSON: {err}") from None
    if not isinstance(response, Mapping):
        raise ValueError("`response` must be a JSON object with 'predictions' or 'outputs'.")
    if "error" in response:
        raise ValueError(f"The server returned an error: {response['error']}")
    if "predictions" in response:
        rows = response["predictions"]
        if not isinstance(rows, list) or not rows or not isinstance(rows[0], Mapping):
            raise ValueError(
                "`response['predictions']` must be a non-empty list of objects, one per "
                "instance, as TF Serving returns for the explain signature."
            )
        columns = {key: [row.get(key) for row in rows] for key in rows[0]}
    elif "outputs" in response and isinstance(response["outputs"], Mapping):
        columns = dict(response["outputs"])
    else:
        raise ValueError("`response` has neither 'predictions' nor 'outputs'.")
    if "attributions" not in columns:
        raise ValueError(
            f"The response has no 'attributions' (outputs: {', '.join(sorted(columns))}); "
            "was the request sent with signature_name='explain'?"
        )
    attributions = np.asarray(columns["attributions"], dtype=np.float32)
    if attributions.ndim != 3:
        raise ValueError(
            f"'attributions' must be (N, T, F) sequences, got shape {attributions.shape}."
        )
    frame = to_frame(attributions, feature_names=feature_names, time_index=time_index)
    n, t, f = attributions.shape
    for key in ("explained_index", "explained_prediction", "baseline_prediction"):
        if key in columns:
            frame[key] = np.repeat(np.asarray(columns[key]), t * f)
    if "approximation_error" in columns:
        frame["approximation_error"] = np.repeat(
            np.asarray(columns["approximation_error"], np.float64), t * f
        )
    return frame
