//! Our own forward pass for Llama-family GGUF decoders (`qwen2`, `llama`), written for control
//! over the KV cache: it lives outside the model, so a prompt prefix's state can be copied out,
//! kept, and copied back in.

use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Result, Tensor};

use super::gemv::{self, PackedWeight};

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
    attn_norm: Tensor,
    /// Query, key and value projections, which read the same input.
    qkv: [Projection; 3],
    bias: Option<(Tensor, Tensor, Tensor)>,
    wo: Projection,
    ffn_norm: Tensor,
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

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [y] = project(std::array::from_ref(self), x)?;
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

/// `x` as `m` rows of `k`, flattened, for our kernels.
fn rows_of(x: &Tensor) -> Result<(Vec<f32>, usize)> {
    let k = x.dims().last().copied().unwrap_or(0);
    if k == 0 {
        candle_core::bail!("a projection's input has no columns: {:?}", x.dims())
    }
    let x = x.to_dtype(DType::F32)?;
    Ok((x.flatten_all()?.to_vec1::<f32>()?, x.elem_count() / k))
}

/// `ys` (`m` rows of each weight's outputs) as tensors shaped like `x` with its last dimension
/// replaced.
fn shaped(x: &Tensor, ws: &[&PackedWeight], ys: Vec<Vec<f32>>) -> Result<Vec<Tensor>> {
    ws.iter()
        .zip(ys)
        .map(|(w, y)| {
            let mut shape = x.dims().to_vec();
            if let Some(last) = shape.last_mut() {
                *last = w.rows();
            }
            Tensor::from_vec(y, shape, x.device())
        })
        .collect()
}

