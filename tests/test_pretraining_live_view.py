"""The live view of chapter 5's run: the loop's evaluation hook (update 0 and every evaluation),
the fill-in lines it prints, and the figure and table it replaces in place in a notebook."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

from bertedu.data.corpus import load_corpus
from bertedu.model import BertConfig, BertForPreTraining
from bertedu.pretraining import get_recipe, prepare_data, pretrain
from bertedu.pretraining import live as live_module
from bertedu.pretraining.live import LiveView, Panel, live_panels
from bertedu.tokenization import load_tokenizer
from bertedu.train import TrainConfig, read_metrics, train

SENTENCES = ["Paris is the capital [MASK] France.", "The film was directed [MASK] a friend."]
BASELINES = {
    "unigram": {"mask_accuracy": 0.063, "mask_loss": 7.08},
    "copy_rule": {"mask_accuracy": 0.063},
    "nsp_majority": {"nsp_accuracy": 0.524},
    "nsp_word_overlap": {"nsp_accuracy": 0.845},
}
SHIPPED = {"mask_accuracy": 0.36, "mask_loss": 4.14, "nsp_accuracy": 0.87}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


class Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": ((self.linear(x).squeeze(-1) - y) ** 2).mean()}


def regression_batches(count: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(4, 3, generator=g), "y": torch.randn(4, generator=g)}] * count


def test_the_loop_calls_the_hook_at_update_0_and_at_every_evaluation(tmp_path):
    calls = []

    def hook(step, model, metrics):
        calls.append((step, model, dict(metrics)))

    def evaluate(model):
        return {"metric": float(sum(p.sum() for p in model.parameters()))}

    config = TrainConfig(total_steps=5, lr=1e-2, eval_every=2, progress=False)
    torch.manual_seed(0)
    model = Regression()
    watched = train(
        model,
        regression_batches(3),
        config=config,
        evaluate=evaluate,
        metrics_path=tmp_path / "watched.jsonl",
        on_evaluation=hook,
        evaluate_first=True,
    )
    assert [step for step, _, _ in calls] == [0, 2, 4, 5]  # update 0, every 2, the last
    assert all(seen is model for _, seen, _ in calls)  # the model being trained
    logged = read_metrics(tmp_path / "watched.jsonl", "eval")
    assert [r["step"] for r in logged] == [0, 2, 4, 5]
    assert [r["metric"] for r in logged] == [metrics["metric"] for _, _, metrics in calls]
    # evaluating before the first update does not change the run
    torch.manual_seed(0)
    plain = train(Regression(), regression_batches(3), config=config, evaluate=evaluate)
    assert watched.losses == plain.losses
    assert watched.eval_metrics == plain.eval_metrics


def test_pretrain_shows_update_0_and_every_evaluation_with_the_fill_in_lines(
    tmp_path, tokenizer, capsys
):
    recipe = get_recipe("smoke", total_steps=4, eval_every=2, checkpoint_every=4)
    documents = load_corpus("embedded", limit=recipe.corpus_limit)
    data = prepare_data(recipe, tokenizer, seed=0, documents=documents)
    view = LiveView(
        tokenizer,
        SENTENCES,
        live_panels(data.stats["baselines"]),
        total_steps=4,
        notebook=False,
    )
    run = pretrain(
        recipe,
        output_dir=tmp_path / "run",
        data=data,
        tokenizer=tokenizer,
        progress=False,
        on_evaluation=view,
    )
    printed = capsys.readouterr().out
    assert [r["step"] for r in view.records] == [0, 2, 4]
    assert sorted(view.guesses) == [0, 2, 4]
    for step in (0, 2, 4):
        block = printed.split(f"update {step:,}, best guesses:\n")[1].splitlines()[:2]
        for line, sentence, guesses in zip(block, SENTENCES, view.guesses[step], strict=True):
            assert line == f"  {sentence}  ->  {' · '.join(guesses)}"
            assert len(guesses) == 3
    # the view keeps what the loop logged, update 0 included
    logged = read_metrics(tmp_path / "run" / "metrics.jsonl", "eval")
    assert [r["step"] for r in logged] == [0, 2, 4]
    assert view.records[-1]["mask_accuracy"] == run.result.eval_metrics["mask_accuracy"]
    assert view.records[0]["mask_loss"] == logged[0]["mask_loss"]


class FakeHandle:
    def __init__(self, shown):
        self.shown = [shown]

    def update(self, obj):
        self.shown.append(obj)


def test_in_a_notebook_one_figure_and_one_table_are_replaced_in_place(monkeypatch, tokenizer):
    import IPython.display

    handles = []

    def display(obj, display_id=False):
        assert display_id is True  # only handles that can be updated later
        handles.append(FakeHandle(obj))
        return handles[-1]

    monkeypatch.setattr(IPython.display, "display", display)
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig.tiny(vocab_size=len(tokenizer))).eval()
    view = LiveView(
        tokenizer, SENTENCES, live_panels(BASELINES, SHIPPED), total_steps=200, notebook=True
    )
    with view:
        for step in (0, 100, 200):
            view(step, model, {"mask_accuracy": 0.06, "mask_loss": 7.0, "nsp_accuracy": 0.5})
            print(f"the loop's report of update {step}")
    assert len(handles) == 2  # made once, at update 0
    figure, table = handles
    assert [type(shown).__name__ for shown in figure.shown] == ["Image"] * 3
    assert figure.shown[-1].data.startswith(b"\x89PNG")
    assert [type(shown).__name__ for shown in table.shown] == ["HTML"] * 3
    last = table.shown[-1].data
    assert "Paris is the capital [MASK] France." in last
    assert all(f">{step}</th>" in last for step in (0, 100, 200))
    # the loop's own lines went to the view's log, not to the cell
    assert view.log.splitlines() == [f"the loop's report of update {s}" for s in (0, 100, 200)]


def test_the_figure_draws_each_metric_against_its_levels():
    view = LiveView(
        load_tokenizer(),
        SENTENCES[:1],
        live_panels(BASELINES, SHIPPED),
        total_steps=1100,
        notebook=False,
    )
    view.records = [
        {"split": "eval", "step": s, "mask_accuracy": a, "mask_loss": loss, "nsp_accuracy": n}
        for s, a, loss, n in ((0, 0.06, 7.1, 0.5), (100, 0.08, 6.9, 0.6))
    ]
    figure = view.figure()
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == [
        "accuracy at [MASK]",
        "loss at [MASK] (nats)",
        "next-sentence accuracy",
    ]
    for ax in axes:
        assert ax.get_xlim()[1] >= 1100  # the whole run's width from the start
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in axes]
    assert legends[0] == [
        "this run",
        "shipped BERT-Tiny (36.0%)",
        "unigram rule = copy rule (6.3%)",
    ]
    assert legends[1] == ["this run", "shipped BERT-Tiny (4.14)", "unigram rule (7.08)"]
    assert legends[2][2:] == ["majority class (52.4%)", "word-overlap rule (84.5%)"]
    shipped = [ax.get_lines()[1] for ax in axes]  # one style for the trained model everywhere
    assert len({(line.get_color(), line.get_linestyle()) for line in shipped}) == 1
    curve = axes[1].get_lines()[0]
    assert list(curve.get_xdata()) == [0, 100] and list(curve.get_ydata()) == [7.1, 6.9]


def test_panels_without_a_reference_and_bad_sentences(tokenizer):
    panels = live_panels(BASELINES)
    assert [p.key for p in panels] == ["mask_accuracy", "mask_loss", "nsp_accuracy"]
    assert all("shipped" not in name for p in panels for name in p.lines)
    assert [p.percent for p in panels] == [True, False, True]
    for bad in ("no hidden word here.", "[MASK] and [MASK]."):
        with pytest.raises(ValueError, match=r"exactly one \[MASK\]"):
            LiveView(tokenizer, [bad], panels, total_steps=10)
    with pytest.raises(ValueError, match="at least one Panel"):
        LiveView(tokenizer, SENTENCES, [], total_steps=10)
    assert isinstance(panels[0], Panel)


def test_outside_a_kernel_the_view_prints(tokenizer):
    assert live_module.in_notebook() is False  # pytest runs no Jupyter kernel
    view = LiveView(tokenizer, SENTENCES, live_panels(BASELINES), total_steps=10)
    assert view.notebook is False
    model = BertForPreTraining(BertConfig.tiny(vocab_size=len(tokenizer)))
    with view:  # outside a notebook nothing is redirected
        view(0, model, {"mask_accuracy": 0.0, "mask_loss": 9.0, "nsp_accuracy": 0.5})
    assert view.log == ""
