"""The explanation report: one self-contained HTML file to open, browse and send.

:func:`write_report` writes it from arrays (one or several methods of the same inputs),
:func:`report_from_job` from the Parquet output of a batch job. The page needs no
network and no server: Plotly's JavaScript, the styles and the data are inlined.
"""

from tf_tsexplain.report.job import report_from_job
from tf_tsexplain.report.write import write_report

__all__ = ["report_from_job", "write_report"]
