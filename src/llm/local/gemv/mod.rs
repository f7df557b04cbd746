//! Products of quantized weights with input rows: one row when decoding, a few dozen for an
//! operator's goal line, hundreds for a thread's prefill. Once a weight is packed here,
//! candle's copy of it is dropped: built without debug assertions, these kernels match
//! candle's at every length on AVX2 (session 13) and on Intel with its AMX path (session 14,
//! BENCHMARKS.md), and keeping one copy of each weight halves the 1.5B's memory.
//!
//! Decoding reads every weight once per token, so its speed is the bytes it reads. Each weight
//! is repacked into tiles that interleave 16 output rows, so one `vpdpbusd` (AVX-512 VNNI)
//! yields 4 products for each of 16 outputs and no horizontal sums are needed; AVX2 reads a
//! tile as two halves of 8 rows, with `vpmaddubsw` and `vpmaddwd` instead ([`Isa`]). The input
//! is quantized to i8 once per call and the integer dot products are exact.
//! - `kquant`: Q4_K and Q6_K (the 1.5B model's matrices).
//! - `legacy`: ggml's 32-value block types, Q8_0, Q5_0, Q4_1 and kin (the 0.5B's and SmolLM2's,
//!   whose 896- and 576-wide rows no 256-value super-block fits).

/// Calls `$kernel::<M>(args)` with `M` the input row count `$rows` (1 to 4): the kernels keep
/// one accumulator per row in registers, so the count is a constant of each. With
/// `$kernel::<P>`, calls `$kernel::<M, P>(args)`.
macro_rules! by_rows {
    ($rows:expr, $kernel:ident, $($args:expr),*) => {
        match $rows {
            1 => $kernel::<1>($($args),*),
            2 => $kernel::<2>($($args),*),
            3 => $kernel::<3>($($args),*),
            _ => $kernel::<4>($($args),*),
        }
    };
    ($rows:expr, $kernel:ident::<$p:tt>, $($args:expr),*) => {
        match $rows {
            1 => $kernel::<1, $p>($($args),*),
            2 => $kernel::<2, $p>($($args),*),
            3 => $kernel::<3, $p>($($args),*),
            _ => $kernel::<4, $p>($($args),*),
        }
    };
}

mod kquant;
mod legacy;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Result;

/// Output rows interleaved in one tile.
const ROWS: usize = 16;

enum Tiles {
    Q4(Vec<kquant::TileQ4>),
    Q6(Vec<kquant::TileQ6>),
    Legacy(legacy::Packed),
}

/// A weight matrix `(n, k)` repacked for [`products`].
pub struct PackedWeight {
    tiles: Tiles,
    n: usize,
    k: usize,
    isa: Isa,
}

impl PackedWeight {
    /// Repacks `t` when this CPU has the kernels and the matrix fits them (rows a multiple of 16;
    /// Q4_K or Q6_K with whole super-blocks, or a 32-value block type with rows a multiple of
    /// 64); `None` otherwise, and the caller keeps candle's path.
    pub fn pack(t: &QTensor) -> Result<Option<Self>> {
        match Isa::detected() {
            Some(isa) => Self::pack_for(t, isa),
            None => Ok(None),
        }
    }

