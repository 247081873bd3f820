//! llama.cpp in-process: one model, one context, and the KV cache kept between requests.
//!
//! [`LocalModel::load`] maps a GGUF file (once per process and file: later loads share the
//! weights) and creates a context; [`LocalModel::generate`] answers a [`Prompt`]:
//!
//! 1. The prompt is rendered with the model's own chat template ([`crate::template`]) and
//!    tokenized.
//! 2. KV-cache reuse: the context still holds the tokens of the previous request and of its
//!    reply. The longest common prefix with the new prompt stays; the rest is dropped from
//!    the cache and only the new tokens are evaluated. Since a session's prompts only grow
//!    (DESIGN.md, append-only), that is typically everything but the newest items.
//! 3. Tokens are sampled (top-k, top-p, temperature) with a lazy grammar
//!    ([`crate::grammar`]): free text stays free, but from `<tool_call>` on the reply must be
//!    well-formed calls to the offered tools with arguments matching their schemas.
//! 4. The reply is split into text and calls ([`crate::toolcall`]) as it streams.
//!
//! A context is not thread-safe; a `LocalModel` lives on one thread (the provider gives it a
//! thread of its own).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use ouro_protocol::{Prompt, ResponseItem, Role, TokenUsage, ToolSpec};

use crate::grammar::{tool_call_grammar, Grammar};
use crate::template::{ChatTemplate, TemplateError};
use crate::toolcall::{Reply, ReplyParser};

/// The default cap on the context window. Qwen2.5-Coder is trained for 32k tokens, but on a
/// CPU a cold prompt of 8k tokens already takes ~50 s to read (0.5B, 2 cores) and its KV
/// cache 100–230 MB (0.5B–1.5B, f16); small models also lose the thread well before 32k.
/// 8k holds ouro's instructions and tools (~2k) plus a working session; compaction keeps a
/// session within it. Raise it with [`LocalOptions::context_size`].
pub const DEFAULT_CONTEXT_CAP: u32 = 8192;
/// Tokens evaluated per `llama_decode` call while reading a prompt.
pub const DEFAULT_BATCH_SIZE: u32 = 512;
/// The default cap on one reply.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;

/// How to run the model.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalOptions {
    /// Threads for llama.cpp; default: the number of physical cores (hyper-threads slow
    /// matrix multiplication down more than they help).
    pub threads: Option<usize>,
    /// Cap on the context window; the model's trained length if smaller. Default
    /// [`DEFAULT_CONTEXT_CAP`].
    pub context_size: Option<u32>,
    pub batch_size: u32,
    pub max_output_tokens: u32,
    pub sampling: Sampling,
    /// Constrain tool calls with the tools' grammar (on by default; off only to measure
    /// what the grammar buys).
    pub constrain_tool_calls: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            threads: None,
            context_size: None,
            batch_size: DEFAULT_BATCH_SIZE,
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            sampling: Sampling::default(),
            constrain_tool_calls: true,
        }
    }
}

/// Sampling settings. By default the likeliest token is taken every time: on the end-to-end
/// tasks greedy decoding did better than Qwen2.5-Coder-Instruct's own generation config
/// (temperature 0.7, top-p 0.8, top-k 20, the settings used when `temperature` is raised),
/// and it makes a session reproducible. There is no repetition penalty, which would punish
/// the repetitive structure of code and JSON; the harness breaks loops instead.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 samples greedily.
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    /// The seed of the first request; each later one adds one.
    pub seed: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_k: 20,
            top_p: 0.8,
            seed: 0x5eed,
        }
    }
}

/// Why loading or running the model failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalError {
    /// The model cannot be used: missing or unreadable file, no chat template, a CPU this
    /// build's kernels cannot run on, a context that cannot be created.
    Load { path: PathBuf, message: String },
    /// The chat template failed on this prompt.
    Template(TemplateError),
    /// The prompt does not fit the context window.
    ContextFull { prompt_tokens: usize, context: u32 },
    /// llama.cpp failed while evaluating or sampling.
    Inference(String),
}

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalError::Load { path, message } => {
                write!(f, "cannot load {}: {message}", path.display())
            }
            LocalError::Template(err) => err.fmt(f),
            LocalError::ContextFull {
                prompt_tokens,
                context,
            } => write!(
                f,
                "the prompt has {prompt_tokens} tokens and does not fit the context window of \
                 {context} tokens (raise context_size, or compact the conversation)"
            ),
            LocalError::Inference(message) => write!(f, "llama.cpp: {message}"),
        }
    }
}

