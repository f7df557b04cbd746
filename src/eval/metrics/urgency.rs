//! Urgency scores: the 4×4 confusion matrix, accuracy, and emergency recall/precision.

use serde::{Deserialize, Serialize};

use super::ratio;
use crate::domain::Urgency;

/// Rows are the fixture's urgency, columns the prediction, both in `UrgencyScores::LABELS` order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UrgencyScores {
    pub labels: Vec<Urgency>,
    pub matrix: [[usize; 4]; 4],
    pub accuracy: Option<f64>,
    /// Emergencies caught: the number triage is tuned for first.
    pub emergency_recall: Option<f64>,
    pub emergency_precision: Option<f64>,
}

impl UrgencyScores {
    /// Most pressing first, as the reports show them.
    pub const LABELS: [Urgency; 4] = [
        Urgency::Emergency,
        Urgency::High,
        Urgency::Normal,
        Urgency::Low,
    ];

    pub fn index(level: Urgency) -> usize {
        match level {
            Urgency::Emergency => 0,
            Urgency::High => 1,
            Urgency::Normal => 2,
            Urgency::Low => 3,
        }
    }

    pub fn count(&self, gold: Urgency, predicted: Urgency) -> usize {
        self.matrix[Self::index(gold)][Self::index(predicted)]
    }
}

/// Scores `(gold, predicted)` urgency pairs.
pub fn score(pairs: impl IntoIterator<Item = (Urgency, Urgency)>) -> UrgencyScores {
    let mut matrix = [[0usize; 4]; 4];
    for (gold, predicted) in pairs {
        matrix[UrgencyScores::index(gold)][UrgencyScores::index(predicted)] += 1;
    }
    let total: usize = matrix.iter().flatten().sum();
    let correct: usize = (0..4).map(|i| matrix[i][i]).sum();
    let e = UrgencyScores::index(Urgency::Emergency);
    let caught = matrix[e][e];
    let gold_emergencies: usize = matrix[e].iter().sum();
    let predicted_emergencies: usize = matrix.iter().map(|row| row[e]).sum();
    UrgencyScores {
        labels: UrgencyScores::LABELS.to_vec(),
        matrix,
        accuracy: ratio(correct, total),
        emergency_recall: ratio(caught, gold_emergencies),
        emergency_precision: ratio(caught, predicted_emergencies),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Urgency::*;

    #[test]
    fn five_cases_scored_by_hand() {
        // Emergencies: 3 in the fixtures, 2 caught, 1 called high; one high called emergency.
        let s = score([
            (Emergency, Emergency),
            (Emergency, Emergency),
            (Emergency, High),
            (High, Emergency),
            (Low, Low),
        ]);
        assert_eq!(s.count(Emergency, Emergency), 2);
        assert_eq!(s.count(Emergency, High), 1);
        assert_eq!(s.count(High, Emergency), 1);
        assert_eq!(s.matrix.iter().flatten().sum::<usize>(), 5);
        assert_eq!(s.accuracy, Some(3.0 / 5.0));
        assert_eq!(s.emergency_recall, Some(2.0 / 3.0));
        assert_eq!(s.emergency_precision, Some(2.0 / 3.0));
    }

    #[test]
    fn no_emergencies_leaves_recall_undefined() {
        let s = score([(Normal, Normal)]);
        assert_eq!(s.emergency_recall, None);
        assert_eq!(s.emergency_precision, None);
        assert_eq!(s.accuracy, Some(1.0));
    }
}
