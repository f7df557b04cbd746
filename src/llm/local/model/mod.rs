//! Our own forward pass for Llama-family GGUF decoders (`qwen2`, `llama`), written for control
//! over the KV cache: it lives outside the model, so a prompt prefix's state can be copied out,
//! kept, and copied back in. The hidden state between the projections is plain `f32` rows
//! (`rows`); candle is left the weights our kernels cannot take and a long prefill's attention.

mod attention;
mod kv;
mod rows;

use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};

use super::gemv::{self, PackedWeight};

pub use kv::{KvSnapshot, KvState};

/// Shape of the network, from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct Config {
    pub architecture: String,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub hidden: usize,
    pub rms_eps: f32,
    /// Qwen2 rotates the two halves of each head (NeoX style); GGUF llama weights are permuted
    /// for interleaved pairs.
    pub rope_neox: bool,
    pub rope_base: f32,
    pub context_length: usize,
}

impl Config {
    fn from_gguf(ct: &gguf_file::Content) -> Result<Self> {
        let md = |k: &str| {
            ct.metadata
                .get(k)
                .ok_or_else(|| candle_core::Error::Msg(format!("gguf metadata `{k}` missing")))
        };
        let arch = md("general.architecture")?.to_string()?.clone();
        let rope_neox = match arch.as_str() {
            "qwen2" => true,
            "llama" => false,
            other => candle_core::bail!("unsupported architecture `{other}`"),
        };
        let key = |k: &str| format!("{arch}.{k}");
        let n_head = md(&key("attention.head_count"))?.to_u32()? as usize;
        let hidden = md(&key("embedding_length"))?.to_u32()? as usize;
        Ok(Self {
            n_layer: md(&key("block_count"))?.to_u32()? as usize,
            n_head,
            n_kv_head: md(&key("attention.head_count_kv"))?.to_u32()? as usize,
            head_dim: hidden / n_head,
            hidden,
            rms_eps: md(&key("attention.layer_norm_rms_epsilon"))?.to_f32()?,
            rope_neox,
            rope_base: md(&key("rope.freq_base"))
                .and_then(|v| v.to_f32())
                .unwrap_or(10_000.0),
            context_length: md(&key("context_length"))?.to_u32()? as usize,
            architecture: arch,
        })
    }

    /// Bytes of KV state per token (f32 keys and values, all layers).
    pub fn kv_bytes_per_token(&self) -> usize {
        self.n_layer * 2 * self.n_kv_head * self.head_dim * 4
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    /// Query, key and value projections, which read the same input.
    qkv: [Projection; 3],
    bias: Option<[Vec<f32>; 3]>,
    wo: Projection,
    ffn_norm: Vec<f32>,
    /// Gate and up projections, which read the same input.
    gate_up: [Projection; 2],
    down: Projection,
}

/// A weight as our kernels' repacked tiles (`gemv`) or, where this CPU or the matrix's shape
/// has no kernel of ours, as candle's quantized tensor. Never both: ours take inputs of every
/// length, so candle's copy is dropped once the tiles are built.
enum Projection {
    Own(PackedWeight),
    Candle(CandleWeight),
}

struct CandleWeight {
    weight: Arc<QTensor>,
    matmul: QMatMul,
}

impl Projection {
    fn new(t: QTensor, own_gemv: bool) -> Result<Self> {
        Self::from_arc(Arc::new(t), own_gemv)
    }

    fn from_arc(weight: Arc<QTensor>, own_gemv: bool) -> Result<Self> {
        if own_gemv {
            if let Some(packed) = PackedWeight::pack(&weight)? {
                return Ok(Self::Own(packed));
            }
        }
        Ok(Self::Candle(CandleWeight {
            matmul: QMatMul::from_arc(weight.clone())?,
            weight,
        }))
    }

    /// `m` rows of `x` through this one weight.
    fn forward(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let [y] = project(std::array::from_ref(self), x, m)?;
        Ok(y)
    }

