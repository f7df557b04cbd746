//! Per-business tag configuration: ids, descriptions and examples; the default is TAXONOMY.md.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TriageError;

/// One tag a business uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagDef {
    /// Stable id stored on messages, e.g. `quote_request`.
    pub id: String,
    /// What the tag means, for people (and prompts).
    pub description: String,
    /// Example messages that carry this tag; they are trained on like labelled data.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Shipped tag ids whose labelled data this tag takes over (a rename keeps the training).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The tags of one business.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    pub tags: Vec<TagDef>,
}

fn tag(id: &str, description: &str, examples: &[&str]) -> TagDef {
    TagDef {
        id: id.to_string(),
        description: description.to_string(),
        examples: examples.iter().map(|s| s.to_string()).collect(),
        aliases: Vec::new(),
    }
}

impl Default for Taxonomy {
    /// The labels Parley ships with (`TAXONOMY.md`).
    fn default() -> Self {
        Taxonomy {
            tags: vec![
                tag("quote_request", "asks what something costs, or for an estimate, quote or price range",
                    &["how much to replace a water heater?", "can I get an estimate for 3 rooms"]),
                tag("booking_request", "wants a visit or service scheduled (new work), asks for availability",
                    &["can someone come look at my furnace this week?"]),
                tag("schedule_change", "about an existing appointment: reschedule, cancel, running late, ETA, where is the tech",
                    &["need to move thursday to friday", "is Mike still coming?"]),
                tag("complaint", "dissatisfaction with work quality, staff, price, delay or damage",
                    &["the leak is back two days after you fixed it"]),
                tag("billing", "invoices, payments, receipts, refunds, charges, financing",
                    &["I was charged twice", "can you resend the invoice"]),
                tag("question", "general information not covered above: hours, service area, warranty, brands, how-to",
                    &["do you service Round Rock?"]),
                tag("confirmation", "confirms, acknowledges or thanks",
                    &["yes that works", "thank you so much!", "see you then"]),
                tag("spam", "spam, marketing, phishing, wrong number, unrelated to the business",
                    &["you won a gift card", "who is this?"]),
            ],
        }
    }
}

impl Taxonomy {
    /// Parses a taxonomy from JSON and validates it.
    pub fn from_json(s: &str) -> Result<Self, TriageError> {
        let t: Taxonomy =
            serde_json::from_str(s).map_err(|e| TriageError::Taxonomy(e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    /// Ids must be non-empty, unique, lower-case `[a-z0-9_]`.
    pub fn validate(&self) -> Result<(), TriageError> {
        if self.tags.is_empty() {
            return Err(TriageError::Taxonomy(
                "a taxonomy needs at least one tag".into(),
            ));
        }
        for (i, t) in self.tags.iter().enumerate() {
            let ok = !t.id.is_empty()
                && t.id.len() <= 64
                && t.id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(TriageError::Taxonomy(format!(
                    "tag id `{}` must be 1-64 characters of a-z, 0-9 and _",
                    t.id
                )));
            }
            if self.tags[..i].iter().any(|o| o.id == t.id) {
                return Err(TriageError::Taxonomy(format!(
                    "duplicate tag id `{}`",
                    t.id
                )));
            }
        }
        Ok(())
    }

    /// Index of the tag a labelled id maps to: the tag itself or the tag that aliases it.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.tags.iter().position(|t| t.id == id).or_else(|| {
            self.tags
                .iter()
                .position(|t| t.aliases.iter().any(|a| a == id))
        })
    }

    pub fn ids(&self) -> Vec<&str> {
        self.tags.iter().map(|t| t.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_the_shipped_labels() {
        let t = Taxonomy::default();
        assert_eq!(
            t.ids(),
            [
                "quote_request",
                "booking_request",
                "schedule_change",
                "complaint",
                "billing",
                "question",
                "confirmation",
                "spam"
            ]
        );
        assert!(t.validate().is_ok());
    }

    #[test]
    fn renamed_tag_keeps_its_data_through_an_alias() {
        let json = r#"{"tags": [{"id": "estimate", "description": "price", "aliases": ["quote_request"]}]}"#;
        let t = Taxonomy::from_json(json).unwrap();
        assert_eq!(t.index_of("quote_request"), Some(0));
        assert_eq!(t.index_of("spam"), None);
    }

    #[test]
    fn bad_ids_are_rejected() {
        for json in [
            r#"{"tags": []}"#,
            r#"{"tags": [{"id": "Bad Id", "description": ""}]}"#,
            r#"{"tags": [{"id": "a", "description": ""}, {"id": "a", "description": ""}]}"#,
            "not json",
        ] {
            assert!(Taxonomy::from_json(json).is_err(), "{json}");
        }
    }
}
