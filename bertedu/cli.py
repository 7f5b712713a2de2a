"""The command line: ``python -m bertedu pretrain --profile {smoke,cpu,gpu} ...``.

    python -m bertedu pretrain --profile cpu                      # minutes on a laptop, embedded
    corpus
    python -m bertedu pretrain --profile cpu --resume             # continue where a killed run
    stopped
    python -m bertedu pretrain --profile cpu --overwrite          # start again (the old run is
    moved aside)
    python -m bertedu pretrain --profile smoke --steps 5          # seconds (CI)
    torchrun --standalone --nproc_per_node=4 -m bertedu pretrain --profile gpu   # 4 GPUs, DDP
    python -m bertedu finetune-qa --task extractive --encoder minilm --output runs/qa  # a reader
    python -m bertedu answer --reader runs/qa --question "..." --context "..."  # ask it

It prints the configuration and where it writes: checkpoints
(``step-NNNNNNNN/``), ``metrics.jsonl``, ``run.json`` and ``loss.png`` in the
output folder (default ``runs/pretrain-<profile>``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bertedu.arguments import positive_int, seed
from bertedu.profile import PROFILES

LONGER_RECIPES = ("live", "cpu-long")  # recipes beyond the profiles: name them to run them

if TYPE_CHECKING:  # the command imports torch and the package only once it runs
    from bertedu.pretraining import PretrainRecipe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bertedu", description="bertedu: BERT built from scratch."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    pre = commands.add_parser(
        "pretrain",
        help="pretrain a BERT (MLM + NSP) with checkpoints and a metrics log",
        description="Pretrain BERT-Tiny with MLM + NSP. Writes checkpoints, metrics.jsonl, "
        "run.json and loss.png to --output.",
    )
    pre.add_argument(
        "--profile",
        default="auto",
        choices=(*PROFILES, *LONGER_RECIPES, "auto"),
        help="smoke (seconds), live (chapter 5's live run: 1,100 updates on short pairs), cpu "
        "(about 20 minutes on 2 cores), cpu-long (5,000 updates, "
        "about 80 minutes on one thread; the shipped bert-tiny-wiki is it extended to 10,000 "
        "with --resume --extend-steps --steps 10000), gpu (WikiText-103, bf16); "
        "auto: gpu when CUDA is available, else cpu",
    )
    pre.add_argument(
        "--corpus",
        help="embedded | mix:prose | mix:default | wikitext-2 | wikitext-103 | PATH to a .txt "
        "file or folder "
        "(default: the profile's)",
    )
    pre.add_argument("--output", type=Path, help="output folder (default: runs/pretrain-<profile>)")
    pre.add_argument(
        "--resume",
        action="store_true",
        help="continue from the newest checkpoint in --output (same profile, seed, corpus "
        "and steps, or it is refused)",
    )
    pre.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh although --output holds a run: the old run is moved aside to "
        "OUTPUT.old-<timestamp> (nothing is deleted)",
    )
    pre.add_argument(
        "--extend-steps",
        action="store_true",
        help="with --resume: allow --steps to differ from the run's total (the rest of the "
        "learning-rate schedule changes)",
    )
    pre.add_argument(
        "--checkpoint",
        type=Path,
        help="resume from this step-NNNNNNNN folder instead of the newest (e.g. when the newest "
        "is damaged); implies --resume",
    )
    pre.add_argument(
        "--steps", type=positive_int, help="optimizer updates in total (default: the profile's)"
    )
    pre.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of initialisation, pairing, order and masks (0 to 2**32 - 1)",
    )
    pre.add_argument(
        "--threads",
        type=positive_int,
        help="torch CPU threads (default: one per core; on a machine shared "
        "with other jobs, 1 is often faster)",
    )
    pre.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    from bertedu.qa.answer_command import add_parser as add_answer
    from bertedu.qa.command import add_parser as add_finetune_qa  # imports torch

    add_finetune_qa(commands)
    add_answer(commands)
    return parser


def recipe_from_args(args: argparse.Namespace, profile: str) -> PretrainRecipe:
    """The profile's recipe with ``--corpus`` and ``--steps`` applied."""
    from bertedu.pretraining import get_recipe

    recipe = get_recipe(profile)
    if args.corpus:
        limit = recipe.corpus_limit if profile == "smoke" else None  # a new corpus, all of it
        recipe = recipe.replace(corpus=args.corpus, corpus_limit=limit)
    if args.steps is not None:
        if args.steps < 1:
            raise SystemExit("--steps must be at least 1")
        recipe = recipe.replace(
            total_steps=args.steps,
            eval_every=min(recipe.train.eval_every, args.steps),
            checkpoint_every=min(recipe.train.checkpoint_every, args.steps),
        )
    return recipe