impl std::error::Error for LocalError {}

impl From<TemplateError> for LocalError {
    fn from(err: TemplateError) -> Self {
        LocalError::Template(err)
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn.
    EndOfTurn,
    /// [`LocalOptions::max_output_tokens`] reached.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// The caller asked to stop.
    Cancelled,
}

/// Where the time went.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Timings {
    /// Prompt tokens evaluated (not taken from the cache) and the time they took.
    pub prefill_tokens: usize,
    pub prefill: Duration,
    /// Tokens generated and the time it took (sampling included).
    pub decode_tokens: usize,
    pub decode: Duration,
}

impl Timings {
    pub fn prefill_per_second(&self) -> f64 {
        per_second(self.prefill_tokens, self.prefill)
    }

    pub fn decode_per_second(&self) -> f64 {
        per_second(self.decode_tokens, self.decode)
    }
}

fn per_second(tokens: usize, time: Duration) -> f64 {
    if time.is_zero() {
        0.0
    } else {
        tokens as f64 / time.as_secs_f64()
    }
}

/// The result of [`LocalModel::generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub reply: Reply,
    /// The raw text generated, special tokens included.
    pub raw: String,
    pub usage: TokenUsage,
    pub timings: Timings,
    pub stop: StopReason,
}

/// A loaded model with its context and KV cache.
pub struct LocalModel {
    ctx: LlamaContext<'static>,
    model: &'static LlamaModel,
    path: PathBuf,
    template: ChatTemplate,
    options: LocalOptions,
    threads: usize,
    n_ctx: u32,
    /// The tokens whose keys and values are in the cache, in order from position 0.
    cached: Vec<LlamaToken>,
    /// The grammar for the last tool list, which rarely changes within a session.
    grammar: Option<(Vec<ToolSpec>, Grammar)>,
    /// Where in the last evaluated batch the logits to sample from are.
    last_logits_index: i32,
    /// Requests answered since the sampling settings were last set.
    requests: u32,
}

impl fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalModel")
            .field("path", &self.path)
            .field("threads", &self.threads)
            .field("n_ctx", &self.n_ctx)
            .field("cached_tokens", &self.cached.len())
            .finish_non_exhaustive()
    }
}

/// The llama.cpp backend, initialized once per process, its log output silenced.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Models are loaded once per process and file and kept until the process ends: the
/// weights are a read-only mapping of the file, shared by every context made from them.
fn shared_model(path: &Path) -> Result<&'static LlamaModel, String> {
    static MODELS: OnceLock<Mutex<HashMap<PathBuf, &'static LlamaModel>>> = OnceLock::new();
    let backend = backend()?;
    let key = path.canonicalize().map_err(|e| e.to_string())?;
    let mut models = MODELS
        .get_or_init(Mutex::default)
        .lock()
        .map_err(|_| "a previous model load panicked".to_string())?;
    if let Some(model) = models.get(&key) {
        return Ok(model);
    }
    let model = LlamaModel::load_from_file(backend, &key, &LlamaModelParams::default())
        .map_err(|e| format!("llama.cpp could not load it ({e}); is it a GGUF model file?"))?;
    let model: &'static LlamaModel = Box::leak(Box::new(model));
    models.insert(key, model);
    Ok(model)
}

