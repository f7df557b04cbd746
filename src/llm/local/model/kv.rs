//! The keys and values of one sequence, as plain `f32` buffers the attention reads in place.

use candle_core::Result;

/// Per layer, keys and values laid out `[kv_head][capacity][head_dim]`; the first `len`
/// positions are valid. Grows in steps so decode does not reallocate every token.
pub struct KvState {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    cap: usize,
    n_layer: usize,
    n_kv_head: usize,
    head_dim: usize,
}

/// One layer's cache, read-only, for the attention.
pub struct LayerKv<'a> {
    pub k: &'a [f32],
    pub v: &'a [f32],
    /// Positions each head's run has room for: head `j` starts at `j * cap * head_dim`.
    pub cap: usize,
}

/// A copy of the first `len` positions of a `KvState`, per layer `[kv_head][len][head_dim]`.
pub struct KvSnapshot {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
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
            .map(|t| std::mem::size_of_val(t.as_slice()))
            .sum()
    }
}

impl KvState {
    pub fn new(n_layer: usize, n_kv_head: usize, head_dim: usize) -> Self {
        Self {
            k: Vec::new(),
            v: Vec::new(),
            len: 0,
            cap: 0,
            n_layer,
            n_kv_head,
            head_dim,
        }
    }

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

    /// Marks positions up to `len` valid once every layer has written them.
    pub(super) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.cap);
    }

    pub(super) fn layer(&self, li: usize) -> LayerKv<'_> {
        LayerKv {
            k: &self.k[li],
            v: &self.v[li],
            cap: self.cap,
        }
    }

    /// Stores the keys and values of `rows` new positions from `pos` in layer `li`; `k` and `v`
    /// are `[row][kv_head][head_dim]`, as the projections produce them.
    pub(super) fn write(&mut self, li: usize, pos: usize, k: &[f32], v: &[f32]) {
        let (hd, cap) = (self.head_dim, self.cap);
        let row = self.n_kv_head * hd;
        for (buf, src) in [(&mut self.k[li], k), (&mut self.v[li], v)] {
            for (r, heads) in src.chunks_exact(row).enumerate() {
                for (j, head) in heads.chunks_exact(hd).enumerate() {
                    let at = (j * cap + pos + r) * hd;
                    buf[at..at + hd].copy_from_slice(head);
                }
            }
        }
    }

    /// Makes room for `needed` positions (at most `max`), keeping the valid ones.
    pub(super) fn reserve(&mut self, needed: usize, max: usize) -> Result<()> {
        if needed <= self.cap {
            return Ok(());
        }
        if needed > max {
            candle_core::bail!("context window exceeded: {needed} > {max}")
        }
        let new_cap = (needed.max(self.cap * 2).div_ceil(256) * 256)
            .min(max)
            .max(needed);
        let grow = |old: &[f32]| -> Vec<f32> {
            let mut buf = vec![0f32; self.n_kv_head * new_cap * self.head_dim];
            self.copy_heads(old, self.cap, &mut buf, new_cap, self.len);
            buf
        };
        let k: Vec<Vec<f32>> = (0..self.n_layer)
            .map(|li| grow(self.k.get(li).map_or(&[][..], Vec::as_slice)))
            .collect();
        let v: Vec<Vec<f32>> = (0..self.n_layer)
            .map(|li| grow(self.v.get(li).map_or(&[][..], Vec::as_slice)))
            .collect();
        self.k = k;
        self.v = v;
        self.cap = new_cap;
        Ok(())
    }

    /// Copies the first `len` positions of each head from `src` (room for `src_cap` per head)
    /// to `dst` (room for `dst_cap`).
    fn copy_heads(&self, src: &[f32], src_cap: usize, dst: &mut [f32], dst_cap: usize, len: usize) {
        if len == 0 {
            return;
        }
        let hd = self.head_dim;
        for j in 0..self.n_kv_head {
            let from = &src[j * src_cap * hd..][..len * hd];
            dst[j * dst_cap * hd..][..len * hd].copy_from_slice(from);
        }
    }

    /// Copies out the first `len` positions.
    pub fn snapshot(&self, len: usize) -> Result<KvSnapshot> {
        let len = len.min(self.len);
        let copy = |bufs: &[Vec<f32>]| -> Vec<Vec<f32>> {
            bufs.iter()
                .map(|buf| {
                    let mut out = vec![0f32; self.n_kv_head * len * self.head_dim];
                    self.copy_heads(buf, self.cap, &mut out, len, len);
                    out
                })
                .collect()
        };
        Ok(KvSnapshot {
            k: copy(&self.k),
            v: copy(&self.v),
            len,
        })
    }

    /// Replaces the state with the first `len` positions of `snap`.
    pub fn restore(&mut self, snap: &KvSnapshot, len: usize, max: usize) -> Result<()> {
        let len = len.min(snap.len);
        self.len = 0;
        self.reserve(len, max)?;
        let cap = self.cap;
        for li in 0..self.n_layer.min(snap.k.len()) {
            let (mut k, mut v) = (
                std::mem::take(&mut self.k[li]),
                std::mem::take(&mut self.v[li]),
            );
            self.copy_heads(&snap.k[li], snap.len, &mut k, cap, len);
            self.copy_heads(&snap.v[li], snap.len, &mut v, cap, len);
            self.k[li] = k;
            self.v[li] = v;
        }
        self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct values per (layer, head, position, element), as `write` takes them.
    fn rows(li: usize, pos: usize, n: usize, heads: usize, hd: usize) -> Vec<f32> {
        (0..n)
            .flat_map(|r| {
                (0..heads * hd).map(move |e| (li * 1_000_000 + (pos + r) * 1000 + e) as f32)
            })
            .collect()
    }

    #[test]
    fn growing_snapshots_and_restores_keep_every_position() {
        let (layers, heads, hd) = (2, 3, 4);
        let mut kv = KvState::new(layers, heads, hd);
        for pos in 0..300 {
            kv.reserve(pos + 1, 8192).unwrap();
            for li in 0..layers {
                let r = rows(li, pos, 1, heads, hd);
                kv.write(li, pos, &r, &r);
            }
            kv.set_len(pos + 1);
        }
        assert!(kv.cap >= 300);
        let snap = kv.snapshot(280).unwrap();
        assert_eq!(snap.bytes(), 2 * layers * heads * 280 * hd * 4);
        let mut other = KvState::new(layers, heads, hd);
        other.restore(&snap, 270, 8192).unwrap();
        assert_eq!(other.len(), 270);
        for li in 0..layers {
            let got = other.layer(li);
            for pos in [0, 137, 269] {
                let want = rows(li, pos, 1, heads, hd);
                for j in 0..heads {
                    let at = (j * got.cap + pos) * hd;
                    assert_eq!(got.k[at..at + hd], want[j * hd..(j + 1) * hd]);
                    assert_eq!(got.v[at..at + hd], want[j * hd..(j + 1) * hd]);
                }
            }
        }
    }

    #[test]
    fn a_window_past_the_limit_is_an_error() {
        let mut kv = KvState::new(1, 1, 2);
        assert!(kv.reserve(10, 8).is_err());
    }
}