    /// Like [`PackedWeight::pack`], for the kernels of `isa`, which must be one of
    /// [`Isa::available`] (to compare them on one CPU).
    pub fn pack_for(t: &QTensor, isa: Isa) -> Result<Option<Self>> {
        let Ok((n, k)) = t.shape().dims2() else {
            return Ok(None);
        };
        if !Isa::available().contains(&isa) || n % ROWS != 0 {
            return Ok(None);
        }
        let dtype = t.dtype();
        let tiles = match dtype {
            GgmlDType::Q4K | GgmlDType::Q6K if k % kquant::QK == 0 => {
                let data = t.data()?;
                if dtype == GgmlDType::Q4K {
                    Tiles::Q4(kquant::pack_q4(&data, n, k))
                } else {
                    Tiles::Q6(kquant::pack_q6(&data, n, k))
                }
            }
            _ if legacy::fits(dtype, k) => match legacy::pack(dtype, &t.data()?, n, k) {
                Some(p) => Tiles::Legacy(p),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(Self { tiles, n, k, isa }))
    }

    pub fn rows(&self) -> usize {
        self.n
    }

    pub fn bytes(&self) -> usize {
        match &self.tiles {
            Tiles::Q4(t) => std::mem::size_of_val(t.as_slice()),
            Tiles::Q6(t) => std::mem::size_of_val(t.as_slice()),
            Tiles::Legacy(p) => p.bytes(),
        }
    }

    fn is_kquant(&self) -> bool {
        matches!(self.tiles, Tiles::Q4(_) | Tiles::Q6(_))
    }

    /// Computes rows `16 * unit..16 * unit + 16` of the output for every input row of `xs`
    /// (at most 4), into `out[i]`, the K-quant kernels prefetching the tiles `ahead`.
    fn unit(&self, unit: usize, xs: &Group, out: &mut [[f32; ROWS]], ahead: Prefetch) {
        match ahead {
            Prefetch::Off => self.unit_with::<{ Prefetch::LEVEL_OFF }>(unit, xs, out),
            Prefetch::L1 => self.unit_with::<{ Prefetch::LEVEL_L1 }>(unit, xs, out),
            Prefetch::L2 => self.unit_with::<{ Prefetch::LEVEL_L2 }>(unit, xs, out),
        }
    }

    /// [`PackedWeight::unit`] with the K-quant kernels built to prefetch at `AHEAD`, one of the
    /// `Prefetch::LEVEL_*` values.
    fn unit_with<const AHEAD: u8>(&self, unit: usize, xs: &Group, out: &mut [[f32; ROWS]]) {
        // SAFETY: `pack_for` only builds a `PackedWeight` for an ISA this CPU has, and
        // `products` quantized every input row to the blocks this weight's `k` needs.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let kb = self.k / kquant::QK;
            let tiles = |u: usize| u * kb..(u + 1) * kb;
            match (&self.tiles, self.isa) {
                (Tiles::Q4(t), Isa::Avx512Vnni) => {
                    use kquant::avx512::q4_unit;
                    by_rows!(xs.len(), q4_unit::<AHEAD>, &t[tiles(unit)], &xs.kquant, out)
                }
                (Tiles::Q6(t), Isa::Avx512Vnni) => {
                    use kquant::avx512::q6_unit;
                    by_rows!(xs.len(), q6_unit::<AHEAD>, &t[tiles(unit)], &xs.kquant, out)
                }
                (Tiles::Q4(t), Isa::Avx2) => {
                    use kquant::avx2::q4_unit;
                    by_rows!(xs.len(), q4_unit, &t[tiles(unit)], &xs.kquant, out)
                }
                (Tiles::Q6(t), Isa::Avx2) => {
                    use kquant::avx2::q6_unit;
                    by_rows!(xs.len(), q6_unit, &t[tiles(unit)], &xs.kquant, out)
                }
                (Tiles::Legacy(p), isa) => p.unit(isa, unit, self.k, &xs.legacy, out),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (unit, xs, out);
            unreachable!("Isa::available is empty off x86_64")
        }
    }
}

/// Whether [`PackedWeight::pack`] would pack `t` (the loader then keeps the file's own values
/// rather than converting them to a type candle runs faster).
pub fn would_pack(t: &QTensor) -> bool {
    t.shape().dims2().is_ok_and(|(n, k)| {
        Isa::detected().is_some()
            && n % ROWS == 0
            && match t.dtype() {
                GgmlDType::Q4K | GgmlDType::Q6K => k % kquant::QK == 0,
                dtype => legacy::fits(dtype, k),
            }
    })
}

/// Input rows one kernel call serves; their partial sums must stay in registers.
const MAX_M: usize = 4;

/// Up to [`MAX_M`] input rows, quantized as the call's weights need them.
struct Group<'a> {
    kquant: Vec<&'a [kquant::Q8Block]>,
    legacy: Vec<&'a [legacy::Q8Block32]>,
}

impl Group<'_> {
    fn len(&self) -> usize {
        self.kquant.len().max(self.legacy.len())
    }
}