/// The instruction-set extensions this build's llama.cpp kernels use that this CPU lacks.
pub fn missing_cpu_features() -> Vec<&'static str> {
    let compiled = env!("OURO_LLAMA_CPU_FEATURES");
    let mut missing = Vec::new();
    #[cfg(target_arch = "x86_64")]
    for feature in compiled.split(',').filter(|f| !f.is_empty()) {
        let present = match feature {
            "sse4.2" => std::arch::is_x86_feature_detected!("sse4.2"),
            "avx" => std::arch::is_x86_feature_detected!("avx"),
            "f16c" => std::arch::is_x86_feature_detected!("f16c"),
            "fma" => std::arch::is_x86_feature_detected!("fma"),
            "avx2" => std::arch::is_x86_feature_detected!("avx2"),
            "bmi2" => std::arch::is_x86_feature_detected!("bmi2"),
            "avx512f" => std::arch::is_x86_feature_detected!("avx512f"),
            "avxvnni" => std::arch::is_x86_feature_detected!("avxvnni"),
            "avx512vnni" => std::arch::is_x86_feature_detected!("avx512vnni"),
            "avx512vbmi" => std::arch::is_x86_feature_detected!("avx512vbmi"),
            "avx512bf16" => std::arch::is_x86_feature_detected!("avx512bf16"),
            _ => true,
        };
        if !present {
            missing.push(feature);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = compiled;
    missing
}

/// Physical cores, from `/proc/cpuinfo` (distinct physical id and core id pairs); the
/// number of logical CPUs where that cannot be read.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return logical;
    };
    let mut cores = BTreeSet::new();
    let mut physical = "";
    for line in cpuinfo.lines() {
        if let Some((key, value)) = line.split_once(':') {
            match key.trim() {
                "physical id" => physical = value.trim(),
                "core id" => {
                    cores.insert((physical.to_string(), value.trim().to_string()));
                }
                _ => {}
            }
        }
    }
    // A container may see fewer CPUs than the machine has cores.
    if cores.is_empty() {
        logical
    } else {
        cores.len().min(logical)
    }
}

