//! Speculative greedy decoding: a small model that shares the large one's tokenizer proposes a
//! few tokens; the large model checks them all in one forward pass and keeps the run it agrees
//! with, plus its own next token. The output is the large model's own greedy output (up to
//! floating-point near-ties, since a batched pass sums in a different order than single steps);
//! the speed-up depends on how often the small model guesses right and how much cheaper one
//! pass over k+1 tokens is than k+1 single steps.

use std::time::Instant;

use candle_core::Result;

use super::model::Model;

/// How a speculative generation went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpeculativeStats {
    /// Tokens the draft model proposed.
    pub proposed: usize,
    /// Proposed tokens the target model agreed with.
    pub accepted: usize,
    /// Verification passes of the target model (each yields at least one token).
    pub target_passes: usize,
    /// Both models reading the prompt.
    pub prefill_ms: f64,
    /// Everything after: proposing, verifying, emitting.
    pub decode_ms: f64,
}

impl SpeculativeStats {
    pub fn acceptance(&self) -> f64 {
        if self.proposed == 0 {
            0.0
        } else {
            self.accepted as f64 / self.proposed as f64
        }
    }
}

/// Index of the largest logit (the first on ties, as plain greedy decoding picks).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in logits.iter().enumerate() {
        if *v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Greedy-decodes up to `max_tokens` after `prompt` with `target`, `k` tokens proposed by
/// `draft` per verification pass. Stops before a token for which `is_stop` holds.
pub fn greedy(
    target: &Model,
    draft: &Model,
    prompt: &[u32],
    max_tokens: usize,
    k: usize,
    is_stop: impl Fn(u32) -> bool,
) -> Result<(Vec<u32>, SpeculativeStats)> {
    let k = k.max(1);
    let mut stats = SpeculativeStats::default();
    let mut target_kv = target.new_kv();
    let mut draft_kv = draft.new_kv();
    let started = Instant::now();
    let mut next = argmax(&target.forward(prompt, &mut target_kv)?);
    draft.forward(prompt, &mut draft_kv)?;
    stats.prefill_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    // Tokens the draft model has not seen yet (its cache lags the confirmed sequence).
    let mut unseen: Vec<u32> = Vec::new();
    let mut out: Vec<u32> = Vec::new();
    while out.len() < max_tokens && !is_stop(next) {
        out.push(next);
        unseen.push(next);
        if out.len() >= max_tokens {
            break;
        }
        // The draft catches up on the confirmed tokens, then proposes k more.
        let mut proposal = Vec::with_capacity(k);
        let mut logits = draft.forward(&unseen, &mut draft_kv)?;
        unseen.clear();
        for i in 0..k {
            let t = argmax(&logits);
            proposal.push(t);
            if i + 1 < k {
                logits = draft.forward(&[t], &mut draft_kv)?;
            }
        }
        stats.proposed += k;

        // One target pass over [next, proposal...]: row i predicts the token after input i.
        let base = target_kv.len();
        let mut input = Vec::with_capacity(k + 1);
        input.push(next);
        input.extend_from_slice(&proposal);
        let rows = target.forward_all(&input, &mut target_kv)?;
        stats.target_passes += 1;
        let mut agreed = 0;
        while agreed < k && argmax(&rows[agreed]) == proposal[agreed] {
            agreed += 1;
        }
        stats.accepted += agreed;
        // Keep `next` and the agreed proposals; the target's own token follows them.
        target_kv.truncate(base + 1 + agreed);
        // The draft saw `next` and proposal[..k-1]; past the agreed run its state is wrong.
        if agreed < k {
            draft_kv.truncate(base + 1 + agreed);
        } else {
            unseen.push(proposal[k - 1]);
        }
        let mut stopped = false;
        for &t in &proposal[..agreed] {
            if is_stop(t) || out.len() >= max_tokens {
                stopped = true;
                break;
            }
            out.push(t);
        }
        if stopped {
            break;
        }
        next = argmax(&rows[agreed]);
    }
    stats.decode_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_picks_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7, -1.0]), 1);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -3.0]), 1);
    }
}