def pretrain_command(args: argparse.Namespace) -> int:
    """Run ``pretrain`` as parsed from the command line."""
    import json

    import torch

    from bertedu.pretraining import pretrain
    from bertedu.pretraining.run import CorpusError
    from bertedu.train import CheckpointMismatchError, distributed
    from bertedu.train.checkpoint import ExistingRunError
    from bertedu.train.output_path import OutputPathError
    from bertedu.train.resume import ResumeMismatchError

    # What a user's output folder can hold that stops a run: each message says what to do.
    folder_errors = (
        ExistingRunError,
        ResumeMismatchError,
        CheckpointMismatchError,
        NotADirectoryError,
        IsADirectoryError,
        FileNotFoundError,
        CorpusError,
        OutputPathError,
    )
    if args.overwrite and (args.resume or args.checkpoint):
        raise SystemExit("--overwrite starts afresh; it cannot be combined with --resume.")
    if args.extend_steps and not (args.resume or args.checkpoint):
        raise SystemExit("--extend-steps applies to --resume only.")

    if args.threads is not None:
        cores = os.cpu_count() or 1
        if args.threads > cores:
            raise SystemExit(
                f"--threads {args.threads}: this machine has {cores} CPU core(s); pass at most "
                f"{cores} (more threads than cores only make each update slower)."
            )
        torch.set_num_threads(args.threads)
    profile = args.profile if args.profile in LONGER_RECIPES else _profile(args.profile)
    recipe = recipe_from_args(args, profile)
    output = args.output or Path("runs") / f"pretrain-{profile}"
    info = distributed.init_distributed()
    if info.is_main:
        print(
            f"bertedu pretrain: profile {profile}, seed {args.seed}, {info.world_size} "
            f"process(es) on {info.device}, {torch.get_num_threads()} thread(s)"
        )
        for key, value in recipe.to_dict().items():
            print(f"  {key:<24} {json.dumps(value)}")
        print(
            f"writing to {output.resolve()}: checkpoints step-NNNNNNNN/, metrics.jsonl, "
            "run.json, loss.png" + (" (resuming)" if args.resume or args.checkpoint else "")
        )
    try:
        run = pretrain(
            recipe,
            output_dir=output,
            seed=args.seed,
            resume=args.resume,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            extend_steps=args.extend_steps,
            resume_from=args.checkpoint,
        )
    except folder_errors as error:  # the message says what to do; a traceback would bury it
        raise SystemExit(f"bertedu pretrain: {error}") from error
    except KeyboardInterrupt:
        print(f"\nbertedu pretrain: interrupted. {_how_to_resume(args, profile, output)}")
        return 130
    except OSError as error:  # read-only folder, full disk: the run stops, its checkpoints stay
        message = _disk_error(error, output, args, profile)
        raise SystemExit(f"bertedu pretrain: {message}") from error
    if info.is_main:
        baselines = run.data.stats["baselines"]
        try:
            _save_plot(run.output_dir, baselines["unigram"]["mask_loss"])
        except OSError as error:  # the run is saved; only its plot did not fit
            message = _disk_error(error, output, args, profile)
            raise SystemExit(f"bertedu pretrain: {message}") from error
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in run.result.eval_metrics.items())
        held_out = (
            f"held-out {metrics}"
            if metrics
            else "no update was left to do (the run had already reached its total); its "
            f"held-out scores are in {run.output_dir / 'metrics.jsonl'}"
        )
        print(f"done: {run.result.step} updates in {run.result.elapsed_s:.0f} s; {held_out}")
        print(
            "baselines at [MASK]: unigram loss "
            f"{baselines['unigram']['mask_loss']:.3f}, accuracy "
            f"{baselines['unigram']['mask_accuracy']:.3f}; NSP: majority "
            f"{baselines['nsp_majority']['nsp_accuracy']:.3f}, word overlap "
            f"{baselines['nsp_word_overlap']['nsp_accuracy']:.3f}"
        )
        print(f"last checkpoint: {run.result.checkpoint}")
    distributed.cleanup()
    return 0