impl LocalModel {
    /// Loads the model at `path` and makes a context for it.
    pub fn load(path: &Path, options: LocalOptions) -> Result<LocalModel, LocalError> {
        let load_error = |message: String| LocalError::Load {
            path: path.to_path_buf(),
            message,
        };
        let missing = missing_cpu_features();
        if env!("OURO_LLAMA_NATIVE").is_empty() && !missing.is_empty() {
            return Err(load_error(format!(
                "this build of ouro runs llama.cpp with {} instructions, which this CPU lacks; \
                 build it for this CPU with GGML_AVX2=OFF GGML_FMA=OFF GGML_F16C=OFF \
                 GGML_BMI2=OFF GGML_AVX=OFF in the environment (or RUSTFLAGS=\"-C \
                 target-cpu=native\")",
                missing.join(", ")
            )));
        }
        if !path.is_file() {
            return Err(load_error("no such file".into()));
        }
        let metadata = crate::gguf::read_file(path).map_err(|e| load_error(e.to_string()))?;
        let template_source = metadata.chat_template().ok_or_else(|| {
            load_error("the file has no chat template (tokenizer.chat_template)".into())
        })?;
        let template = ChatTemplate::new(template_source)?;

        let backend = backend().map_err(load_error)?;
        let model = shared_model(path).map_err(load_error)?;
        let vocab = model.vocab();
        let piece = |token: LlamaToken| {
            String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned()
        };
        let template = template.with_special_tokens(&piece(vocab.bos()), &piece(vocab.eos()));

        let cap = options.context_size.unwrap_or(DEFAULT_CONTEXT_CAP).max(256);
        let n_ctx = match model.n_ctx_train() {
            0 => cap,
            trained => trained.min(cap),
        };
        let threads = options.threads.unwrap_or_else(physical_cores).max(1);
        let threads_i32 = i32::try_from(threads).unwrap_or(i32::MAX);
        let batch = options.batch_size.clamp(1, n_ctx);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(batch)
            .with_n_ubatch(batch)
            .with_n_seq_max(1)
            .with_n_threads(threads_i32)
            .with_n_threads_batch(threads_i32);
        let ctx = model
            .new_context(backend, params)
            .map_err(|e| load_error(format!("cannot create a context of {n_ctx} tokens: {e}")))?;
        Ok(LocalModel {
            ctx,
            model,
            path: path.to_path_buf(),
            template,
            options: LocalOptions {
                batch_size: batch,
                ..options
            },
            threads,
            n_ctx,
            cached: Vec::new(),
            grammar: None,
            last_logits_index: 0,
            requests: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The context window, in tokens.
    pub fn context_size(&self) -> u32 {
        self.n_ctx
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn options(&self) -> &LocalOptions {
        &self.options
    }

    /// Sampling for the next requests (a benchmark varies the seed).
    pub fn set_sampling(&mut self, sampling: Sampling) {
        self.options.sampling = sampling;
        self.requests = 0;
    }

    /// Caps the length of the next replies.
    pub fn set_max_output_tokens(&mut self, tokens: u32) {
        self.options.max_output_tokens = tokens.max(1);
    }

    /// Turns the tool-call grammar on or off for the next requests.
    pub fn set_constrain_tool_calls(&mut self, on: bool) {
        self.options.constrain_tool_calls = on;
    }

    /// The number of tokens in the KV cache.
    pub fn cached_tokens(&self) -> usize {
        self.cached.len()
    }

    /// Empties the KV cache: the next request is evaluated from scratch.
    pub fn clear_cache(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }

    /// The prompt text the model reads for `prompt`.
    pub fn render(&self, prompt: &Prompt) -> Result<String, LocalError> {
        Ok(self.template.render(prompt, true)?)
    }

    /// `text` as tokens, special tokens (`<|im_start|>`…) recognised.
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let vocab = self.model.vocab();
        vocab.tokenize(text.as_bytes(), vocab.should_add_bos(), true)
    }

    /// Answers `prompt`. `on_text` receives the reply's visible text as it is generated,
    /// and an empty string between two batches of a long prompt; returning
    /// [`ControlFlow::Break`] stops (the cache keeps what was evaluated).
    pub fn generate(
        &mut self,
        prompt: &Prompt,
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, LocalError> {
        let text = self.render(prompt)?;
        let tokens = self.tokenize(&text);
        if tokens.is_empty() {
            return Err(LocalError::Inference(
                "the prompt rendered to no tokens".into(),
            ));
        }
        // Leave room for at least a short reply.
        let n_ctx = self.n_ctx as usize;
        if tokens.len() + 16 > n_ctx {
            return Err(LocalError::ContextFull {
                prompt_tokens: tokens.len(),
                context: self.n_ctx,
            });
        }

        let mut timings = Timings::default();
        let started = Instant::now();
        let reused = match self.prefill(&tokens, on_text)? {
            Some(reused) => reused,
            None => {
                return Ok(Generation {
                    reply: Reply::default(),
                    raw: String::new(),
                    usage: TokenUsage {
                        input_tokens: tokens.len() as u64,
                        cached_input_tokens: 0,
                        output_tokens: 0,
                    },
                    timings,
                    stop: StopReason::Cancelled,
                })
            }
        };
        timings.prefill_tokens = tokens.len() - reused;
        timings.prefill = started.elapsed();

        let started = Instant::now();
        let tool_names: Vec<&str> = prompt.tools.iter().map(|t| t.name.as_str()).collect();
        let mut grammar = if self.options.constrain_tool_calls && !prompt.tools.is_empty() {
            Some(self.grammar_sampler(&prompt.tools, opens_turn(prompt))?)
        } else {
            None
        };
        let mut chain = self.sampler_chain();
        let vocab = self.model.vocab();
        let mut parser = ReplyParser::new();
        let mut utf8 = Utf8Stream::default();
        let mut raw = String::new();
        let mut batch = LlamaBatch::new(1, 1);
        let max_output = (self.options.max_output_tokens as usize).min(n_ctx - tokens.len());
        let mut generated = 0;
        let mut logits_index = self.last_logits_index;
        let stop = loop {
            if generated >= max_output {
                break if self.cached.len() >= n_ctx {
                    StopReason::ContextFull
                } else {
                    StopReason::MaxTokens
                };
            }
            let token = sample(&self.ctx, logits_index, &mut chain, &mut grammar);
            if vocab.is_eog(token) {
                break StopReason::EndOfTurn;
            }
            generated += 1;
            let piece = utf8.push(&vocab.token_to_piece(token, true, None));
            raw.push_str(&piece);
            let shown = parser.push(&piece);
            if !shown.is_empty() && on_text(&shown).is_break() {
                break StopReason::Cancelled;
            }
            if parser.call_closed() {
                // The grammar ends a reply after its call; without it (or should it have been
                // dropped) the model might chain calls it cannot see the results of.
                break StopReason::EndOfTurn;
            }
            // Evaluate the token, so that the cache holds the reply too: the next request
            // starts with it.
            batch.clear();
            let pos = self.cached.len() as i32;
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| LocalError::Inference(e.to_string()))?;
            if let Err(err) = self.ctx.decode(&mut batch) {
                self.clear_cache();
                return Err(LocalError::Inference(format!("decode failed: {err}")));
            }
            self.cached.push(token);
            logits_index = 0;
        };
        let tail = utf8.finish();
        raw.push_str(&tail);
        parser.push(&tail);
        if stop != StopReason::Cancelled {
            let held = parser.held_back().to_string();
            if !held.is_empty() {
                let _ = on_text(&held);
            }
        }
        timings.decode_tokens = generated;
        timings.decode = started.elapsed();
        Ok(Generation {
            reply: parser.finish(&tool_names),
            raw,
            usage: TokenUsage {
                input_tokens: tokens.len() as u64,
                cached_input_tokens: reused as u64,
                output_tokens: generated as u64,
            },
            timings,
            stop,
        })
    }

    /// Brings the KV cache to `tokens`: keeps the longest common prefix, evaluates the rest.
    /// Returns how many tokens were reused, or `None` when cancelled.
    fn prefill(
        &mut self,
        tokens: &[LlamaToken],
        on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Option<usize>, LocalError> {
        let mut reused = common_prefix(&self.cached, tokens);
        // The last prompt token must be evaluated again to get logits to sample from.
        if reused == tokens.len() {
            reused -= 1;
        }
        if reused < self.cached.len() {
            let removed = self
                .ctx
                .clear_kv_cache_seq(Some(0), Some(reused as u32), None)
                .unwrap_or(false);
            if !removed {
                // Some caches cannot drop a suffix: start over.
                self.clear_cache();
                reused = 0;
            }
            self.cached.truncate(reused);
        }

        let batch_size = self.options.batch_size as usize;
        let mut batch = LlamaBatch::new(batch_size, 1);
        let pending = &tokens[reused..];
        for (chunk_index, chunk) in pending.chunks(batch_size).enumerate() {
            // The caller may have gone while a long prompt was read.
            if chunk_index > 0 && on_text("").is_break() {
                return Ok(None);
            }
            batch.clear();
            let start = reused + chunk_index * batch_size;
            let last_chunk = start + chunk.len() == tokens.len();
            for (i, &token) in chunk.iter().enumerate() {
                let logits = last_chunk && i + 1 == chunk.len();
                batch
                    .add(token, (start + i) as i32, &[0], logits)
                    .map_err(|e| LocalError::Inference(e.to_string()))?;
            }
            if let Err(err) = self.ctx.decode(&mut batch) {
                self.clear_cache();
                return Err(LocalError::Inference(format!("decode failed: {err}")));
            }
            self.cached.extend_from_slice(chunk);
            self.last_logits_index = batch.n_tokens() - 1;
        }
        Ok(Some(reused))
    }

    /// The sampler for the next reply. The seed moves on with every request, so that asking
    /// again (after a failed call, say) can give another answer, while a session stays
    /// reproducible from its settings.
    fn sampler_chain(&mut self) -> LlamaSampler {
        let s = self.options.sampling;
        let seed = s.seed.wrapping_add(self.requests);
        self.requests = self.requests.wrapping_add(1);
        if s.temperature <= 0.0 {
            return LlamaSampler::greedy();
        }
        LlamaSampler::chain_simple([
            LlamaSampler::top_k(s.top_k.max(1)),
            LlamaSampler::top_p(s.top_p.clamp(0.0, 1.0), 1),
            LlamaSampler::temp(s.temperature),
            LlamaSampler::dist(seed),
        ])
    }

    /// llama.cpp's own speed on this context, measured the way `llama-bench` does: decode
    /// `n_prompt` arbitrary tokens in batches (prompt processing), then `n_gen` tokens one at
    /// a time after them (generation), with no template, sampling or parsing. The reference
    /// for [`LocalModel::generate`]'s overhead. Empties the KV cache.
    pub fn raw_decode_speed(
        &mut self,
        n_prompt: usize,
        n_gen: usize,
    ) -> Result<Timings, LocalError> {
        self.clear_cache();
        let n_vocab = self.model.n_vocab().max(1);
        let mut state = 0x2545_f491_u32;
        let mut next_token = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            LlamaToken((state % n_vocab as u32) as i32)
        };
        let batch_size = self.options.batch_size as usize;
        let mut batch = LlamaBatch::new(batch_size.max(1), 1);
        let mut timings = Timings::default();
        let decode = |ctx: &mut LlamaContext<'static>, batch: &mut LlamaBatch| {
            ctx.decode(batch)
                .map_err(|e| LocalError::Inference(format!("decode failed: {e}")))
        };
        let started = Instant::now();
        let mut pos = 0;
        while pos < n_prompt {
            batch.clear();
            let n = batch_size.min(n_prompt - pos);
            for i in 0..n {
                batch
                    .add(
                        next_token(),
                        (pos + i) as i32,
                        &[0],
                        pos + i + 1 == n_prompt,
                    )
                    .map_err(|e| LocalError::Inference(e.to_string()))?;
            }
            decode(&mut self.ctx, &mut batch)?;
            pos += n;
        }
        timings.prefill_tokens = n_prompt;
        timings.prefill = started.elapsed();
        let started = Instant::now();
        for i in 0..n_gen {
            batch.clear();
            batch
                .add(next_token(), (n_prompt + i) as i32, &[0], true)
                .map_err(|e| LocalError::Inference(e.to_string()))?;
            decode(&mut self.ctx, &mut batch)?;
        }
        timings.decode_tokens = n_gen;
        timings.decode = started.elapsed();
        self.clear_cache();
        Ok(timings)
    }

    /// Whether the tool-call grammar for `tools`, compiled by llama.cpp, accepts `text` as
    /// a whole reply: every token of it, and then the end of the turn.
    pub fn grammar_accepts(&self, tools: &[ToolSpec], text: &str) -> Result<bool, LocalError> {
        let mut grammar = compile_grammar(self.model, &tool_call_grammar(tools), false)?;
        let vocab = self.model.vocab();
        for token in vocab.tokenize(text.as_bytes(), false, true) {
            let mut single =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
            single.apply_sampler(&mut grammar);
            if single
                .data
                .first()
                .is_none_or(|d| d.logit() == f32::NEG_INFINITY)
            {
                return Ok(false);
            }
            if grammar.try_accept(token).is_err() {
                return Ok(false);
            }
        }
        let mut end =
            LlamaTokenDataArray::new(vec![LlamaTokenData::new(vocab.eos(), 1.0, 0.0)], false);
        end.apply_sampler(&mut grammar);
        Ok(end
            .data
            .first()
            .is_some_and(|d| d.logit() != f32::NEG_INFINITY))
    }

    /// The tool-call grammar for `tools`, compiled by llama.cpp: lazy, or `strict` (the
    /// reply must be a call from its first token).
    fn grammar_sampler(
        &mut self,
        tools: &[ToolSpec],
        strict: bool,
    ) -> Result<LlamaSampler, LocalError> {
        let grammar = match &self.grammar {
            Some((cached_tools, grammar)) if cached_tools == tools => grammar.clone(),
            _ => {
                let grammar = tool_call_grammar(tools);
                self.grammar = Some((tools.to_vec(), grammar.clone()));
                grammar
            }
        };
        compile_grammar(self.model, &grammar, strict)
    }
}

/// Whether `prompt` asks for the first reply of a turn (it ends with the user's message).
/// That reply must be a tool call: given a task, a small model otherwise often explains
/// how the user could do it instead of doing it. Later replies may be text, which is how
/// the model says it is done.
fn opens_turn(prompt: &Prompt) -> bool {
    matches!(
        prompt.input.last(),
        Some(ResponseItem::Message {
            role: Role::User,
            ..
        })
    )
}

/// Compiles `grammar` in llama.cpp: `strict`, applying from the first token, or lazy,
/// from a trigger on. The `<tool_call>` tag is also a trigger token when the model has it
/// as one (Qwen2.5 does).
pub(crate) fn compile_grammar(
    model: &LlamaModel,
    grammar: &Grammar,
    strict: bool,
) -> Result<LlamaSampler, LocalError> {
    let compiled = if strict {
        LlamaSampler::grammar(model, &grammar.gbnf, &grammar.root)
    } else {
        let tag = model
            .vocab()
            .tokenize(crate::grammar::TOOL_CALL_OPEN.as_bytes(), false, true);
        let trigger_tokens = if tag.len() == 1 { tag } else { Vec::new() };
        LlamaSampler::grammar_lazy_patterns(
            model,
            &grammar.gbnf,
            &grammar.root,
            &grammar.trigger_patterns,
            &trigger_tokens,
        )
    };
    compiled.map_err(|e| {
        LocalError::Inference(format!("llama.cpp rejected the tool-call grammar: {e}"))
    })
}

/// Samples the next token from the logits at `index`. With a grammar, the token the chain
/// picks is checked against it first (cheap), and only if the grammar rejects it is the
/// whole vocabulary filtered by the grammar and sampled again, as llama.cpp's own server
/// does. Should the grammar fail (a trigger handed it text it cannot continue), it is
/// dropped and the reply goes on unconstrained: the parser still reads what it can.
fn sample(
    ctx: &LlamaContext<'_>,
    index: i32,
    chain: &mut LlamaSampler,
    grammar: &mut Option<LlamaSampler>,
) -> LlamaToken {
    let token = chain.sample(ctx, index);
    let Some(constraint) = grammar.as_mut() else {
        return token;
    };
    let mut single = LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 1.0, 0.0)], false);
    single.apply_sampler(constraint);
    let allowed = single
        .data
        .first()
        .is_some_and(|d| d.logit() != f32::NEG_INFINITY);
    let token = if allowed {
        token
    } else {
        let mut candidates = ctx.token_data_array_ith(index);
        candidates.apply_sampler(constraint);
        candidates.apply_sampler(chain);
        match candidates.selected_token() {
            Some(token) => token,
            None => {
                *grammar = None;
                return token;
            }
        }
    };
    if constraint.try_accept(token).is_err() {
        *grammar = None;
    }
    token
}

