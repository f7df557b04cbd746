//! The default templates: built into the binary, overridden by files in the prompts directory,
//! which are re-read when they change. A broken file is refused and the last good one stays live.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::{validate, PromptError, PromptName};

/// The shipped defaults, so the binary works from any directory.
fn built_in(name: PromptName) -> &'static str {
    match name {
        PromptName::Compose => include_str!("../../prompts/compose.j2"),
        PromptName::Translate => include_str!("../../prompts/translate.j2"),
        PromptName::JobSummary => include_str!("../../prompts/job_summary.j2"),
        PromptName::FactSentence => include_str!("../../prompts/fact_sentence.j2"),
    }
}

/// A template's text and a version id derived from its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultPrompt {
    pub source: String,
    /// `default-<12 hex of sha256>`: changes whenever the text does, so eval caches and drafts
    /// can say which text produced them.
    pub version: String,
    modified: Option<SystemTime>,
}

impl DefaultPrompt {
    fn new(source: String, modified: Option<SystemTime>) -> Self {
        let digest = hex::encode(Sha256::digest(source.as_bytes()));
        DefaultPrompt {
            version: format!("default-{}", &digest[..12]),
            source,
            modified,
        }
    }
}

#[derive(Debug)]
pub struct PromptLibrary {
    dir: Option<PathBuf>,
    current: RwLock<HashMap<PromptName, DefaultPrompt>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl PromptLibrary {
    /// Loads the defaults; files in `dir` (when it exists) replace the built-in text. Every
    /// template must validate, so a bad file stops start-up instead of a draft.
    pub fn load(dir: Option<&Path>) -> Result<Self, PromptError> {
        let dir = dir.filter(|d| d.is_dir()).map(Path::to_path_buf);
        let mut current = HashMap::new();
        for name in PromptName::ALL {
            let prompt = match &dir {
                Some(dir) if dir.join(name.file_name()).is_file() => {
                    let path = dir.join(name.file_name());
                    let source = std::fs::read_to_string(&path).map_err(|e| PromptError::Io {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    DefaultPrompt::new(source, modified(&path))
                }
                _ => DefaultPrompt::new(built_in(name).to_string(), None),
            };
            validate(name, &prompt.source)?;
            current.insert(name, prompt);
        }
        Ok(PromptLibrary {
            dir,
            current: RwLock::new(current),
        })
    }

    pub fn get(&self, name: PromptName) -> DefaultPrompt {
        self.current
            .read()
            .ok()
            .and_then(|m| m.get(&name).cloned())
            .unwrap_or_else(|| DefaultPrompt::new(built_in(name).to_string(), None))
    }

    /// Re-reads files whose modification time changed. Returns what was reloaded, and the
    /// errors of files that were refused (their previous text stays live).
    pub fn reload_changed(&self) -> (Vec<PromptName>, Vec<PromptError>) {
        let (mut reloaded, mut errors) = (Vec::new(), Vec::new());
        let Some(dir) = &self.dir else {
            return (reloaded, errors);
        };
        for name in PromptName::ALL {
            let path = dir.join(name.file_name());
            let stamp = modified(&path);
            if stamp.is_none() || stamp == self.get(name).modified {
                continue;
            }
            let loaded = std::fs::read_to_string(&path)
                .map_err(|e| PromptError::Io {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
                .and_then(|source| validate(name, &source).map(|_| source));
            match loaded {
                Ok(source) => {
                    if let Ok(mut map) = self.current.write() {
                        map.insert(name, DefaultPrompt::new(source, stamp));
                    }
                    reloaded.push(name);
                }
                Err(e) => {
                    // Remember the stamp so a broken file is reported once, not every poll.
                    if let Ok(mut map) = self.current.write() {
                        if let Some(p) = map.get_mut(&name) {
                            p.modified = stamp;
                        }
                    }
                    errors.push(e);
                }
            }
        }
        (reloaded, errors)
    }

    /// Polls the directory for edits until the process ends.
    pub fn watch(self: Arc<Self>, every: Duration) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let (reloaded, errors) = self.reload_changed();
                for name in reloaded {
                    tracing::info!(template = %name, "prompt reloaded from disk");
                }
                for e in errors {
                    tracing::error!(error = %e, "prompt file refused; the previous version stays live");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_defaults_validate() {
        let lib = PromptLibrary::load(None).unwrap();
        for name in PromptName::ALL {
            assert!(lib.get(name).version.starts_with("default-"));
        }
    }

    /// Every edit to a shipped prompt shows up as a reviewable diff.
    #[test]
    fn shipped_prompts_render_as_snapshotted() {
        let lib = PromptLibrary::load(None).unwrap();
        for name in PromptName::ALL {
            let turns = validate(name, &lib.get(name).source).unwrap();
            let text: String = turns
                .iter()
                .map(|t| format!("=== {:?} ===\n{}\n", t.role, t.content))
                .collect();
            insta::assert_snapshot!(name.as_str(), text);
        }
    }

    #[test]
    fn edited_file_reloads_and_broken_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for name in PromptName::ALL {
            std::fs::write(dir.path().join(name.file_name()), built_in(name)).unwrap();
        }
        let lib = PromptLibrary::load(Some(dir.path())).unwrap();
        let before = lib.get(PromptName::Translate);
        let path = dir.path().join("translate.j2");
        let edited = format!("{}\n", built_in(PromptName::Translate));
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, &edited).unwrap();
        let (reloaded, errors) = lib.reload_changed();
        assert_eq!(reloaded, vec![PromptName::Translate]);
        assert!(errors.is_empty());
        assert_ne!(lib.get(PromptName::Translate).version, before.version);

        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, "--- user ---\n{{ nope }}").unwrap();
        let (reloaded, errors) = lib.reload_changed();
        assert!(reloaded.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(lib.get(PromptName::Translate).source, edited);
    }
}
