"""Shape limits of the fused LoRA kernels, shared by the kernels and the dispatch that decides
whether a layer can use them (kept apart so the dispatch never imports Triton)."""

# BLOCK_R = 64 compiles for sm_90 with no register spills in every bf16/fp16 and TF32 config
# (IEEE fp32 FMA dots spill 2-17 KiB there: slower, still correct); BLOCK_R = 128 spills in
# bf16 too (gemm_large_16 forward, lora_da), so ranks above 64 take PEFT's path
MAX_RANK = 64