/// `Y_i = X · W_iᵀ` for weights that share their input `x`, `m` rows of `k` (the query, key and
/// value projections; the gate and up projections): one quantization of `x` and one parallel
/// region over all their rows. Each result is `m` rows of its weight's `n`, row-major.
///
/// Each 16-row slice of a weight is read from memory once and reused from cache for every
/// input row, 4 rows per pass: a short prefill (an operator's goal line) is then bound by the
/// integer products, not by memory.
pub fn products(ws: &[&PackedWeight], x: &[f32], m: usize) -> Result<Vec<Vec<f32>>> {
    let Some(k) = ws.first().map(|w| w.k) else {
        return Ok(Vec::new());
    };
    if ws.iter().any(|w| w.k != k) || m == 0 || x.len() != m * k {
        candle_core::bail!(
            "products: {} inputs of {m} rows for {k}-column weights",
            x.len()
        )
    }
    let xk: Vec<Vec<kquant::Q8Block>> = if ws.iter().any(|w| w.is_kquant()) {
        x.chunks_exact(k).map(kquant::quantize_input).collect()
    } else {
        Vec::new()
    };
    let xl: Vec<Vec<legacy::Q8Block32>> = if ws.iter().any(|w| !w.is_kquant()) {
        x.chunks_exact(k).map(legacy::quantize_input).collect()
    } else {
        Vec::new()
    };
    // the input rows in kernel-sized groups, built once rather than per unit
    let groups: Vec<Group> = (0..m)
        .step_by(MAX_M)
        .map(|r| {
            let rows = r..(r + MAX_M).min(m);
            Group {
                kquant: xk
                    .get(rows.clone())
                    .unwrap_or(&[])
                    .iter()
                    .map(Vec::as_slice)
                    .collect(),
                legacy: xl
                    .get(rows)
                    .unwrap_or(&[])
                    .iter()
                    .map(Vec::as_slice)
                    .collect(),
            }
        })
        .collect();
    let mut outs: Vec<Vec<f32>> = ws.iter().map(|w| vec![0f32; m * w.n]).collect();
    // unit u of the whole call → (weight, its unit); weights are few (≤ 3)
    let starts: Vec<usize> = ws
        .iter()
        .scan(0, |acc, w| {
            let s = *acc;
            *acc += w.n / ROWS;
            Some(s)
        })
        .collect();
    let total: usize = ws.iter().map(|w| w.n / ROWS).sum();
    let ptrs: Vec<OutPtr> = outs.iter_mut().map(|o| OutPtr(o.as_mut_ptr())).collect();
    // Only the first group of input rows reads a unit's tiles from memory; the later ones find
    // them in cache, so their kernels are the ones built without prefetching.
    let ahead = kquant_prefetch();
    candle_core::utils::barrier_pool().execute_chunked(total, |range| {
        let mut buf = [[0f32; ROWS]; MAX_M];
        for u in range {
            let wi = starts.partition_point(|&s| s <= u) - 1;
            let local = u - starts[wi];
            let n = ws[wi].n;
            for (c, xs) in groups.iter().enumerate() {
                let rows = xs.len();
                let to = if c == 0 { ahead } else { Prefetch::Off };
                ws[wi].unit(local, xs, &mut buf[..rows], to);
                for (i, ys) in buf[..rows].iter().enumerate() {
                    let row = c * MAX_M + i;
                    // SAFETY: unit `local` owns columns 16*local..16*local+16 of every row
                    // of output `wi` (m rows of n, n a multiple of 16); no two units share
                    // them.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            ys.as_ptr(),
                            ptrs[wi].0.add(row * n + local * ROWS),
                            ROWS,
                        );
                    }
                }
            }
        }
    });
    Ok(outs)
}

/// An output buffer written by several threads, each to its own rows.
struct OutPtr(*mut f32);
// SAFETY: see the write in `products`: disjoint columns per unit.
unsafe impl Sync for OutPtr {}
unsafe impl Send for OutPtr {}

/// The instruction sets the kernels are written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 F/BW with VNNI: Zen 4, Intel Xeons since Cascade Lake.
    Avx512Vnni,
    /// AVX2 with FMA and F16C: Zen 2 and 3, Intel Haswell to Comet Lake. Without our kernels
    /// there, every product runs on candle's.
    Avx2,
}

