"""Plots of sequence explanations (matplotlib)."""

from tf_tsexplain.plot.heatmap import plot_time_feature

__all__ = ["plot_time_feature"]