    fn own(&self) -> Option<&PackedWeight> {
        match self {
            Self::Own(p) => Some(p),
            Self::Candle(_) => None,
        }
    }

    fn candle(&self) -> Option<&CandleWeight> {
        match self {
            Self::Own(_) => None,
            Self::Candle(c) => Some(c),
        }
    }
}

/// Runs projections that share their input, `m` rows of `x`; each result is `m` rows of its
/// weight's outputs. Those our kernels hold run in one call (one quantization of `x`, one
/// parallel region); those of one quantized type that candle holds go through its fused kernel
/// together for the same reason; the rest run one by one.
fn project<const N: usize>(ps: &[Projection; N], x: &[f32], m: usize) -> Result<[Vec<f32>; N]> {
    let mut out: [Option<Vec<f32>>; N] = std::array::from_fn(|_| None);
    let own: Vec<(usize, &PackedWeight)> = ps
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.own().map(|w| (i, w)))
        .collect();
    if !own.is_empty() {
        let ws: Vec<&PackedWeight> = own.iter().map(|(_, w)| *w).collect();
        for ((i, _), y) in own.iter().zip(gemv::products(&ws, x, m)?) {
            out[*i] = Some(y);
        }
    }
    if out.iter().any(Option::is_none) {
        let k = x.len() / m.max(1);
        let xt = Tensor::from_slice(x, (1, m, k), &Device::Cpu)?;
        let flat = |t: Tensor| t.flatten_all()?.to_vec1::<f32>();
        for i in 0..N {
            if out[i].is_some() {
                continue;
            }
            let Some(ci) = ps[i].candle() else {
                continue;
            };
            let dtype = ci.weight.dtype();
            let group: Vec<(usize, &CandleWeight)> = (i..N)
                .filter(|&j| out[j].is_none())
                .filter_map(|j| ps[j].candle().map(|c| (j, c)))
                .filter(|(_, c)| c.weight.dtype() == dtype)
                .collect();
            if group.len() > 1 {
                let ts: Vec<&QTensor> = group.iter().map(|(_, c)| c.weight.as_ref()).collect();
                if let Some(ys) = QTensor::gemv_fused_shared_lhs(&ts, &xt)? {
                    for ((j, _), y) in group.iter().zip(ys) {
                        out[*j] = Some(flat(y)?);
                    }
                    continue;
                }
            }
            out[i] = Some(flat(ci.matmul.forward(&xt)?)?);
        }
    }
    let ys: Vec<Vec<f32>> = out
        .into_iter()
        .map(|y| y.ok_or_else(|| candle_core::Error::Msg("a projection did not run".into())))
        .collect::<Result<_>>()?;
    ys.try_into()
        .map_err(|_| candle_core::Error::Msg("projection count changed".into()))
}

/// The weights. Stateless: all per-sequence state is in `KvState`.
pub struct Model {
    pub cfg: Config,
    embed: Arc<QTensor>,
    layers: Vec<Layer>,
    norm: Vec<f32>,
    output: Projection,
    /// Rotary angles, `head_dim / 2` per position.
    cos: Vec<f32>,
    sin: Vec<f32>,
}
/// Load-time options.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Re-quantize Q4_1/Q5_0/Q5_1 tensors to Q8_0 when candle runs them: it has no fast kernel
    /// for them, and Q8_0 is near-lossless (MODELS.md: +40 % prefill on Qwen, 2.7x on SmolLM2).
    pub requantize_q8: bool,
    /// Cap on positions (RoPE tables, KV growth); the model's own limit when larger.
    pub max_context: usize,
    /// Run products with our own kernels (`gemv`) where the CPU has them; `false` keeps
    /// candle's kernels for every product (for comparison).
    pub own_gemv: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            requantize_q8: true,
            max_context: 8192,
            own_gemv: true,
        }
    }
}

