//! Language-detection accuracy, overall and by message length, where short messages are hard.

use serde::{Deserialize, Serialize};

use super::ratio;
use crate::eval::text::count_words;

/// Message length classes; "undecidable" answers are expected mostly in the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LengthBucket {
    /// 0–2 words (an emoji-only message has no words and lands here).
    #[serde(rename = "1-2")]
    Short,
    #[serde(rename = "3-9")]
    Medium,
    #[serde(rename = "10+")]
    Long,
}

impl LengthBucket {
    pub const ALL: [LengthBucket; 3] = [
        LengthBucket::Short,
        LengthBucket::Medium,
        LengthBucket::Long,
    ];

    pub fn of(text: &str) -> LengthBucket {
        match count_words(text) {
            0..=2 => LengthBucket::Short,
            3..=9 => LengthBucket::Medium,
            _ => LengthBucket::Long,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            LengthBucket::Short => "1-2 words",
            LengthBucket::Medium => "3-9 words",
            LengthBucket::Long => "10+ words",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketScore {
    pub bucket: LengthBucket,
    pub cases: usize,
    pub correct: usize,
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LanguageScores {
    pub cases: usize,
    pub correct: usize,
    pub accuracy: Option<f64>,
    pub buckets: Vec<BucketScore>,
    /// Messages of three words or more: the bar triage is held to.
    pub accuracy_3plus: Option<f64>,
}

impl LanguageScores {
    pub fn bucket(&self, bucket: LengthBucket) -> Option<&BucketScore> {
        self.buckets.iter().find(|b| b.bucket == bucket)
    }
}

/// Scores `(text, correct)` pairs, where `correct` says the detected language matched.
pub fn score<'a>(cases: impl IntoIterator<Item = (&'a str, bool)>) -> LanguageScores {
    let mut counts = [(0usize, 0usize); 3];
    for (text, correct) in cases {
        let slot = &mut counts[LengthBucket::of(text) as usize];
        slot.0 += 1;
        slot.1 += usize::from(correct);
    }
    let buckets: Vec<BucketScore> = LengthBucket::ALL
        .iter()
        .zip(counts)
        .map(|(bucket, (cases, correct))| BucketScore {
            bucket: *bucket,
            cases,
            correct,
            accuracy: ratio(correct, cases),
        })
        .collect();
    let cases: usize = counts.iter().map(|c| c.0).sum();
    let correct: usize = counts.iter().map(|c| c.1).sum();
    let (long_cases, long_correct) = (counts[1].0 + counts[2].0, counts[1].1 + counts[2].1);
    LanguageScores {
        cases,
        correct,
        accuracy: ratio(correct, cases),
        buckets,
        accuracy_3plus: ratio(long_correct, long_cases),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_by_words_with_cjk_characters_as_words() {
        assert_eq!(LengthBucket::of("ok"), LengthBucket::Short);
        assert_eq!(LengthBucket::of("👍"), LengthBucket::Short);
        assert_eq!(LengthBucket::of("sí, gracias"), LengthBucket::Short);
        assert_eq!(LengthBucket::of("can you come"), LengthBucket::Medium);
        assert_eq!(LengthBucket::of("空调坏了"), LengthBucket::Medium);
        assert_eq!(
            LengthBucket::of("one two three four five six seven eight nine ten"),
            LengthBucket::Long
        );
    }

    #[test]
    fn four_cases_scored_by_hand() {
        // short: 1 of 2 right; medium: 1 of 1; long: 0 of 1 → overall 2/4, 3+ words 1/2.
        let s = score([
            ("ok", true),
            ("sí", false),
            ("can you come tuesday", true),
            ("one two three four five six seven eight nine ten", false),
        ]);
        assert_eq!(s.accuracy, Some(0.5));
        assert_eq!(
            s.bucket(LengthBucket::Short).and_then(|b| b.accuracy),
            Some(0.5)
        );
        assert_eq!(
            s.bucket(LengthBucket::Medium).and_then(|b| b.accuracy),
            Some(1.0)
        );
        assert_eq!(
            s.bucket(LengthBucket::Long).and_then(|b| b.accuracy),
            Some(0.0)
        );
        assert_eq!(s.accuracy_3plus, Some(0.5));
    }
}