impl Isa {
    /// The best this CPU has, if any (detected once).
    pub fn detected() -> Option<Isa> {
        static BEST: std::sync::OnceLock<Option<Isa>> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Isa::available().into_iter().next())
    }

    /// Every one this CPU has, best first.
    pub fn available() -> Vec<Isa> {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let mut isas = Vec::new();
            if has!("avx512f") && has!("avx512bw") && has!("avx512vnni") && has!("f16c") {
                isas.push(Isa::Avx512Vnni);
            }
            if has!("avx2") && has!("fma") && has!("f16c") {
                isas.push(Isa::Avx2);
            }
            isas
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Vec::new()
        }
    }
}

/// Where a kernel asks for the tiles it will read next, before it reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefetch {
    /// The hardware prefetcher alone.
    Off,
    /// `prefetcht0`: into L1.
    L1,
    /// `prefetcht2`: into L2, not L1. Each prefetch into L1 holds one of the core's few L1 miss
    /// buffers until its line arrives, which caps the lines in flight from memory; L2 tracks
    /// many more. (`prefetcht1` also stops at L2 on Intel; it measured no better.)
    L2,
}

impl Prefetch {
    // A kernel takes its level as a const parameter, so that the one built without prefetching
    // has no prefetch code in its inner loop: a branch on the level there, even never taken,
    // cost the 1.5B's prefill 300 to 246 tok/s (session 32).
    const LEVEL_OFF: u8 = 0;
    const LEVEL_L1: u8 = 1;
    const LEVEL_L2: u8 = 2;

    /// The level of a kernel built with `level`, one of the `LEVEL_*` values.
    const fn of(level: u8) -> Self {
        match level {
            Self::LEVEL_L1 => Self::L1,
            Self::LEVEL_L2 => Self::L2,
            _ => Self::Off,
        }
    }

    /// `PARLEY_KQUANT_PREFETCH`: `off`, `l1` or `l2`.
    fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "l1" => Some(Self::L1),
            "l2" => Some(Self::L2),
            _ => None,
        }
    }
}

/// Where the K-quant kernels prefetch the tiles ahead, as measured on each kind of CPU
/// (BENCHMARKS.md); `PARLEY_KQUANT_PREFETCH` overrides it, to measure a new one.
/// - Intel: into L2. On the Xeons of session 10 the hardware prefetcher alone kept only about
///   half of the memory bandwidth busy; into L1, the 1.5B decoded at 11.3 tok/s on a host whose
///   memory was contended and 20.2 on a quiet one, into L2 at 17.5 and 21.4 (session 31).
/// - AMD Zen 5: into L1. A single thread decodes the 1.5B at 15 tok/s without, 23 with
///   (session 18). Two threads: into L1 and into L2 were level while each tile's lines were
///   asked for in one burst; into L1 spread over the tile ([`simd::prefetch_part`]) took the
///   1.5B from level with llama.cpp to ahead of it (session 32).
/// - AMD Zen 4 and before: off. Zen 4's hardware prefetcher does better alone: 17.4–18.5 tok/s
///   without, 13.6–13.7 into L1 (session 12).
///
/// Before session 32 every level was one burst per tile; into L1 spread is not yet measured on
/// Intel or on Zen 4, and may beat what they use.
///
/// The 32-value block kernels prefetch into L1 on every CPU (their prefill loses a quarter
/// without).
fn kquant_prefetch() -> Prefetch {
    static AHEAD: std::sync::OnceLock<Prefetch> = std::sync::OnceLock::new();
    *AHEAD.get_or_init(|| {
        let chosen = std::env::var("PARLEY_KQUANT_PREFETCH").ok().and_then(|v| {
            let level = Prefetch::parse(&v);
            if level.is_none() {
                tracing::warn!(value = %v, "PARLEY_KQUANT_PREFETCH is not off, l1 or l2; ignored");
            }
            level
        });
        chosen.unwrap_or(match amd_family() {
            None => Prefetch::L2,
            Some(family) if family >= 0x1A => Prefetch::L1,
            Some(_) => Prefetch::Off,
        })
    })
}

/// The CPU family when the vendor is AMD: 0x1A is Zen 5; 0x17 and 0x19 are Zen 1 to 4.
fn amd_family() -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: CPUID leaves 0 and 1 exist on every x86_64 CPU.
        #[allow(unused_unsafe)]
        let (vendor, signature) = unsafe {
            use std::arch::x86_64::__cpuid;
            (__cpuid(0), __cpuid(1).eax)
        };
        // the vendor string is EBX, EDX, ECX: "AuthenticAMD"
        let amd = vendor.ebx.to_le_bytes() == *b"Auth"
            && vendor.edx.to_le_bytes() == *b"enti"
            && vendor.ecx.to_le_bytes() == *b"cAMD";
        amd.then(|| cpu_family(signature))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