fn common_prefix(a: &[LlamaToken], b: &[LlamaToken]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Token pieces to text: a character split across tokens is held until it is complete;
/// invalid bytes become U+FFFD.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match err.error_len() {
                        // An incomplete character at the end: wait for more.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    pub(crate) fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens() {
        let mut stream = Utf8Stream::default();
        let bytes = "é😀x".as_bytes();
        let mut out = String::new();
        for b in bytes {
            out.push_str(&stream.push(&[*b]));
        }
        out.push_str(&stream.finish());
        assert_eq!(out, "é😀x");
        assert_eq!(stream.push(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(stream.push(b"\xf0\x9f"), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
    }

    #[test]
    fn common_prefix_lengths() {
        let t = |v: &[i32]| v.iter().map(|&i| LlamaToken(i)).collect::<Vec<_>>();
        assert_eq!(common_prefix(&t(&[1, 2, 3]), &t(&[1, 2, 4])), 2);
        assert_eq!(common_prefix(&t(&[]), &t(&[1])), 0);
        assert_eq!(common_prefix(&t(&[1, 2]), &t(&[1, 2, 3])), 2);
    }

    #[test]
    fn physical_cores_is_at_least_one() {
        assert!(physical_cores() >= 1);
    }

    #[test]
    fn this_machine_runs_the_kernels_it_was_built_for() {
        assert_eq!(missing_cpu_features(), Vec::<&str>::new());
    }
}