fn slow_type(t: GgmlDType) -> bool {
    matches!(t, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
}

impl Model {
    /// Reads the GGUF at `path`; returns the model and the file's metadata (tokenizer, template).
    pub fn load(path: &Path, opts: LoadOptions) -> Result<(Self, gguf_file::Content)> {
        let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
        let ct = gguf_file::Content::read(&mut file).map_err(|e| e.with_path(path))?;
        let mut cfg = Config::from_gguf(&ct)?;
        cfg.context_length = cfg.context_length.min(opts.max_context);
        let dev = Device::Cpu;
        // An untied embedding table only serves row lookups, for which its own type is fine:
        // converting it would cost load time and a transient f32 copy of every row.
        let keep_embed = ct.tensor_infos.contains_key("output.weight");
        let mut qt = |name: &str| -> Result<QTensor> {
            let t = ct.tensor(&mut file, name, &dev)?;
            let convert = !(keep_embed && name == "token_embd.weight");
            if opts.requantize_q8
                && convert
                && slow_type(t.dtype())
                // our kernels read the file's own values
                && !(opts.own_gemv && gemv::would_pack(&t))
                && t.shape().dims().last().is_some_and(|d| d % 32 == 0)
            {
                QTensor::quantize(&t.dequantize(&dev)?, GgmlDType::Q8_0)
            } else {
                Ok(t)
            }
        };
        let has_bias = cfg.architecture == "qwen2";
        let own = opts.own_gemv;
        let (embed, output) = if ct.tensor_infos.contains_key("output.weight") {
            let embed = Arc::new(qt("token_embd.weight")?);
            (embed, Projection::new(qt("output.weight")?, own)?)
        } else {
            // tied embeddings: one quantized table for lookups and the output projection
            let embed = Arc::new(qt("token_embd.weight")?);
            let output = Projection::from_arc(embed.clone(), own)?;
            (embed, output)
        };
        let vector = |t: QTensor| t.dequantize(&dev)?.flatten_all()?.to_vec1::<f32>();
        let norm = vector(qt("output_norm.weight")?)?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let p = |s: &str| format!("blk.{i}.{s}");
            let mm = |t: QTensor| Projection::new(t, own);
            let bias = if has_bias {
                Some([
                    vector(qt(&p("attn_q.bias"))?)?,
                    vector(qt(&p("attn_k.bias"))?)?,
                    vector(qt(&p("attn_v.bias"))?)?,
                ])
            } else {
                None
            };
            layers.push(Layer {
                attn_norm: vector(qt(&p("attn_norm.weight"))?)?,
                qkv: [
                    mm(qt(&p("attn_q.weight"))?)?,
                    mm(qt(&p("attn_k.weight"))?)?,
                    mm(qt(&p("attn_v.weight"))?)?,
                ],
                bias,
                wo: mm(qt(&p("attn_output.weight"))?)?,
                ffn_norm: vector(qt(&p("ffn_norm.weight"))?)?,
                gate_up: [
                    mm(qt(&p("ffn_gate.weight"))?)?,
                    mm(qt(&p("ffn_up.weight"))?)?,
                ],
                down: mm(qt(&p("ffn_down.weight"))?)?,
            });
        }
        let (cos, sin) = rope_tables(cfg.head_dim, cfg.rope_base, cfg.context_length);
        Ok((
            Self {
                cfg,
                embed,
                layers,
                norm,
                output,
                cos,
                sin,
            },
            ct,
        ))
    }

    /// Runs `tokens` at positions `kv.len()..`, appends their keys/values to `kv`, and returns
    /// the logits of the last token.
    pub fn forward(&self, tokens: &[u32], kv: &mut KvState) -> Result<Vec<f32>> {
        let x = self.hidden(tokens, kv)?;
        // only the last position's logits are needed to pick the next token
        let last = x.len() - self.cfg.hidden;
        self.logits(&x[last..], 1)
    }

    /// Like `forward`, but returns the logits of every position: what checking several
    /// proposed tokens in one pass needs (speculative decoding).
    pub fn forward_all(&self, tokens: &[u32], kv: &mut KvState) -> Result<Vec<Vec<f32>>> {
        let x = self.hidden(tokens, kv)?;
        let logits = self.logits(&x, tokens.len())?;
        let vocab = logits.len() / tokens.len();
        Ok(logits.chunks_exact(vocab).map(<[f32]>::to_vec).collect())
    }

    fn logits(&self, x: &[f32], m: usize) -> Result<Vec<f32>> {
        let x = rows::rms_norm(x, &self.norm, self.cfg.rms_eps);
        self.output.forward(&x, m)
    }

    /// The last layer's output for `tokens`, `[token][hidden]`; their keys and values are
    /// appended to `kv`.
    fn hidden(&self, tokens: &[u32], kv: &mut KvState) -> Result<Vec<f32>> {
        let c = &self.cfg;
        let seq = tokens.len();
        let pos = kv.len();
        if seq == 0 {
            candle_core::bail!("forward needs at least one token")
        }
        if pos + seq > c.context_length {
            candle_core::bail!(
                "context window exceeded: {} + {seq} > {}",
                pos,
                c.context_length
            )
        }
        kv.reserve(pos + seq, c.context_length)?;
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut x = self
            .embed
            .embedding(&ids)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let half = c.head_dim / 2;
        let angles = pos * half..(pos + seq) * half;
        let (cos, sin) = (&self.cos[angles.clone()], &self.sin[angles]);
        for (li, layer) in self.layers.iter().enumerate() {
            let h = rows::rms_norm(&x, &layer.attn_norm, c.rms_eps);
            let attn = self.attention(layer, &h, seq, li, kv, cos, sin)?;
            rows::add(&mut x, &attn);
            let h = rows::rms_norm(&x, &layer.ffn_norm, c.rms_eps);
            let [mut g, u] = project(&layer.gate_up, &h, seq)?;
            rows::silu_mul(&mut g, &u, seq);
            rows::add(&mut x, &layer.down.forward(&g, seq)?);
        }
        kv.set_len(pos + seq);
        Ok(x)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        layer: &Layer,
        x: &[f32],
        seq: usize,
        li: usize,
        kv: &mut KvState,
        cos: &[f32],
        sin: &[f32],
    ) -> Result<Vec<f32>> {
        let c = &self.cfg;
        let [mut q, mut k, mut v] = project(&layer.qkv, x, seq)?;
        if let Some([bq, bk, bv]) = &layer.bias {
            rows::add_to_rows(&mut q, bq);
            rows::add_to_rows(&mut k, bk);
            rows::add_to_rows(&mut v, bv);
        }
        rows::rope(&mut q, c.head_dim, cos, sin, c.rope_neox);
        rows::rope(&mut k, c.head_dim, cos, sin, c.rope_neox);
        let pos = kv.len();
        kv.write(li, pos, &k, &v);
        let y = attention::attend(c, &q, seq, kv.layer(li), pos)?;
        layer.wo.forward(&y, seq)
    }

    /// An empty KV state for this model.
    pub fn new_kv(&self) -> KvState {
        KvState::new(self.cfg.n_layer, self.cfg.n_kv_head, self.cfg.head_dim)
    }
}

/// `cos` and `sin` of each position's rotary angles, `head_dim / 2` per position.
fn rope_tables(head_dim: usize, base: f32, n_pos: usize) -> (Vec<f32>, Vec<f32>) {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let angles: Vec<f32> = (0..n_pos)
        .flat_map(|p| inv.iter().map(move |f| p as f32 * f))
        .collect();
    (
        angles.iter().map(|a| a.cos()).collect(),
        angles.iter().map(|a| a.sin()).collect(),
    )
}
