"""Reading responses: TF Serving answers of the ``explain`` signature as tidy tables."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from tf_tsexplain.tables import to_frame


def parse_explain_response(response, feature_names=None, time_index=None):
    """Tidy table(s) from a TF Serving response of the ``explain`` signature.

    Args:
        response: the JSON body (str, bytes or the parsed dict) of a ``predict``
            request with ``signature_name="explain"``: row format
            ``{"predictions": [{"attributions": ..., ...}, ...]}`` (request with
            ``instances``) or columnar ``{"outputs": {"attributions": ..., ...}}``
            (request with ``inputs``).
        feature_names: F names (default ``f0, f1, ...``); for a multi-input export, a
            dict of names by input name (inputs left out get the default).
        time_index: T labels (default ``0..T-1``); for a multi-input export, a dict
            by input name, or one list for every sequence input.

    Returns:
        The table of :func:`tf_tsexplain.tables.to_frame` (columns ``sample, time,
        feature, attribution``, N * T * F rows) with the per-instance columns
        ``explained_index, explained_prediction, baseline_prediction,
        approximation_error`` repeated on each of the instance's rows. For a
        multi-input export (outputs ``attributions_<input name>``), a dict of such
        tables by input name (sorted), each with its rows; an input without a time
        axis (static covariates ``(N, S)``) has no ``time`` column.
    """
    columns = _columns(response)
    names = sorted(k[len("attributions_") :] for k in columns if k.startswith("attributions_"))
    if "attributions" in columns:
        attributions = np.asarray(columns["attributions"], dtype=np.float32)
        if attributions.ndim != 3:
            raise ValueError(
                f"'attributions' must be (N, T, F) sequences, got shape {attributions.shape}."
            )
        frame = to_frame(attributions, feature_names=feature_names, time_index=time_index)
        return _with_instances(frame, columns, attributions[0].size)
    if not names:
        raise ValueError(
            f"The response has no 'attributions' (outputs: {', '.join(sorted(columns))}); "
            "was the request sent with signature_name='explain'?"
        )
    for arg, value in (("feature_names", feature_names), ("time_index", time_index)):
        unknown = sorted(set(value) - set(names)) if isinstance(value, Mapping) else []
        if unknown:
            raise ValueError(
                f"`{arg}` names {unknown}, which are not inputs of the response {names}."
            )
    if feature_names is not None and not isinstance(feature_names, Mapping):
        raise TypeError(
            f"The response holds the inputs {names}: `feature_names` must be a dict of "
            f"names by input name. Received: {type(feature_names).__name__}."
        )
    frames = {}
    for name in names:
        attributions = np.asarray(columns[f"attributions_{name}"], dtype=np.float32)
        features = (feature_names or {}).get(name)
        times = time_index.get(name) if isinstance(time_index, Mapping) else time_index
        if attributions.ndim == 2:  # static covariates: no time axis
            frame = to_frame(attributions[:, None], feature_names=features).drop(columns="time")
        elif attributions.ndim == 3:
            frame = to_frame(attributions, feature_names=features, time_index=times)
        else:
            raise ValueError(
                f"'attributions_{name}' must be (N, T, F) sequences or (N, S) covariates, "
                f"got shape {attributions.shape}."
            )
        frames[name] = _with_instances(frame, columns, attributions[0].size)
    return frames


def _columns(response) -> dict:
    """The outputs of a response, one list per output (row and columnar formats)."""
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
        return {key: [row.get(key) for row in rows] for key in rows[0]}
    if "outputs" in response and isinstance(response["outputs"], Mapping):
        return dict(response["outputs"])
    raise ValueError("`response` has neither 'predictions' nor 'outputs'.")


def _with_instances(frame: pd.DataFrame, columns: dict, cells: int) -> pd.DataFrame:
    """``frame`` with the per-instance outputs repeated on each of the ``cells`` rows of
    an instance."""
    for key in ("explained_index", "explained_prediction", "baseline_prediction"):
        if key in columns:
            frame[key] = np.repeat(np.asarray(columns[key]), cells)
    if "approximation_error" in columns:
        frame["approximation_error"] = np.repeat(
            np.asarray(columns["approximation_error"], np.float64), cells
        )
    return frame
