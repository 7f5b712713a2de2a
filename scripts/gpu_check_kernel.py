"""What ``scripts/gpu_check.py`` runs inside each notebook's kernel, before and after its cells.

The check executes a *copy* of each notebook with one cell added at the top
(:func:`setup`) and one at the end (:func:`report`); the committed notebooks are
not touched. Both are driven by environment variables that ``gpu_check.py`` sets:

* ``BERTEDU_GPU_CHECK_HUB``: a folder of local copies of the Hub datasets in their
  exact schemas (``tests/hub_datasets.py``); ``datasets.load_dataset`` reads them for
  exactly the Hub names the gpu profile asks for (a machine without network);
* ``BERTEDU_GPU_CHECK_MAX_STEPS``: at most this many pretraining updates per
  ``bertedu.pretraining.pretrain`` call (its evaluation and checkpoint intervals cut
  to fit), so a chapter fits its share of a short GPU lease;
* ``BERTEDU_GPU_CHECK_REPORT``: where :func:`report` writes the kernel's facts as JSON
  (the GPU's name and the largest memory torch's allocator held, the Hub calls made,
  the pretraining runs capped);
* ``BERTEDU_GPU_CHECK_REHEARSE=1``: a rehearsal of the gpu profile's code on a CPU
  (before a short GPU lease is spent on it): the profile is ``gpu`` although no GPU is
  there (tensors stay on the CPU; pretraining compiles on a GPU only), the gpu recipe's
  pretraining data comes in batches of 32, and question-answering fine-tuning runs one
  epoch.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HUB_ENV, MAX_STEPS_ENV, REPORT_ENV, REHEARSE_ENV = (
    "BERTEDU_GPU_CHECK_HUB",
    "BERTEDU_GPU_CHECK_MAX_STEPS",
    "BERTEDU_GPU_CHECK_REPORT",
    "BERTEDU_GPU_CHECK_REHEARSE",
)
_STATE: dict[str, Any] = {"hub_calls": [], "capped_runs": [], "rehearsal": False}


def cap_pretraining_steps(max_steps: int | None, *, rehearsal: bool = False) -> None:
    """Make ``bertedu.pretraining.pretrain`` run at most ``max_steps`` updates from now on.

    A recipe with more updates is replaced by a copy with ``total_steps=max_steps`` (and
    evaluation and checkpoint intervals no longer than that); each cut is recorded.
    ``rehearsal``: ``prepare_data`` also makes the gpu recipe's batches at most 32 (on a
    CPU); its held-out share stays the GPU run's, so the same documents are held out.
    """
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"{MAX_STEPS_ENV} must be a positive number of updates, got {max_steps}")
    import bertedu.pretraining as pretraining

    real = pretraining.pretrain

    @functools.wraps(real)
    def pretrain(recipe, **kwargs):
        train = recipe.train
        if max_steps is not None and train.total_steps > max_steps:
            _STATE["capped_runs"].append({"from": train.total_steps, "to": max_steps})
            recipe = recipe.replace(
                total_steps=max_steps,
                eval_every=min(train.eval_every, max_steps),
                checkpoint_every=min(train.checkpoint_every, max_steps),
            )
        return real(recipe, **kwargs)

    pretraining.pretrain = pretrain
    if rehearsal:  # small batches on a CPU; the held-out share stays the GPU run's
        real_prepare = pretraining.prepare_data

        @functools.wraps(real_prepare)
        def prepare_data(recipe, *args, **kwargs):
            if recipe.profile == "gpu":  # the other recipes' data stays exactly theirs
                recipe = recipe.replace(
                    batch_size=min(recipe.batch_size, 32),
                    eval_batch_size=min(recipe.eval_batch_size, 32),
                )
            return real_prepare(recipe, *args, **kwargs)

        pretraining.prepare_data = prepare_data


def rehearse_gpu_profile_on_cpu() -> None:
    """The gpu profile without a GPU: ``resolve_profile`` answers ``gpu`` (the device stays the
    CPU) and question-answering fine-tuning runs one epoch."""
    import bertedu.profile
    import bertedu.qa.finetune as qa_finetune

    bertedu.profile.resolve_profile = lambda requested=None: "gpu"
    real = qa_finetune.finetune

    @functools.wraps(real)
    def finetune(model, features, recipe, **kwargs):
        return real(model, features, recipe.replace(epochs=min(recipe.epochs, 1)), **kwargs)

    qa_finetune.finetune = finetune
    _STATE["rehearsal"] = True


def setup() -> None:
    """The first cell: local Hub copies and the step cap, as the environment asks."""
    hub = os.environ.get(HUB_ENV)
    if hub:
        sys.path.insert(0, str(REPO / "tests"))
        try:
            import hub_datasets
        finally:
            sys.path.remove(str(REPO / "tests"))
        cache = Path(tempfile.mkdtemp(prefix="gpu-check-hub-cache-"))
        _STATE["hub_calls"] = hub_datasets.use_local_hub(Path(hub), cache)
    rehearsal = os.environ.get(REHEARSE_ENV) == "1"
    max_steps = os.environ.get(MAX_STEPS_ENV)
    if max_steps or rehearsal:
        cap_pretraining_steps(int(max_steps) if max_steps else None, rehearsal=rehearsal)
    if rehearsal:
        rehearse_gpu_profile_on_cpu()


def kernel_facts() -> dict[str, Any]:
    """The GPU, torch's peak allocator memory (MiB), Hub calls and capped runs of this kernel."""
    facts: dict[str, Any] = {
        "hub_calls": [list(call) for call in _STATE["hub_calls"]],
        "capped_pretraining_runs": _STATE["capped_runs"],
        "rehearsal_on_cpu": _STATE["rehearsal"],
        "gpu": None,
        "torch_peak_allocated_mib": None,
        "torch_peak_reserved_mib": None,
    }
    facts["imported_distributions"] = imported_distributions()
    torch = sys.modules.get("torch")  # a notebook that never imported torch used no GPU
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["torch_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        facts["torch_peak_reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    return facts


def imported_distributions() -> list[str]:
    """The installed distributions whose modules this kernel imported (what a machine with
    another set of packages must have for the notebook to run)."""
    import importlib.metadata

    by_module = importlib.metadata.packages_distributions()
    names = {module.split(".")[0] for module in list(sys.modules)}
    return sorted({dist for name in names for dist in by_module.get(name, [])})


def report() -> None:
    """The last cell: write :func:`kernel_facts` where ``BERTEDU_GPU_CHECK_REPORT`` says."""
    target = os.environ.get(REPORT_ENV)
    if target:
        Path(target).write_text(json.dumps(kernel_facts(), indent=1) + "\n", encoding="utf-8")
