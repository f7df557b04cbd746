//! A directory of finished drafts keyed by what determines them, so re-running an unchanged
//! case against an unchanged model and templates costs nothing.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::EvalError;
use super::fixtures::{Business, Customer, DraftCase, Turn};
use super::traits::DraftOutput;

/// The default cache directory, relative to where `parley eval` runs (gitignored).
pub const DEFAULT_DIR: &str = ".eval-cache";

/// Bumped when the key's recipe changes, which invalidates every entry.
const KEY_VERSION: u32 = 1;

pub struct DraftCache {
    dir: PathBuf,
}

/// The parts of a case the drafter sees: checks, id and line are left out so editing a check or
/// moving a line does not cost a model call.
#[derive(Serialize)]
struct KeyInput<'a> {
    version: u32,
    business: &'a Business,
    customer: &'a Customer,
    thread: &'a [Turn],
    goal: &'a str,
    language: Option<&'a str>,
    drafter: &'a str,
    template_version: Option<&'a str>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    case_id: String,
    drafter: String,
    template_version: Option<String>,
    output: DraftOutput,
}

impl DraftCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DraftCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hex SHA-256 of the case input, the drafter's description and the template version.
    pub fn key(case: &DraftCase, drafter: &str, template_version: Option<&str>) -> String {
        let input = KeyInput {
            version: KEY_VERSION,
            business: &case.business,
            customer: &case.customer,
            thread: &case.thread,
            goal: &case.goal,
            language: case.language.as_deref(),
            drafter,
            template_version,
        };
        // Serialising plain structs and strings cannot fail; an empty input would only make the
        // key collide with other failures, never return a wrong draft for a real key.
        let bytes = serde_json::to_vec(&input).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The cached draft, if any; an unreadable entry is treated as absent and overwritten later.
    pub fn get(&self, key: &str) -> Option<DraftOutput> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) => Some(entry.output),
            Err(e) => {
                tracing::warn!(key, error = %e, "ignoring a corrupt eval cache entry");
                None
            }
        }
    }

    /// Stores a draft, writing to a temporary file first so an interrupted run never leaves a
    /// half-written entry behind.
    pub fn put(
        &self,
        key: &str,
        case: &DraftCase,
        drafter: &str,
        template_version: Option<&str>,
        output: &DraftOutput,
    ) -> Result<(), EvalError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| EvalError::io(&self.dir, e))?;
        let entry = Entry {
            case_id: case.id.clone(),
            drafter: drafter.to_string(),
            template_version: template_version.map(str::to_string),
            output: output.clone(),
        };
        let path = self.path(key);
        let tmp = self.dir.join(format!("{key}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&entry)?)
            .map_err(|e| EvalError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| EvalError::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, Direction};
    use crate::eval::fixtures::{DraftChecks, Source};

    fn case() -> DraftCase {
        DraftCase {
            id: "d1".into(),
            business: Business {
                name: "Cool Air".into(),
                voice: Some("friendly".into()),
                technicians: vec!["Mike".into()],
            },
            customer: Customer {
                name: Some("Ana".into()),
            },
            thread: vec![Turn {
                direction: Direction::Inbound,
                channel: Channel::Sms,
                text: "AC is out".into(),
                at: None,
            }],
            goal: "propose 3 PM Tuesday".into(),
            language: Some("en".into()),
            checks: DraftChecks::default(),
            source: Source {
                file: "a.jsonl".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn key_changes_with_input_model_and_templates_but_not_checks_or_position() {
        let base = DraftCache::key(&case(), "qwen 1.5b greedy", Some("v1"));
        assert_eq!(base.len(), 64);
        let mut moved = case();
        moved.source.line = 9;
        moved.checks.max_words = Some(10);
        assert_eq!(
            DraftCache::key(&moved, "qwen 1.5b greedy", Some("v1")),
            base
        );
        let mut other_goal = case();
        other_goal.goal = "propose 4 PM".into();
        assert_ne!(
            DraftCache::key(&other_goal, "qwen 1.5b greedy", Some("v1")),
            base
        );
        assert_ne!(
            DraftCache::key(&case(), "qwen 0.5b greedy", Some("v1")),
            base
        );
        assert_ne!(
            DraftCache::key(&case(), "qwen 1.5b greedy", Some("v2")),
            base
        );
        assert_ne!(DraftCache::key(&case(), "qwen 1.5b greedy", None), base);
    }

    #[test]
    fn round_trips_and_ignores_corrupt_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DraftCache::new(dir.path().join("cache"));
        let key = DraftCache::key(&case(), "m", None);
        assert_eq!(cache.get(&key), None);
        let output = DraftOutput::new("Hi Ana", Some("en".into()), 1200);
        cache.put(&key, &case(), "m", None, &output).unwrap();
        assert_eq!(cache.get(&key), Some(output));
        std::fs::write(cache.dir().join(format!("{key}.json")), "{oops").unwrap();
        assert_eq!(cache.get(&key), None);
    }
}
