//! The trained classifier: one-vs-rest logistic regression for tags and a softmax for urgency,
//! over hashed sparse features, trained deterministically with AdaGrad SGD.
//!
//! Training a few thousand messages takes well under a second on one core, so the model is
//! trained at start-up from the shipped examples (plus operator corrections) instead of shipping
//! a weight file that could drift from the data.

use super::features::{SparseVec, DIM};

/// Hyper-parameters; the defaults were chosen by cross-validation on the training split.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    pub epochs: usize,
    pub learning_rate: f32,
    /// L2 penalty, applied to the weights an example touches.
    pub l2: f32,
    /// Up-weights positive examples of rare tags: weight = clamp(sqrt(neg/pos), 1, max).
    pub max_positive_weight: f32,
    /// Seed of the deterministic shuffle.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 12,
            learning_rate: 0.4,
            l2: 1e-4,
            max_positive_weight: 3.0,
            seed: 0x5eed,
        }
    }
}

/// One training example for the model.
#[derive(Debug, Clone)]
pub struct TrainRow<'a> {
    pub x: &'a SparseVec,
    /// Indexes of the positive tags.
    pub tags: &'a [usize],
    /// Urgency class index, when labelled.
    pub urgency: Option<usize>,
    /// How much this example counts (operator corrections count more).
    pub weight: f32,
    /// Whether this row carries tag labels at all.
    pub has_tags: bool,
}

/// Dense weights laid out feature-major (`w[feature * outputs + k]`), so a sparse dot touches
/// one contiguous run per feature.
#[derive(Debug, Clone)]
pub struct Linear {
    outputs: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl Linear {
    fn zeros(outputs: usize) -> Self {
        Linear {
            outputs,
            w: vec![0.0; DIM * outputs],
            b: vec![0.0; outputs],
        }
    }

    /// Raw scores (logits) for every output.
    pub fn logits(&self, x: &SparseVec) -> Vec<f32> {
        let mut out = self.b.clone();
        for (i, v) in x.idx.iter().zip(&x.val) {
            let base = *i as usize * self.outputs;
            if let Some(row) = self.w.get(base..base + self.outputs) {
                for (o, w) in out.iter_mut().zip(row) {
                    *o += w * v;
                }
            }
        }
        out
    }
}

/// Tags (independent sigmoids) and urgency (softmax over the four levels).
#[derive(Debug, Clone)]
pub struct Model {
    pub tags: Linear,
    pub urgency: Linear,
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

pub fn softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// A small deterministic generator for the shuffle (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// AdaGrad state beside a `Linear`.
struct Trainer {
    m: Linear,
    g2: Vec<f32>,
    g2b: Vec<f32>,
    lr: f32,
    l2: f32,
}

impl Trainer {
    fn new(outputs: usize, p: &TrainParams) -> Self {
        Trainer {
            m: Linear::zeros(outputs),
            g2: vec![0.0; DIM * outputs],
            g2b: vec![0.0; outputs],
            lr: p.learning_rate,
            l2: p.l2,
        }
    }

