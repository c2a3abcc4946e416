"""What a worker process of a distributed runner (Beam, Spark) sets up once."""

from __future__ import annotations

import os


def cap_threads(threads: int) -> None:
    """At most ``threads`` threads per TensorFlow pool in this process.

    The worker processes of one machine then share its cores instead of each starting
    one thread per core. Takes effect only before TensorFlow starts its runtime (a
    fresh worker process); in a process where it already runs (Beam's in-process
    runner, a reused Spark worker) the pools stay as they are.

    Args:
        threads: threads of TensorFlow's intra-op and inter-op pools (and OpenMP's).
    """
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # "cannot be modified after initialization"
        pass
