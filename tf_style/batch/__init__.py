"""Batches (`-jobs`): many independent jobs over `tf.distribute` replicas.

`jobs.py` reads a batch (a CSV file or a folder of content images); `distribute.py` runs its jobs
in waves, one job per replica.
"""

from tf_style.batch.distribute import make_strategy, run_jobs, tpu_strategy
from tf_style.batch.jobs import read_jobs

__all__ = ["make_strategy", "read_jobs", "run_jobs", "tpu_strategy"]