    /// Applies the gradient `grad[k]` (d loss / d logit k) for example `x`.
    fn step(&mut self, x: &SparseVec, grad: &[f32]) {
        let k = self.m.outputs;
        for (i, v) in x.idx.iter().zip(&x.val) {
            let base = *i as usize * k;
            for (o, g_out) in grad.iter().enumerate().take(k) {
                let slot = base + o;
                let g = g_out * v + self.l2 * self.m.w[slot];
                if g == 0.0 {
                    continue;
                }
                self.g2[slot] += g * g;
                self.m.w[slot] -= self.lr * g / (self.g2[slot].sqrt() + 1e-6);
            }
        }
        for (o, g) in grad.iter().enumerate().take(k) {
            self.g2b[o] += g * g;
            self.m.b[o] -= self.lr * g / (self.g2b[o].sqrt() + 1e-6);
        }
    }
}

/// Trains both heads. `n_tags` outputs for tags, 4 for urgency (low, normal, high, emergency).
pub fn train(rows: &[TrainRow<'_>], n_tags: usize, p: &TrainParams) -> Model {
    let tagged: Vec<&TrainRow<'_>> = rows.iter().filter(|r| r.has_tags).collect();
    let mut pos = vec![0usize; n_tags];
    for r in &tagged {
        for t in r.tags {
            if let Some(c) = pos.get_mut(*t) {
                *c += 1;
            }
        }
    }
    let pos_weight: Vec<f32> = pos
        .iter()
        .map(|&c| {
            let neg = tagged.len().saturating_sub(c) as f32;
            (neg / c.max(1) as f32)
                .sqrt()
                .clamp(1.0, p.max_positive_weight)
        })
        .collect();

    // The two heads are independent: train them on two threads (start-up time halves on two
    // cores). Each replays the same seeded shuffle, so the result does not depend on threads.
    let (tags, urgency) = std::thread::scope(|s| {
        let urg = s.spawn(|| train_urgency(rows, p));
        let tags = train_tags(rows, n_tags, &pos_weight, p);
        let urgency = match urg.join() {
            Ok(m) => m,
            // Training does only arithmetic on owned data; re-raise anything unexpected.
            Err(e) => std::panic::resume_unwind(e),
        };
        (tags, urgency)
    });
    Model { tags, urgency }
}

fn epochs_order(n: usize, p: &TrainParams) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(p.seed | 1);
    (0..p.epochs)
        .map(|_| {
            rng.shuffle(&mut order);
            order.clone()
        })
        .collect()
}

fn train_tags(rows: &[TrainRow<'_>], n_tags: usize, pos_weight: &[f32], p: &TrainParams) -> Linear {
    let mut tags = Trainer::new(n_tags, p);
    let mut grad_t = vec![0.0f32; n_tags];
    for order in epochs_order(rows.len(), p) {
        for i in order {
            let r = &rows[i];
            if r.has_tags && n_tags > 0 {
                let z = tags.m.logits(r.x);
                for (k, g) in grad_t.iter_mut().enumerate() {
                    let y = r.tags.contains(&k);
                    let w = if y { pos_weight[k] } else { 1.0 } * r.weight;
                    *g = (sigmoid(z[k]) - if y { 1.0 } else { 0.0 }) * w;
                }
                tags.step(r.x, &grad_t);
            }
        }
    }
    tags.m
}

fn train_urgency(rows: &[TrainRow<'_>], p: &TrainParams) -> Linear {
    let mut urg = Trainer::new(4, p);
    for order in epochs_order(rows.len(), p) {
        for i in order {
            let r = &rows[i];
            if let Some(u) = r.urgency {
                let pr = softmax(&urg.m.logits(r.x));
                let g: Vec<f32> = pr
                    .iter()
                    .enumerate()
                    .map(|(k, q)| (q - if k == u { 1.0 } else { 0.0 }) * r.weight)
                    .collect();
                urg.step(r.x, &g);
            }
        }
    }
    urg.m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vec_of(ids: &[u32]) -> SparseVec {
        SparseVec::from_pairs(ids.iter().map(|i| (*i, 1.0)).collect()).normalized()
    }

    #[test]
    fn learns_a_separable_toy_problem_deterministically() {
        let xs = [
            vec_of(&[1, 2]),
            vec_of(&[3, 4]),
            vec_of(&[1, 5]),
            vec_of(&[3, 6]),
        ];
        let tags: [&[usize]; 4] = [&[0], &[1], &[0], &[1]];
        let urg = [Some(3), Some(0), Some(3), Some(0)];
        let rows: Vec<TrainRow<'_>> = (0..4)
            .map(|i| TrainRow {
                x: &xs[i],
                tags: tags[i],
                urgency: urg[i],
                weight: 1.0,
                has_tags: true,
            })
            .collect();
        let p = TrainParams::default();
        let m = train(&rows, 2, &p);
        let z = m.tags.logits(&vec_of(&[1]));
        assert!(sigmoid(z[0]) > 0.5 && sigmoid(z[1]) < 0.5);
        let u = softmax(&m.urgency.logits(&vec_of(&[3])));
        assert!(u[0] > 0.5);
        let again = train(&rows, 2, &p);
        assert_eq!(again.tags.logits(&xs[0]), m.tags.logits(&xs[0]));
    }

    #[test]
    fn softmax_is_stable_for_large_logits() {
        let p = softmax(&[1000.0, 0.0, -1000.0, 999.0]);
        assert!(p.iter().all(|x| x.is_finite()));
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