/// The family in a CPUID leaf 1 signature: the base family, plus the extended family when the
/// base is 0xF.
fn cpu_family(signature: u32) -> u32 {
    let base = (signature >> 8) & 0xF;
    if base == 0xF {
        base + ((signature >> 20) & 0xFF)
    } else {
        base
    }
}

/// Rounds `xs` to `qs` on a symmetric i8 scale (ggml's Q8_0 and Q8_K rounding); returns the
/// scale.
fn quantize_i8(xs: &[f32], qs: &mut [i8]) -> f32 {
    let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
    if amax > 0.0 {
        let id = 127.0 / amax;
        for (q, v) in qs.iter_mut().zip(xs) {
            *q = (v * id).round().clamp(-127.0, 127.0) as i8;
        }
    }
    amax / 127.0
}

fn f16_bits(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

/// Loads and broadcasts shared by the kernels.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    /// An aligned load of a SIMD vector. Not `_mm512_loadu_si512`: that is `read_unaligned`,
    /// which with debug assertions on goes through the stack in two halves and stalls every
    /// load on store forwarding (~10x slower in a dev build).
    #[inline(always)]
    pub(super) unsafe fn load<T>(p: *const u8) -> T {
        std::ptr::read(p as *const T)
    }

    /// Asks for the memory `ahead` bytes past `t` to be brought `to` a cache level, one cache
    /// line per 64 bytes of a `T`.
    #[inline(always)]
    pub(super) unsafe fn prefetch<T>(t: &T, ahead: usize, to: super::Prefetch) {
        let p = (t as *const T as *const i8).wrapping_add(ahead);
        let lines =
            (0..std::mem::size_of::<T>().div_ceil(64)).map(|line| p.wrapping_add(line * 64));
        match to {
            super::Prefetch::Off => {}
            super::Prefetch::L1 => lines.for_each(|p| _mm_prefetch::<_MM_HINT_T0>(p)),
            super::Prefetch::L2 => lines.for_each(|p| _mm_prefetch::<_MM_HINT_T2>(p)),
        }
    }

    /// Part `part` of `parts` of [`prefetch`]: a kernel calls it once in each of its `parts`
    /// inner iterations over a `T`, so the lines of the `T` ahead are asked for a few at a time,
    /// in order, as fast as the kernel consumes the one it is on.
    ///
    /// Into L1 the lines must be spread: each holds one of the core's L1 miss buffers until it
    /// arrives, and a whole tile's lines at once (37 of a Q4_K tile) outnumber them, so the
    /// kernel's own loads wait behind its prefetches. On a Zen 5, in one window, the Q4_K kernel
    /// streamed 37 GB/s with the burst and 46 spread, the Q6_K kernel 30 and 46 (session 32).
    /// Into L2 a burst was measured, on Intel, where it leaves the L1 miss buffers free
    /// (session 31), so that stays one burst at part 0.
    #[inline(always)]
    pub(super) unsafe fn prefetch_part<T>(
        t: &T,
        ahead: usize,
        part: usize,
        parts: usize,
        to: super::Prefetch,
    ) {
        let p = (t as *const T as *const i8).wrapping_add(ahead);
        let lines = std::mem::size_of::<T>().div_ceil(64);
        match to {
            super::Prefetch::Off => {}
            super::Prefetch::L1 => (part * lines / parts..(part + 1) * lines / parts)
                .for_each(|line| _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(line * 64))),
            super::Prefetch::L2 if part == 0 => prefetch(t, ahead, to),
            super::Prefetch::L2 => {}
        }
    }

    /// 4 consecutive input bytes from `qs[at..]` broadcast to every 32-bit lane.
    #[inline(always)]
    pub(super) unsafe fn bcast4(qs: &[i8], at: usize) -> __m512i {
        debug_assert!(at + 4 <= qs.len());
        _mm512_set1_epi32(std::ptr::read_unaligned(qs.as_ptr().add(at) as *const i32))
    }

    /// The same, for 256-bit vectors.
    #[inline(always)]
    pub(super) unsafe fn bcast4_256(qs: &[i8], at: usize) -> __m256i {
        debug_assert!(at + 4 <= qs.len());
        _mm256_set1_epi32(std::ptr::read_unaligned(qs.as_ptr().add(at) as *const i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module, Tensor};

    /// A deterministic, roughly weight-shaped matrix.
    pub(super) fn matrix(n: usize, k: usize, seed: u64) -> Tensor {
        let mut s = seed;
        let v: Vec<f32> = (0..n * k)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
            })
            .collect();
        Tensor::from_vec(v, (n, k), &Device::Cpu).unwrap()
    }

    #[test]
    fn cpu_family_adds_the_extended_family_to_0xf() {
        // signatures as CPUID reports them: Zen 4 (EPYC 9004), Zen 5 (EPYC 9005), a Xeon
        assert_eq!(cpu_family(0x00A1_0F11), 0x19);
        assert_eq!(cpu_family(0x00B0_0F21), 0x1A);
        assert_eq!(cpu_family(0x0008_06F8), 6);
    }

    #[test]
    fn prefetch_levels_parse_as_documented() {
        assert_eq!(Prefetch::parse("l2"), Some(Prefetch::L2));
        assert_eq!(Prefetch::parse(" L1\n"), Some(Prefetch::L1));
        assert_eq!(Prefetch::parse("off"), Some(Prefetch::Off));
        assert_eq!(Prefetch::parse("t0"), None);
    }

    /// Our GEMV against the f32 product with candle's dequantized weights (the only difference
    /// is the input's i8 quantization), with the kernels of every ISA this CPU has.
    fn check(dtype: GgmlDType, k: usize) {
        let isas = Isa::available();
        if isas.is_empty() {
            eprintln!("skipped: this CPU has neither AVX-512 VNNI nor AVX2");
        }
        for isa in isas {
            check_isa(dtype, k, isa);
        }
    }

    fn check_isa(dtype: GgmlDType, k: usize, isa: Isa) {
        let n = 48;
        let w = QTensor::quantize(&matrix(n, k, 7), dtype).unwrap();
        let m = 7; // a full chunk of 4 input rows and one of 3
        let x = matrix(m, k, 11);
        let reference = w.dequantize(&Device::Cpu).unwrap().t().unwrap();
        let want: Vec<f32> = x
            .matmul(&reference)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let packed = PackedWeight::pack_for(&w, isa).unwrap().expect("packs");
        let xs: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let got = products(&[&packed, &packed], &xs, m).unwrap();
        assert_eq!(got[0].len(), m * n);
        // a row's result does not depend on the rows computed beside it, for every kernel
        // width (1 to 4 rows)
        for (i, row) in xs.chunks_exact(k).enumerate() {
            let alone = products(&[&packed], row, 1).unwrap();
            assert_eq!(
                alone[0],
                got[1][i * n..(i + 1) * n],
                "{isa:?} {dtype:?} row {i}"
            );
        }
        for rows in 2..=3 {
            let some = products(&[&packed], &xs[..rows * k], rows).unwrap();
            assert_eq!(some[0], got[0][..rows * n], "{isa:?} {dtype:?} {rows} rows");
        }
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for y in &got {
            for (a, b) in y.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 0.01 * scale,
                    "{isa:?} {dtype:?}: {a} vs {b}"
                );
            }
        }
        // and within rounding of candle's own quantized matmul
        let candle: Vec<f32> = candle_core::quantized::QMatMul::from_qtensor(w)
            .unwrap()
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (a, b) in got[0].iter().zip(&candle) {
            assert!(
                (a - b).abs() <= 0.01 * scale,
                "{isa:?} {dtype:?} vs candle: {a} vs {b}"
            );
        }
    }

    /// The ISAs' kernels do the same integer arithmetic, so they agree to float rounding.
    #[test]
    fn every_isa_gives_the_same_products() {
        let isas = Isa::available();
        let (n, k, m) = (32, 512, 5);
        let xs: Vec<f32> = matrix(m, k, 9).flatten_all().unwrap().to_vec1().unwrap();
        for dtype in [
            GgmlDType::Q4K,
            GgmlDType::Q6K,
            GgmlDType::Q8_0,
            GgmlDType::Q5_0,
        ] {
            let w = QTensor::quantize(&matrix(n, k, 8), dtype).unwrap();
            let ys: Vec<Vec<f32>> = isas
                .iter()
                .map(|&isa| {
                    let p = PackedWeight::pack_for(&w, isa).unwrap().expect("packs");
                    products(&[&p], &xs, m).unwrap().remove(0)
                })
                .collect();
            for pair in ys.windows(2) {
                for (a, b) in pair[0].iter().zip(&pair[1]) {
                    assert!(
                        (a - b).abs() <= 1e-4 * a.abs().max(1.0),
                        "{dtype:?}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn q4k_matches_the_dequantized_product() {
        check(GgmlDType::Q4K, 768);
    }

    #[test]
    fn q6k_matches_the_dequantized_product() {
        check(GgmlDType::Q6K, 768);
    }

    #[test]
    fn block32_types_match_the_dequantized_product() {
        // 896 and 576: the 0.5B's and SmolLM2's hidden sizes
        for dtype in [
            GgmlDType::Q8_0,
            GgmlDType::Q5_0,
            GgmlDType::Q5_1,
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
        ] {
            check(dtype, 896);
            check(dtype, 576);
        }
    }

    #[test]
    fn every_prefetch_level_gives_the_same_products() {
        if Isa::detected().is_none() {
            return;
        }
        let (n, k) = (32, 512);
        let xs: Vec<f32> = matrix(4, k, 7).flatten_all().unwrap().to_vec1().unwrap();
        let q8: Vec<Vec<kquant::Q8Block>> =
            xs.chunks_exact(k).map(kquant::quantize_input).collect();
        for dtype in [GgmlDType::Q4K, GgmlDType::Q6K] {
            let q = QTensor::quantize(&matrix(n, k, 6), dtype).unwrap();
            let w = PackedWeight::pack(&q).unwrap().expect("packs");
            for m in 1..=MAX_M {
                let group = Group {
                    kquant: q8[..m].iter().map(Vec::as_slice).collect(),
                    legacy: Vec::new(),
                };
                let run = |ahead| {
                    let mut out = vec![[0f32; ROWS]; m];
                    w.unit(1, &group, &mut out, ahead);
                    out
                };
                let off = run(Prefetch::Off);
                assert_eq!(run(Prefetch::L1), off, "{dtype:?}, {m} rows, into L1");
                assert_eq!(run(Prefetch::L2), off, "{dtype:?}, {m} rows, into L2");
            }
        }
    }

    #[test]
    fn a_call_may_mix_kquant_and_block32_weights() {
        if Isa::detected().is_none() {
            return;
        }
        let (n, k, m) = (32, 512, 3);
        let a = QTensor::quantize(&matrix(n, k, 3), GgmlDType::Q4K).unwrap();
        let b = QTensor::quantize(&matrix(n, k, 4), GgmlDType::Q8_0).unwrap();
        let (pa, pb) = (
            PackedWeight::pack(&a).unwrap().expect("packs"),
            PackedWeight::pack(&b).unwrap().expect("packs"),
        );
        let xs: Vec<f32> = matrix(m, k, 5).flatten_all().unwrap().to_vec1().unwrap();
        let both = products(&[&pa, &pb], &xs, m).unwrap();
        assert_eq!(both[0], products(&[&pa], &xs, m).unwrap()[0]);
        assert_eq!(both[1], products(&[&pb], &xs, m).unwrap()[0]);
    }

    #[test]
    fn other_types_and_shapes_stay_with_candle() {
        let w = QTensor::quantize(&matrix(48, 768, 1), GgmlDType::Q2K).unwrap();
        assert!(PackedWeight::pack(&w).unwrap().is_none());
        let w = QTensor::quantize(&matrix(40, 768, 1), GgmlDType::Q4K).unwrap();
        assert!(PackedWeight::pack(&w).unwrap().is_none());
        // 32-value blocks, but not whole 64-column tiles
        let w = QTensor::quantize(&matrix(48, 96, 1), GgmlDType::Q8_0).unwrap();
        assert!(PackedWeight::pack(&w).unwrap().is_none());
    }
}
