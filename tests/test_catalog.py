"""Quality scores (`smartollama.routing.catalog`): size, quantization, task, tiers, overrides."""

from __future__ import annotations

import itertools

import pytest

from smartollama import vocab
from smartollama.config import parse_config
from smartollama.routing import catalog

SIZES = ["0.5b", "1b", "1.5b", "3b", "7b", "8b", "14b", "32b", "70b", "405b"]
DESIGN_TIERS = {
    "high_quality": ["llama3:70b", "mixtral:8x7b"],
    "medium_quality": ["llama3:8b", "mistral:7b"],
    "low_quality": ["qwen2.5:1.5b", "phi-2:2.7b"],
    "ultra_efficient": ["qwen2.5:0.5b", "tinyllama:1b"],
}


@pytest.mark.parametrize("family", [*catalog.FAMILIES, "some-new-model"])
@pytest.mark.parametrize("task", vocab.TASKS)
def test_score_grows_with_parameters(family: str, task: str) -> None:
    scores = [catalog.quality(f"{family}:{s}", task) for s in SIZES]
    assert scores == sorted(scores), (family, task, scores)
    assert all(0.0 < q < 1.0 for q in scores)


def test_the_size_curve_is_log_ish() -> None:
    assert catalog.size_curve(0.5) == pytest.approx(0.40, abs=0.01)
    assert catalog.size_curve(8) == pytest.approx(0.68, abs=0.01)
    assert catalog.size_curve(70) == pytest.approx(0.83, abs=0.01)
    # each doubling adds less than the one before
    gains = [catalog.size_curve(2 * p) - catalog.size_curve(p) for p in (1, 2, 4, 8, 16, 32)]
    assert gains == sorted(gains, reverse=True)


def test_quantization_penalty() -> None:
    q = {t: catalog.quality(f"llama3:8b-instruct-{t}") for t in
         ("q2_K", "q3_K_M", "q4_0", "q4_K_M", "q5_K_M", "q6_K", "q8_0", "fp16")}
    assert q["q2_K"] < q["q3_K_M"] < q["q4_K_M"] == q["q4_0"] < q["q5_K_M"] < q["q6_K"]
    assert q["q6_K"] < q["q8_0"] < q["fp16"]
    assert q["q4_K_M"] - q["q3_K_M"] >= 0.03          # Q3 noticeably lower
    assert q["fp16"] - q["q4_K_M"] <= 0.03            # F16 only slightly higher
    # /api/show's quantization wins over an untagged name
    assert catalog.quality("llama3:8b", quantization="Q2_K") == q["q2_K"]


def test_task_bonuses() -> None:
    assert catalog.quality("qwen2.5-coder:7b", "code") > catalog.quality("qwen2.5:7b", "code")
    assert catalog.quality("qwen2.5-coder:7b", "chat") < catalog.quality("qwen2.5:7b", "chat")
    assert (catalog.quality("deepseek-r1:8b", "reasoning")
            > catalog.quality("llama3.1:8b", "reasoning"))
    assert catalog.quality("nomic-embed-text") < 0.05        # not a chat model


def test_family_lookup() -> None:
    assert catalog.family_of("qwen2.5-coder:7b") == "qwen25coder"
    assert catalog.family_of("llama3.2-vision:11b") == "llama32"
    assert catalog.family_of("phi-2:2.7b") == "phi"
    assert catalog.family_of("hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M") == "llama32"
    assert catalog.family_of("unheard-of:7b") is None


def test_params_from_name_info_or_family() -> None:
    assert catalog.params_of("mixtral:8x7b") == 56
    assert catalog.params_of("llama3") == 8                  # the family's latest
    assert catalog.params_of("llama3", 70.6) == 70.6         # /api/show wins
    assert catalog.params_of("unheard-of") == catalog.UNKNOWN.default_params_b


@pytest.mark.parametrize("task", vocab.TASKS)
def test_catalog_agrees_with_design_tiers(task: str) -> None:
    tiers = list(DESIGN_TIERS.values())
    for upper, lower in itertools.pairwise(tiers):
        assert min(catalog.quality(m, task) for m in upper) >= max(
            catalog.quality(m, task) for m in lower), (task, upper, lower)
    # and the built-in bands put each model in its tier
    for i, members in enumerate(tiers):
        for m in members:
            if m != "mixtral:8x7b":          # a MoE of 56B total sits low in its band
                assert catalog.band(catalog.quality(m)) == i, m


def _config(tiers: dict[str, list[str]], quality: str = "") -> object:
    lines = ["[model_equivalents]"]
    lines += [f"{k} = [" + ", ".join(f'"{m}"' for m in v) + "]" for k, v in tiers.items()]
    return parse_config("\n".join(lines) + "\n" + quality, "<test>")


@pytest.mark.parametrize("task", vocab.TASKS)
def test_tier_order_wins_over_the_catalog(task: str) -> None:
    # a config that contradicts the catalog: the tiny model in the top tier
    upside_down = {"high_quality": ["tinyllama:1b"], "medium_quality": ["llama3:8b"],
                   "low_quality": ["llama3:70b"]}
    sc = catalog.Scorer(_config(upside_down))  # type: ignore[arg-type]
    hi, mid, lo = (sc.score(m, task) for m in ("tinyllama:1b", "llama3:8b", "llama3:70b"))
    assert hi >= mid >= lo
    assert sc.tier("tinyllama:1b") == 0 and sc.tier("llama3:70b") == 2


def test_scorer_keeps_design_tier_scores_unchanged() -> None:
    sc = catalog.Scorer(_config(DESIGN_TIERS))  # type: ignore[arg-type]
    for members in DESIGN_TIERS.values():
        for m in members:
            assert sc.score(m, "general") == catalog.quality(m, "general")


def test_config_quality_overrides() -> None:
    cfg = _config({}, '[quality."llama3:8b"]\ncode = 0.9\n')
    sc = catalog.Scorer(cfg)  # type: ignore[arg-type]
    assert sc.score("llama3:8b", "code") == 0.9
    assert sc.score("llama3:8b", "general") == catalog.quality("llama3:8b")


def test_unlisted_models_take_the_band_of_their_score() -> None:
    sc = catalog.Scorer(_config(DESIGN_TIERS))  # type: ignore[arg-type]
    assert sc.tier("qwen2.5:32b") == 0
    assert sc.tier("qwen2.5:7b") == 1
    assert sc.tier("llama3.2:3b") == 2
    assert sc.tier("smollm2:135m") == 3
    assert sc.threshold_index == 1            # "medium" by default


@pytest.mark.parametrize("task", ["general", "chat", "summarize"])
def test_a_code_model_is_not_the_better_answer_to_a_general_question(task: str) -> None:
    # qwen2.5-coder:7b and qwen2.5:7b are the same size and generation
    assert catalog.quality("qwen2.5-coder:7b", task) < catalog.quality("qwen2.5:7b", task)
    assert catalog.quality("qwen2.5-coder:7b", "code") > catalog.quality("qwen2.5:7b", "code")
