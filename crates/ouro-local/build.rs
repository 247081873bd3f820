//! Records which x86 instruction-set extensions the vendored llama.cpp is compiled with, so
//! that `engine` can refuse to load a model, with a clear message, on a CPU that lacks one
//! (instead of dying of SIGILL in the middle of a matrix multiplication).
//!
//! llama-cpp-sys-2 takes them from `GGML_*` variables (the workspace's `.cargo/config.toml`
//! sets the x86-64-v3 ones) or from the Rust target features (`-C target-cpu=…`).

use std::env;

fn main() {
    let on = |name: &str| {
        println!("cargo:rerun-if-env-changed={name}");
        matches!(
            env::var(name).map(|v| v.to_ascii_uppercase()).as_deref(),
            Ok("ON" | "1" | "TRUE" | "YES")
        )
    };
    let target_features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let target_features: Vec<&str> = target_features.split(',').collect();
    let mut features = Vec::new();
    for (variable, feature) in [
        ("GGML_SSE42", "sse4.2"),
        ("GGML_AVX", "avx"),
        ("GGML_F16C", "f16c"),
        ("GGML_FMA", "fma"),
        ("GGML_AVX2", "avx2"),
        ("GGML_BMI2", "bmi2"),
        ("GGML_AVX512", "avx512f"),
        ("GGML_AVX_VNNI", "avxvnni"),
        ("GGML_AVX512_VNNI", "avx512vnni"),
        ("GGML_AVX512_VBMI", "avx512vbmi"),
        ("GGML_AVX512_BF16", "avx512bf16"),
    ] {
        if on(variable) || target_features.contains(&feature) {
            features.push(feature);
        }
    }
    // `-C target-cpu=native` builds llama.cpp with GGML_NATIVE for the build machine.
    let native = env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .contains("target-cpu=native");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch != "x86_64" && arch != "x86" {
        features.clear();
    }
    println!(
        "cargo:rustc-env=OURO_LLAMA_CPU_FEATURES={}",
        features.join(",")
    );
    println!(
        "cargo:rustc-env=OURO_LLAMA_NATIVE={}",
        if native { "1" } else { "" }
    );
}
