"""Memory need and speed defaults (`smartollama.routing.estimate`), against known figures."""

from __future__ import annotations

import dataclasses

import pytest

from smartollama.fleet import GB, BackendState, LoadedModel, ModelInfo
from smartollama.routing import estimate

GiB = 1024**3

# llama3:8b Q4_0 as /api/show reports it
LLAMA3_8B = ModelInfo(name="llama3:8b", size_bytes=4_661_224_676, parameter_size="8.0B",
                      quantization="Q4_0", family="llama", block_count=32,
                      embedding_length=4096, head_count=32, head_count_kv=8,
                      context_length=8192)
LLAMA3_70B = ModelInfo(name="llama3:70b", size_bytes=39_969_745_349, parameter_size="70.6B",
                       quantization="Q4_0", family="llama", block_count=80,
                       embedding_length=8192, head_count=64, head_count_kv=8,
                       context_length=8192)


def test_kv_cache_llama3_8b_at_4096_is_half_a_gib() -> None:
    # 2 (K, V) x 32 layers x 8 KV heads x 128 head dim x 4096 tokens x 2 bytes (f16)
    kv = estimate.kv_cache_bytes(block_count=32, head_count_kv=8, key_length=128,
                                 value_length=128, num_ctx=4096)
    assert kv == 512 * 1024**2 == GiB // 2


def test_kv_cache_llama3_70b_at_4096() -> None:
    kv = estimate.kv_cache_bytes(block_count=80, head_count_kv=8, key_length=128,
                                 value_length=128, num_ctx=4096)
    assert kv == 1280 * 1024**2          # 1.25 GiB


