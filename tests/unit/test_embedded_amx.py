from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from runtime.engines._embedded import _without_amx_buffers


def bindings(system_info: bytes) -> Any:
    """The two functions of llama-cpp-python's low-level module that the loader touches."""
    return SimpleNamespace(
        llama_print_system_info=lambda: system_info,
        llama_model_default_params=lambda: SimpleNamespace(use_extra_bufts=True),
    )


def test_a_build_with_amx_kernels_loads_models_without_extra_buffers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    amx = bindings(b"CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 | ")
    defaults = amx.llama_model_default_params
    with _without_amx_buffers(amx, "qwen"):
        assert amx.llama_model_default_params().use_extra_bufts is False
    assert amx.llama_model_default_params is defaults  # put back after the load
    assert "qwen: this llama.cpp build has AMX kernels" in caplog.text


def test_a_build_without_amx_kernels_is_left_alone() -> None:
    avx2 = bindings(b"CPU : AVX2 = 1 | FMA = 1 | REPACK = 1 | ")
    with _without_amx_buffers(avx2, "qwen"):
        assert avx2.llama_model_default_params().use_extra_bufts is True
