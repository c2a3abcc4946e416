"""Plots of sequence explanations (matplotlib).

Every function takes an optional Axes, returns ``(figure, axes)`` and never calls
``plt.show()``; all work with the Agg backend. path_explain's plots keep their call
signatures (with its bugs fixed); the sequence views are for ``(N, T, F)`` data; the
Shapley views (``shapley_*``, ``pruning_plot``) for ``SequenceShap``'s results;
``faithfulness_plot`` for the table of ``tf_tsexplain.metrics.compare_explainers``.
"""

from tf_tsexplain.plot.faithfulness import faithfulness_plot
from tf_tsexplain.plot.sequence import (
    attribution_over_time,
    comparison_grid,
    interaction_heatmap,
    sis_plot,
    time_feature_heatmap,
)
from tf_tsexplain.plot.shapley import (
    pruning_plot,
    shapley_beeswarm,
    shapley_cell_heatmap,
    shapley_event_heatmap,
    shapley_feature_bar,
)
from tf_tsexplain.plot.summary import scatter_plot, summary_plot
from tf_tsexplain.plot.text import bar_interaction_plot, matrix_interaction_plot, text_plot

__all__ = [
    "attribution_over_time",
    "bar_interaction_plot",
    "comparison_grid",
    "faithfulness_plot",
    "interaction_heatmap",
    "matrix_interaction_plot",
    "pruning_plot",
    "scatter_plot",
    "shapley_beeswarm",
    "shapley_cell_heatmap",
    "shapley_event_heatmap",
    "shapley_feature_bar",
    "sis_plot",
    "summary_plot",
    "text_plot",
    "time_feature_heatmap",
]