def test_graph_follows_graphsize_llama_full_offload() -> None:
    g = estimate.graph_bytes(embedding_length=4096, head_count=32, head_count_kv=8,
                             num_ctx=4096, kv_bytes=GiB // 2)
    batch = 512
    attention = 4 * batch * (1 + 4 * 4096 + 4096 * (1 + 32))
    output = 4 * batch * (4096 + estimate.VOCAB_GUESS)
    assert g == max(attention, output)
    assert 0.3e9 < g < 0.33e9


def test_graph_falls_back_to_gqa_kv_over_6_without_shape() -> None:
    g = estimate.graph_bytes(embedding_length=None, head_count=32, head_count_kv=8,
                             num_ctx=4096, kv_bytes=600)
    assert g == 4 * 600 // 6


def test_from_model_info_llama3_8b() -> None:
    need = estimate.memory_need("llama3:8b", 4096, info=LLAMA3_8B)
    assert need.basis == "model_info"
    assert need.weights_gb == pytest.approx(4.661, abs=1e-3)
    assert need.kv_gb == pytest.approx(GiB / 2 / GB)          # 0.537 GB
    assert need.graph_gb is not None and 0.3 < need.graph_gb < 0.33
    assert need.memory_gb == pytest.approx(4.661 + 0.537 + 0.320, abs=0.01)
    assert "KV cache (4096 tokens)" in need.describe()


def test_from_model_info_llama3_70b_matches_the_design_notes_40_gb() -> None:
    need = estimate.memory_need("llama3:70b", 4096, info=LLAMA3_70B)
    assert 41.0 < need.memory_gb < 42.5          # 40 GB of weights + 1.34 KV + graph


def test_kv_grows_linearly_with_context() -> None:
    a = estimate.memory_need("llama3:8b", 4096, info=LLAMA3_8B)
    b = estimate.memory_need("llama3:8b", 8192, info=LLAMA3_8B)
    assert b.kv_gb == pytest.approx(2 * (a.kv_gb or 0))


def test_context_length_request_then_config_capped_by_model() -> None:
    assert estimate.context_length(None, 4096, LLAMA3_8B) == 4096
    assert estimate.context_length(2048, 4096, LLAMA3_8B) == 2048
    assert estimate.context_length(131072, 4096, LLAMA3_8B) == 8192      # model's limit
    assert estimate.context_length(None, 4096, None) == 4096


def test_observed_beats_the_formula() -> None:
    st = BackendState(id="gpu", observed={("llama3:8b", 4096): (int(6.2e9), int(6.2e9))})
    obs = estimate.observed_size("llama3:8b", 4096, st)
    need = estimate.memory_need("llama3:8b", 4096, info=LLAMA3_8B, observed=obs)
    assert need.basis == "observed" and need.memory_gb == pytest.approx(6.2)
    assert need.observed_gpu_share == 1.0
    # another context length was not observed: the formula
    assert estimate.observed_size("llama3:8b", 8192, st) is None


def test_a_loaded_model_gives_its_real_size_and_share() -> None:
    st = BackendState(id="gpu", loaded={"llama3:70b": LoadedModel(
        "llama3:70b", int(42e9), int(23e9), context_length=4096)})
    obs = estimate.observed_size("llama3:70b", 4096, st)
    assert obs == (int(42e9), int(23e9))
    need = estimate.memory_need("llama3:70b", 4096, info=LLAMA3_70B, observed=obs)
    assert need.observed_gpu_share == pytest.approx(23 / 42)
    assert estimate.loaded_here("llama3:70b", 4096, st)
    # loaded with another context: Ollama reloads it
    assert not estimate.loaded_here("llama3:70b", 8192, st)


def test_observed_elsewhere_gives_the_size_not_the_share() -> None:
    here = BackendState(id="igpu")
    elsewhere = {("llama3:8b", 4096): (int(6.0e9), int(3.0e9))}
    assert estimate.observed_size("llama3:8b", 4096, here, elsewhere) == (int(6e9), int(6e9))


def test_name_fallback_from_params_and_quantization() -> None:
    need = estimate.memory_need("llama3:70b", 4096)
    assert need.basis == "name"
    assert need.weights_gb == pytest.approx(70 * 4.85 / 8)           # Q4_K_M by default
    q8 = estimate.memory_need("llama3:70b-instruct-q8_0", 4096)
    assert (q8.weights_gb or 0) == pytest.approx(70 * 8.5 / 8)
    small = estimate.memory_need("qwen2.5:0.5b", 4096)
    assert small.memory_gb < 1.0


def test_tags_size_without_model_info() -> None:
    info = ModelInfo(name="mistral:7b", size_bytes=4_113_301_824)
    need = estimate.memory_need("mistral:7b", 4096, info=info)
    assert need.basis == "tags" and need.weights_gb == pytest.approx(4.113, abs=1e-3)
    assert need.memory_gb > (need.weights_gb or 0)


def test_name_without_size_uses_the_family_default() -> None:
    need = estimate.memory_need("llama3", 4096)                      # llama3:latest is 8B
    assert need.weights_gb == pytest.approx(8 * 4.85 / 8)


def test_speed_defaults_and_offload_penalty() -> None:
    assert estimate.default_tokens_per_s("nvidia", 8) == pytest.approx(112.5)
    assert estimate.default_tokens_per_s("npu", 0.5) == pytest.approx(120)
    assert estimate.default_tokens_per_s("cpu", 1000) == estimate.TPS_MIN
    base = 100.0
    assert estimate.offload_tokens_per_s(base, 1.0) == base
    assert estimate.offload_tokens_per_s(base, 0.0) == pytest.approx(10.0)
    assert estimate.offload_tokens_per_s(base, 0.6) == pytest.approx(100 / (0.6 + 4.0))
    assert estimate.default_load_gb_per_s("igpu") == 1.0
    assert estimate.default_load_gb_per_s("unknown") == estimate.LOAD_GB_PER_S["auto"]


# gemma3:4b as the library's GGUF describes it: 34 layers, every sixth global, the rest
# keeping a 1024-token window (fs/ggml GraphSize's gemma3 case)
GEMMA3_4B = ModelInfo(name="gemma3:4b", size_bytes=3_338_801_804, parameter_size="4.3B",
                      quantization="Q4_K_M", family="gemma3", block_count=34,
                      embedding_length=2560, head_count=8, head_count_kv=4, key_length=256,
                      value_length=256, context_length=131072, sliding_window=1024)


@pytest.mark.parametrize("slots", [1, 2])
def test_sliding_window_layers_keep_a_window_per_slot_and_a_batch(slots: int) -> None:
    ctx = 32768 * slots
    need = estimate.from_model_info(GEMMA3_4B, ctx, slots)
    assert need is not None
    per_token_layer = 2 * 4 * 256 * 2     # K and V, 4 KV heads, head dim 256, f16
    global_layers, local_layers = 34 // 6, 34 - 34 // 6
    window = slots * 1024 + estimate.NUM_BATCH
    expected = per_token_layer * (global_layers * ctx + local_layers * window)
    assert need.kv_gb * GB == pytest.approx(expected, rel=1e-9)
    full = estimate.from_model_info(dataclasses.replace(GEMMA3_4B, sliding_window=None), ctx)
    assert full is not None and need.kv_gb < full.kv_gb / 4


def test_a_context_inside_the_window_is_not_cut() -> None:
    short = estimate.from_model_info(GEMMA3_4B, 1024)
    full = estimate.from_model_info(dataclasses.replace(GEMMA3_4B, sliding_window=None), 1024)
    assert short is not None and full is not None and short.kv_gb == full.kv_gb


def test_only_gemma3s_window_is_read_from_api_show() -> None:
    """gemma2 lists a window too, but Ollama's estimate keeps its whole context."""
    from smartollama.sim.payloads import show_of
    from smartollama.sim.spec import ModelSpec
    from smartollama.snapshot import _show_summary

    assert _show_summary(show_of(ModelSpec(name="gemma3:4b")))["sliding_window"] == 1024
    gemma2 = show_of(ModelSpec(name="gemma2:2b"))
    gemma2["model_info"]["gemma2.attention.sliding_window"] = 4096
    assert "sliding_window" not in _show_summary(gemma2)


def test_the_simulator_loads_a_sliding_window_model_in_what_the_router_plans() -> None:
    """The simulated host and the estimate agree on gemma3's KV cache at a long context."""
    from smartollama.sim.spec import OVERHEAD_BYTES, ModelSpec

    spec = ModelSpec(name="gemma3:4b")
    ctx = 131072
    sim_kv = spec.memory_need(ctx) - spec.size_bytes - OVERHEAD_BYTES
    info = dataclasses.replace(GEMMA3_4B, key_length=spec.head_dim, value_length=spec.head_dim,
                               size_bytes=spec.size_bytes)
    need = estimate.from_model_info(info, ctx)
    assert need is not None
    assert need.kv_gb * GB == pytest.approx(sim_kv, rel=1e-6)
    assert sim_kv < spec.kv_cache_bytes(ctx) / 4      # five layers in six keep a window


def test_layers_that_share_an_earlier_layers_kv_cache_keep_none() -> None:
    """gemma3n: 35 layers, the last 15 reuse earlier caches (`shared_kv_layers`)."""
    gemma3n = ModelInfo(name="gemma3n:e4b", size_bytes=7_547_589_116, block_count=35,
                        embedding_length=2048, head_count=8, head_count_kv=2, key_length=256,
                        value_length=256, context_length=32768, shared_kv_layers=15)
    need = estimate.from_model_info(gemma3n, 8192)
    alone = estimate.from_model_info(dataclasses.replace(gemma3n, shared_kv_layers=None), 8192)
    assert need is not None and alone is not None
    assert need.kv_gb == pytest.approx(alone.kv_gb * 20 / 35)


def test_api_show_gives_the_shared_kv_layers() -> None:
    from smartollama.snapshot import _show_summary

    show = {"model_info": {"general.architecture": "gemma3n", "gemma3n.block_count": 35,
                           "gemma3n.attention.shared_kv_layers": 15}}
    assert _show_summary(show)["shared_kv_layers"] == 15
