"""Training: a generic loop and checkpoints that resume exactly, for any model and task.

Nothing here knows BERT, a data source or a task: it imports nothing from
:mod:`bertedu.model`, :mod:`bertedu.data`, :mod:`bertedu.pretraining`,
:mod:`bertedu.qa` or :mod:`bertedu.viz`. BERT pretraining is built on top of it
in :mod:`bertedu.pretraining`, QA fine-tuning in :mod:`bertedu.qa.finetune`.

Modules (one idea each; each importable on its own):

* :mod:`bertedu.train.config`: ``TrainConfig``, the loop's hyper-parameters (lr, warmup,
  clipping, accumulation, precision, compile, logging/eval/checkpoint intervals).
* :mod:`bertedu.train.optim`: ``build_optimizer(model, lr, weight_decay, betas, eps)`` (AdamW,
  no decay on biases and LayerNorm), ``warmup_linear_schedule(optimizer, warmup_steps,
  total_steps)``.
* :mod:`bertedu.train.checkpoint`: ``save_checkpoint``, ``load_checkpoint`` (safetensors +
  JSON, never unpickled), over
  :mod:`~bertedu.train.atomic_files` (atomic writes, temporaries of killed writes),
  :mod:`~bertedu.train.weights_file` (``save_weights``/``load_weights``: tied tensors once,
  config and digest checked), :mod:`~bertedu.train.optimizer_state` (AdamW's state by
  parameter name), :mod:`~bertedu.train.checkpoint_state` (``state.json`` read as untrusted
  data: names, types, ranges, digest) and :mod:`~bertedu.train.run_folder` (a run's folder:
  claimed by one run, ``latest_checkpoint``, pruning, cleaning after ``kill -9``), with
  :mod:`~bertedu.train.folder_lock` (one writer per folder) and
  :mod:`~bertedu.train.export_folder` (an export's folder, claimed the same way).
* :mod:`bertedu.train.resume_checks`: a checkpoint's optimizer and schedule checked against
  the run's config; :mod:`bertedu.train.best_weights`: the best evaluation's weights, kept
  where a resumption finds them; :mod:`bertedu.train.interrupt`: Ctrl-C saves, then stops.
* :mod:`bertedu.train.rng`: capture/restore Python, NumPy, torch, CUDA and named generators.
* :mod:`bertedu.train.batches`: data sources the loop accepts and the data position it resumes
  from (``ReshuffledBatches``: a shuffling DataLoader resumed inside an epoch exactly).
* :mod:`bertedu.train.resume`: which checkpoint a resumption continues, and the refusal
  (``ResumeMismatchError``) to continue a run of other settings or data.
* :mod:`bertedu.train.loop`: ``train(...)``, the loop itself; ``NonFiniteLossError``.
* :mod:`bertedu.train.metrics_log`: the JSON-lines metrics log (``MetricsLog``, ``read_metrics``).
* :mod:`bertedu.train.plots`: ``plot_training`` loss curves, ``smooth``.
* :mod:`bertedu.train.distributed`: DDP under ``torchrun`` (``init_distributed``, ``shard``).

The API, for any model whose ``forward(**batch)`` returns an object with a scalar
``.loss`` (pretraining, extractive QA, an encoder-decoder)::

    from bertedu.train import TrainConfig, train

    config = TrainConfig(total_steps=1000, lr=1e-3, warmup_fraction=0.1, max_grad_norm=1.0,
                         grad_accumulation=1, eval_every=200, checkpoint_every=200)
    result = train(model, batches, config=config,
                   evaluate=lambda model: {"accuracy": ...},  # optional, in eval mode, no grad
                   checkpoint_dir="runs/qa", resume=True,      # continue a killed run exactly
                   generators={"data": generator})             # RNGs the data draws from
    result.losses, result.eval_metrics, result.checkpoint      # per-update losses, last eval,
    folder

``batches`` yields dicts of tensors passed as ``model(**batch)``: a list, a DataLoader, a
function ``epoch -> batches``, or an object with ``epoch_batches(epoch, start)`` (exact resume).
"""

from bertedu.train.checkpoint import (
    CheckpointMismatchError,
    latest_checkpoint,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from bertedu.train.config import TrainConfig
from bertedu.train.loop import NonFiniteLossError, TrainResult, train
from bertedu.train.metrics_log import read_metrics
from bertedu.train.optim import build_optimizer, warmup_linear_schedule

__all__ = [
    "TrainConfig",
    "train",
    "TrainResult",
    "NonFiniteLossError",
    "build_optimizer",
    "warmup_linear_schedule",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "save_weights",
    "load_weights",
    "CheckpointMismatchError",
    "read_metrics",
]
