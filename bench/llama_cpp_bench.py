"""llama.cpp beside `cargo bench --bench llm`: the same GGUF, the same 128 prompt ids, the same
64 greedy single-token steps, best of 2, so the two tables compare row for row.

llama.cpp comes from the `llama-cpp-python` sdist, built on the machine that runs the bench and
kept outside the repository:

    CMAKE_ARGS="-DGGML_NATIVE=ON" pip install --no-binary llama-cpp-python llama-cpp-python==0.3.36
    python bench/llama_cpp_bench.py ~/.cache/parley/models/<file>.gguf 2
"""

import ctypes
import sys
import time

import numpy as np
from llama_cpp import Llama

PROMPT_TOKENS = 128
GEN_TOKENS = 64
RUNS = 2


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def allow_amx() -> None:
    """Linux hands out AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM); ggml's
    AMX kernels, built in by GGML_NATIVE on a CPU that has AMX, die with SIGILL without it."""
    libc = ctypes.CDLL(None, use_errno=True)
    sys_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata = 158, 0x1023, 18
    libc.syscall(sys_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata)


def main() -> None:
    path, threads = sys.argv[1], int(sys.argv[2])
    allow_amx()
    started = time.perf_counter()
    llm = Llama(
        model_path=path,
        n_ctx=1024,
        n_threads=threads,
        n_threads_batch=threads,
        n_batch=512,
        verbose=False,
    )
    load_s = time.perf_counter() - started
    prompt = [1000 + (i * 7919) % 20000 for i in range(PROMPT_TOKENS)]
    best_prefill = best_decode = 0.0
    for _ in range(RUNS):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        best_prefill = max(best_prefill, PROMPT_TOKENS / (time.perf_counter() - t))
        t = time.perf_counter()
        for _ in range(GEN_TOKENS):
            nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            llm.eval([nxt])
        best_decode = max(best_decode, GEN_TOKENS / (time.perf_counter() - t))
    print(
        f"llama.cpp {path.rsplit('/', 1)[-1]} threads={threads} load_s={load_s:.1f} "
        f"rss_mb={rss_mb():.0f} prefill_tok_s={best_prefill:.1f} decode_tok_s={best_decode:.1f}"
    )


if __name__ == "__main__":
    main()