def _profile(requested: str) -> str:
    """The profile to run; ``--profile gpu`` without CUDA names the flag to pass instead."""
    from bertedu.profile import resolve_profile

    try:
        return resolve_profile(requested)
    except ValueError as error:
        if requested == "gpu":
            raise SystemExit(
                "bertedu pretrain: --profile gpu needs a CUDA GPU, and this machine has none "
                "that torch can use. Pass --profile cpu (or --profile auto, which picks the GPU "
                "when there is one)."
            ) from None
        raise SystemExit(f"bertedu pretrain: {error}") from None


def _how_to_resume(args: argparse.Namespace, profile: str, output: Path) -> str:
    """Where the run stands and the command that continues it."""
    from bertedu.train.run_folder import latest_checkpoint

    found = latest_checkpoint(output)
    flags = [f"--profile {profile}", f"--output {output}"]
    flags += [f"--corpus {args.corpus}"] if args.corpus else []
    flags += [f"--steps {args.steps}"] if args.steps is not None else []
    flags += [f"--seed {args.seed}"] if args.seed else []
    command = "python -m bertedu pretrain " + " ".join(flags) + " --resume"
    if found is None:
        return f"No checkpoint was written yet; start again with the same command, or: {command}"
    return f"The last complete checkpoint is {found}. Continue the run with:\n    {command}"


def _disk_error(error: OSError, output: Path, args: argparse.Namespace, profile: str) -> str:
    """A read-only folder or a full disk, said plainly, with what to do."""
    import errno

    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"the disk is full ({error.filename or output}): {error.strerror}. Free some space "
            f"(or pick another --output). {_how_to_resume(args, profile, output)}"
        )
    if error.errno == errno.ENAMETOOLONG:
        return (
            f"a path under the --output folder is too long for the file system "
            f"({len(os.fsencode(str(error.filename or output)))} bytes). Pick a shorter --output."
        )
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"cannot write to {error.filename or output} ({error.strerror}). Pick an --output "
            "folder you can write to, or change its permissions."
        )
    raise error


def _save_plot(output_dir: Path, unigram_loss: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bertedu.train.plots import plot_training

    ax = plot_training(
        output_dir / "metrics.jsonl", reference_lines={"unigram baseline at [MASK]": unigram_loss}
    )
    ax.figure.savefig(output_dir / "loss.png", dpi=120, bbox_inches="tight")
    plt.close(ax.figure)


class UsageError(SystemExit):
    """A command stopped on a bad input: its message (already printed to stderr) and exit
    status 2, as argparse's own refusals; ``str()`` is the message."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bertedu``.

    A command refuses a bad input with ``SystemExit("what is wrong and what to do")``; that
    message goes to stderr and the exit status is 2 (:class:`UsageError`), not a traceback.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = _parser().parse_args(argv)
    try:
        return _run_command(args)
    except SystemExit as stop:
        if not isinstance(stop.code, str):
            raise
        print(stop.code, file=sys.stderr)
        raise UsageError(stop.code) from None


def _run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit status."""
    if args.command == "pretrain":
        return pretrain_command(args)
    if args.command == "finetune-qa":
        from bertedu.qa.command import finetune_qa_command

        return finetune_qa_command(args)
    if args.command == "answer":
        from bertedu.qa.answer_command import answer_command

        return answer_command(args)
    raise AssertionError(args.command)
