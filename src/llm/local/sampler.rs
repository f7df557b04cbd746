//! Next-token choice from logits: repeat penalty, then greedy or temperature/top-k/top-p.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::llm::Sampling;

/// Without an explicit top-k, top-p only looks at this many candidates: sorting all of Qwen's
/// 152k logits each step costs ~8 ms, and the mass past the top 256 is negligible.
const TOP_P_CANDIDATES: usize = 256;

pub struct Sampler {
    params: Sampling,
    rng: StdRng,
}

impl Sampler {
    pub fn new(params: Sampling) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Self { params, rng }
    }

    /// Picks the next id; `history` is every token so far (prompt and generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repeat_penalty != 1.0 {
            let start = history.len().saturating_sub(p.repeat_last_n);
            let mut seen = history[start..].to_vec();
            seen.sort_unstable();
            seen.dedup();
            for id in seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    // llama.cpp's rule: shrink positive logits, push negative ones further down
                    *l = if *l > 0.0 {
                        *l / p.repeat_penalty
                    } else {
                        *l * p.repeat_penalty
                    };
                }
            }
        }
        if p.is_greedy() {
            return argmax(logits);
        }
        let k = match (p.top_k, p.top_p) {
            (Some(k), _) => k.min(logits.len()),
            (None, Some(_)) => TOP_P_CANDIDATES.min(logits.len()),
            (None, None) => logits.len(),
        };
        let mut cand: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, l))
            .collect();
        if k < cand.len() {
            cand.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
            cand.truncate(k);
        }
        cand.sort_unstable_by(|a, b| b.1.total_cmp(&a.1));
        let max = cand[0].1;
        let mut probs: Vec<f32> = cand
            .iter()
            .map(|&(_, l)| ((l - max) / p.temperature).exp())
            .collect();
        let sum: f32 = probs.iter().sum();
        probs.iter_mut().for_each(|x| *x /= sum);
        if let Some(top_p) = p.top_p {
            let mut acc = 0.0;
            let mut keep = probs.len();
            for (i, &pr) in probs.iter().enumerate() {
                acc += pr;
                if acc >= top_p {
                    keep = i + 1;
                    break;
                }
            }
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().sum();
        let mut r = self.rng.random::<f32>() * total;
        for (i, &pr) in probs.iter().enumerate() {
            if r < pr {
                return cand[i].0;
            }
            r -= pr;
        }
        cand[probs.len() - 1].0
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        // strict `>` keeps the lowest id on ties, like llama.cpp
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_largest_logit() {
        let mut s = Sampler::new(Sampling::greedy());
        assert_eq!(s.sample(&mut [0.1, 3.0, 2.0], &[]), 1);
    }

    #[test]
    fn repeat_penalty_can_change_the_greedy_choice() {
        let mut s = Sampler::new(Sampling {
            repeat_penalty: 2.0,
            ..Sampling::greedy()
        });
        assert_eq!(s.sample(&mut [0.0, 3.0, 2.0], &[1]), 2);
    }

    #[test]
    fn top_k_one_is_greedy_and_seeds_repeat() {
        let params = Sampling {
            temperature: 0.8,
            top_k: Some(1),
            ..Sampling::greedy()
        };
        let mut s = Sampler::new(params.clone());
        assert_eq!(s.sample(&mut [0.1, 3.0, 2.0], &[]), 1);

        let run = |seed| {
            let mut s = Sampler::new(Sampling {
                temperature: 1.0,
                top_k: None,
                top_p: Some(0.95),
                seed,
                ..Sampling::greedy()
            });
            (0..20)
                .map(|_| s.sample(&mut [1.0, 1.1, 0.9, 1.05], &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
    }
}
