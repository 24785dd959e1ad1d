"""Mixed precision: what runs in bfloat16, what stays in float32, how ``auto`` picks between
them on each kind of machine, what results record, and the errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robustness_scaling import runtime
from robustness_scaling.runtime import (
    Runtime,
    cpu_bfloat16_speedup,
    mixed_precision,
    precision_of,
    provenance,
    resolve_autocast,
)

CPU_BF16 = Runtime.resolve(device="cpu", autocast="bfloat16")


def test_matmuls_run_in_bfloat16_while_weights_and_gradients_stay_float32():
    layer = torch.nn.Linear(4, 3)
    with mixed_precision(CPU_BF16):
        out = layer(torch.ones(2, 4))
        assert not torch.backends.cuda.flash_sdp_enabled()  # the flag covers CPU kernels too
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == layer.weight.grad.dtype == torch.float32
    assert layer(torch.ones(2, 4)).dtype == torch.float32  # the context is left behind
    assert torch.backends.cuda.flash_sdp_enabled()


def test_a_training_step_inside_the_context_changes_the_next_forward():
    """The whole stage runs inside the context: cached bfloat16 weights would go stale."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    with mixed_precision(CPU_BF16):
        before = layer(torch.ones(2, 4))
        before.float().sum().backward()
        optimizer.step()
        after = layer(torch.ones(2, 4))
    assert not torch.equal(before, after)


def test_no_autocast_leaves_everything_in_the_models_dtype():
    layer = torch.nn.Linear(4, 3)
    with mixed_precision(Runtime.resolve(device="cpu", autocast=None)):
        assert layer(torch.ones(2, 4)).dtype == torch.float32
    with mixed_precision(Runtime.resolve(device="cpu", autocast="float32")):
        assert layer(torch.ones(2, 4)).dtype == torch.float32


def test_float16_autocast_is_refused_with_the_reason():
    message = r"autocast 'float16' is not supported; allowed: auto, float32, bfloat16"
    with (
        pytest.raises(ValueError, match=message),
        mixed_precision(Runtime.resolve(device="cpu", autocast="float16")),
    ):
        pass


@pytest.fixture
def machine_cache(tmp_path, monkeypatch):
    """A fresh per-machine cache, so a test measures (or fakes) the CPU itself."""
    monkeypatch.setenv("ROBUSTNESS_SCALING_CACHE", str(tmp_path))
    return tmp_path


def _resolve_in_a_fresh_process(cache: Path, **env: str) -> str:
    """``auto`` on this CPU as a job sees it, with the ISA overrides in ``env`` applied."""
    code = (
        "import torch; from robustness_scaling.runtime import resolve_autocast; "
        "print(resolve_autocast('auto', torch.device('cpu')))"
    )
    environment = {**os.environ, "ROBUSTNESS_SCALING_CACHE": str(cache), **env}
    out = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_auto_is_float32_on_a_cpu_without_fast_bfloat16(machine_cache):
    """ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 gives any x86 CPU the AVX2-only path,
    where a bfloat16 matmul runs 20-90x slower than float32."""
    if "avx2" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("needs an x86 CPU with AVX2")
    avx2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    assert _resolve_in_a_fresh_process(machine_cache, **avx2) == "float32"
    speedup = next(iter(json.loads((machine_cache / "cpu-bfloat16.json").read_text()).values()))
    assert speedup < 0.5


def test_auto_is_bfloat16_on_a_cpu_with_avx512_bf16_or_amx(machine_cache):
    flags = Path("/proc/cpuinfo").read_text()
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        pytest.skip("this CPU has neither AVX512-BF16 nor AMX")
    assert _resolve_in_a_fresh_process(machine_cache) == "bfloat16"


def test_the_cpu_measurement_is_made_once_per_machine(machine_cache, monkeypatch):
    calls = []

    def fake(autocast: bool) -> float:
        calls.append(autocast)
        return 1.0 if autocast else 4.0

    assert cpu_bfloat16_speedup(fake) == 4.0
    assert cpu_bfloat16_speedup(fake) == 4.0
    assert calls == [False, True]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # another kernel set: measured anew
    assert cpu_bfloat16_speedup(lambda autocast: 50.0 if autocast else 1.0) == 0.02


def test_auto_follows_the_measurement_and_explicit_choices_are_honoured(machine_cache, monkeypatch):
    cpu = torch.device("cpu")
    for speedup, expected in ((4.3, "bfloat16"), (1.1, "float32"), (0.02, "float32")):
        monkeypatch.setattr(runtime, "cpu_bfloat16_speedup", lambda speedup=speedup: speedup)
        assert resolve_autocast("auto", cpu) == expected
        assert resolve_autocast("float32", cpu) == "float32"
        assert resolve_autocast("bfloat16", cpu) == "bfloat16"


def test_auto_on_cuda_asks_for_native_bfloat16(monkeypatch):
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(
            torch.cuda, "is_bf16_supported", lambda including_emulation, n=native: n
        )
        assert resolve_autocast("auto", torch.device("cuda")) == expected


def test_results_record_the_precision_they_were_made_in():
    layer = torch.nn.Linear(4, 3)
    with mixed_precision(CPU_BF16):
        assert precision_of(layer) == "bfloat16-autocast"
        made = provenance(layer)
    assert made["precision"] == "bfloat16-autocast" and made["device"] == "cpu"
    assert made["torch"] == torch.__version__ and made["transformers"]
    assert precision_of(layer) == "float32"
    with mixed_precision(Runtime.resolve(device="cpu", autocast="float32")):
        assert precision_of(layer) == "float32"
    assert precision_of(layer.to(torch.bfloat16)) == "bfloat16"


def test_a_jobs_progress_lines_reach_the_terminal_labelled_and_the_rest_stays_in_its_log(
    tmp_path, capfd
):
    from robustness_scaling.runtime import PROGRESS, get_logger

    log = tmp_path / "logs/pretrain/tiny/859k.log"
    log.parent.mkdir(parents=True)
    logger = get_logger("progress-test", str(log))
    logger.info("loaded the corpus")
    logger.info("step %d/%d (eta %ds)", 10, 300, 42, extra=PROGRESS)
    for handler in logger.handlers:
        handler.flush()
    terminal = capfd.readouterr().err
    assert "[pretrain/tiny/859k] step 10/300 (eta 42s)" in terminal
    assert "loaded the corpus" not in terminal
    written = log.read_text()
    assert "loaded the corpus" in written and "step 10/300" in written