/// Runs projections that share their input. Those our kernels hold run in one call (one
/// quantization of `x`, one parallel region); those of one quantized type that candle holds go
/// through its fused kernel together for the same reason; the rest run one by one.
fn project<const N: usize>(ps: &[Projection; N], x: &Tensor) -> Result<[Tensor; N]> {
    let mut out: [Option<Tensor>; N] = std::array::from_fn(|_| None);
    let own: Vec<(usize, &PackedWeight)> = ps
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.own().map(|w| (i, w)))
        .collect();
    if !own.is_empty() {
        let ws: Vec<&PackedWeight> = own.iter().map(|(_, w)| *w).collect();
        let (rows, m) = rows_of(x)?;
        let ys = gemv::products(&ws, &rows, m)?;
        for ((i, _), y) in own.iter().zip(shaped(x, &ws, ys)?) {
            out[*i] = Some(y);
        }
    }
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
            if let Some(ys) = QTensor::gemv_fused_shared_lhs(&ts, x)? {
                for ((j, _), y) in group.iter().zip(ys) {
                    out[*j] = Some(y);
                }
                continue;
            }
        }
        out[i] = Some(ci.matmul.forward(x)?);
    }
    let ys: Vec<Tensor> = out
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
    norm: Tensor,
    output: Projection,
    cos: Tensor,
    sin: Tensor,
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
        let norm = qt("output_norm.weight")?.dequantize(&dev)?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let p = |s: &str| format!("blk.{i}.{s}");
            let mm = |t: QTensor| Projection::new(t, own);
            let bias = if has_bias {
                Some((
                    qt(&p("attn_q.bias"))?.dequantize(&dev)?,
                    qt(&p("attn_k.bias"))?.dequantize(&dev)?,
                    qt(&p("attn_v.bias"))?.dequantize(&dev)?,
                ))
            } else {
                None
            };
            layers.push(Layer {
                attn_norm: qt(&p("attn_norm.weight"))?.dequantize(&dev)?,
                qkv: [
                    mm(qt(&p("attn_q.weight"))?)?,
                    mm(qt(&p("attn_k.weight"))?)?,
                    mm(qt(&p("attn_v.weight"))?)?,
                ],
                bias,
                wo: mm(qt(&p("attn_output.weight"))?)?,
                ffn_norm: qt(&p("ffn_norm.weight"))?.dequantize(&dev)?,
                gate_up: [
                    mm(qt(&p("ffn_gate.weight"))?)?,
                    mm(qt(&p("ffn_up.weight"))?)?,
                ],
                down: mm(qt(&p("ffn_down.weight"))?)?,
            });
        }
        let (cos, sin) = rope_tables(cfg.head_dim, cfg.rope_base, cfg.context_length)?;
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
    /// the logits of the last token as a `Vec`.
    pub fn forward(&self, tokens: &[u32], kv: &mut KvState) -> Result<Vec<f32>> {
        let x = self.hidden(tokens, kv)?;
        // only the last position's logits are needed to pick the next token
        let last = x.narrow(1, tokens.len() - 1, 1)?;
        self.logits(&last)?.flatten_all()?.to_vec1::<f32>()
    }

    /// Like `forward`, but returns the logits of every position: what checking several
    /// proposed tokens in one pass needs (speculative decoding).
    pub fn forward_all(&self, tokens: &[u32], kv: &mut KvState) -> Result<Vec<Vec<f32>>> {
        let x = self.hidden(tokens, kv)?;
        self.logits(&x)?.squeeze(0)?.to_vec2::<f32>()
    }

    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let x = candle_nn::ops::rms_norm(x, &self.norm, self.cfg.rms_eps)?;
        self.output.forward(&x)
    }

    /// The last layer's output for `tokens`, `(1, seq, hidden)`; their keys and values are
    /// appended to `kv`.
    fn hidden(&self, tokens: &[u32], kv: &mut KvState) -> Result<Tensor> {
        let seq = tokens.len();
        let pos = kv.len;
        if seq == 0 {
            candle_core::bail!("forward needs at least one token")
        }
        if pos + seq > self.cfg.context_length {
            candle_core::bail!(
                "context window exceeded: {} + {seq} > {}",
                pos,
                self.cfg.context_length
            )
        }
        kv.reserve(pos + seq, self.cfg.context_length)?;
        let dev = Device::Cpu;
        let ids = Tensor::new(tokens, &dev)?;
        let mut x = self.embed.embedding(&ids)?.unsqueeze(0)?; // (1, seq, hidden)
        let mask = (seq > 1).then(|| causal_mask(seq, pos, &dev)).transpose()?;
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        for (li, layer) in self.layers.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &layer.attn_norm, self.cfg.rms_eps)?;
            let attn = self.attention(layer, &h, li, kv, mask.as_ref(), &cos, &sin)?;
            x = (x + attn)?;
            let h = candle_nn::ops::rms_norm(&x, &layer.ffn_norm, self.cfg.rms_eps)?;
            let [g, u] = project(&layer.gate_up, &h)?;
            let m = layer.down.forward(&(candle_nn::ops::silu(&g)? * u)?)?;
            x = (x + m)?;
        }
        kv.len = pos + seq;
        Ok(x)
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        li: usize,
        kv: &mut KvState,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
    ) -> Result<Tensor> {
        let c = &self.cfg;
        let (_, seq, _) = x.dims3()?;
        let [mut q, mut k, mut v] = project(&layer.qkv, x)?;
        if let Some((bq, bk, bv)) = &layer.bias {
            q = q.broadcast_add(bq)?;
            k = k.broadcast_add(bk)?;
            v = v.broadcast_add(bv)?;
        }
        let heads = |t: Tensor, n: usize| -> Result<Tensor> {
            t.reshape((1, seq, n, c.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(q, c.n_head)?;
        let k = heads(k, c.n_kv_head)?;
        let v = heads(v, c.n_kv_head)?;
        let (q, k) = if c.rope_neox {
            (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            )
        } else {
            (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            )
        };
        let pos = kv.len;
        kv.k[li].slice_set(&k, 2, pos)?;
        kv.v[li].slice_set(&v, 2, pos)?;
        let total = pos + seq;
        let k_all = kv.k[li].narrow(2, 0, total)?;
        let v_all = kv.v[li].narrow(2, 0, total)?;
        // Grouped-query attention without copying K/V per query head: the query heads that
        // share a KV head are stacked along the row axis.
        let group = c.n_head / c.n_kv_head;
        let q = (q * (1.0 / (c.head_dim as f64).sqrt()))?.reshape((
            1,
            c.n_kv_head,
            group * seq,
            c.head_dim,
        ))?;
        let att = q.matmul(&k_all.t()?)?; // (1, n_kv, group*seq, total)
        let att = match mask {
            Some(m) => att
                .reshape((1, c.n_kv_head, group, seq, total))?
                .broadcast_add(m)?
                .reshape((1, c.n_kv_head, group * seq, total))?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v_all)?; // (1, n_kv, group*seq, hd)
        let y = y
            .reshape((1, c.n_head, seq, c.head_dim))?
            .transpose(1, 2)?
            .reshape((1, seq, c.hidden))?;
        layer.wo.forward(&y)
    }

    /// An empty KV state for this model.
    pub fn new_kv(&self) -> KvState {
        KvState {
            k: Vec::new(),
            v: Vec::new(),
            len: 0,
            cap: 0,
            n_layer: self.cfg.n_layer,
            n_kv_head: self.cfg.n_kv_head,
            head_dim: self.cfg.head_dim,
        }
    }
}

/// Additive mask for `seq` new queries at positions `pos..`: a query sees every cached key and
/// the new keys up to itself.
fn causal_mask(seq: usize, pos: usize, dev: &Device) -> Result<Tensor> {
    let total = pos + seq;
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (seq, total), dev)
}

fn rope_tables(head_dim: usize, base: f32, n_pos: usize) -> Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .collect();
    let dev = Device::Cpu;
    let inv = Tensor::new(inv.as_slice(), &dev)?.reshape((1, head_dim / 2))?;
    let pos = Tensor::arange(0u32, n_pos as u32, &dev)?
        .to_dtype(DType::F32)?
        .reshape((n_pos, 1))?;
    let freqs = pos.broadcast_mul(&inv)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

/// Keys and values of one sequence, per layer `(1, n_kv_head, capacity, head_dim)`; the first
/// `len` positions are valid. Grows in steps so decode does not reallocate every token.
pub struct KvState {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: usize,
    cap: usize,
    n_layer: usize,
    n_kv_head: usize,
    head_dim: usize,
}

/// A copy of the first `len` positions of a `KvState`.
pub struct KvSnapshot {
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    len: usize,
}

impl KvSnapshot {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn bytes(&self) -> usize {
        self.k
            .iter()
            .chain(&self.v)
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
    }
}

impl KvState {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets positions past `len` (their memory is reused).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    fn reserve(&mut self, needed: usize, max: usize) -> Result<()> {
        if needed <= self.cap {
            return Ok(());
        }
        let new_cap = (needed.max(self.cap * 2).div_ceil(256) * 256)
            .min(max)
            .max(needed);
        let shape = (1, self.n_kv_head, new_cap, self.head_dim);
        let mut k = Vec::with_capacity(self.n_layer);
        let mut v = Vec::with_capacity(self.n_layer);
        for li in 0..self.n_layer {
            let nk = Tensor::zeros(shape, DType::F32, &Device::Cpu)?;
            let nv = Tensor::zeros(shape, DType::F32, &Device::Cpu)?;
            if self.len > 0 {
                nk.slice_set(&self.k[li].narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                nv.slice_set(&self.v[li].narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
            }
            k.push(nk);
            v.push(nv);
        }
        self.k = k;
        self.v = v;
        self.cap = new_cap;
        Ok(())
    }

    /// Copies out the first `len` positions.
    pub fn snapshot(&self, len: usize) -> Result<KvSnapshot> {
        let len = len.min(self.len);
        let copy = |ts: &[Tensor]| -> Result<Vec<Tensor>> {
            ts.iter()
                .map(|t| t.narrow(2, 0, len)?.copy())
                .collect::<Result<Vec<_>>>()
        };
        Ok(KvSnapshot {
            k: copy(&self.k)?,
            v: copy(&self.v)?,
            len,
        })
    }

    /// Replaces the state with the first `len` positions of `snap`.
    pub fn restore(&mut self, snap: &KvSnapshot, len: usize, max: usize) -> Result<()> {
        let len = len.min(snap.len);
        self.len = 0;
        self.reserve(len, max)?;
        for li in 0..self.n_layer {
            let (k, v) = if len == snap.len {
                (snap.k[li].clone(), snap.v[li].clone())
            } else {
                (
                    snap.k[li].narrow(2, 0, len)?.contiguous()?,
                    snap.v[li].narrow(2, 0, len)?.contiguous()?,
                )
            };
            self.k[li].slice_set(&k, 2, 0)?;
            self.v[li].slice_set(&v, 2, 0)?;
        }
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_mask_lets_new_tokens_see_the_cache() {
        let m = causal_mask(2, 3, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(m[0][..4], [0.0; 4]);
        assert!(m[0][4].is_infinite());
        assert_eq!(m[1], [0.0; 5]);
    }
}
