/*!
Named loaders for test data. Tests and benches reach `fixtures/` and the
optional shared recordings only through these functions, so paths live in
one place.

The shared recordings (real drives by other people) are never committed to
the project; every loader for them returns `None` when they are absent so
that tests can skip with a message.
*/

use std::path::{Path, PathBuf};

/// The workspace root.
#[must_use]
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `fixtures/` under the workspace root.
#[must_use]
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("fixtures")
}

/// A file or folder under `fixtures/`.
#[must_use]
pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}

/// The shared recordings folder, from `STREETBUMP_SHARED_DATA` or the
/// `shared/data` folder beside the workspace, when it exists.
#[must_use]
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("STREETBUMP_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    dir.is_dir().then_some(dir)
}

/// A sub-folder of the shared recordings, when present.
#[must_use]
pub fn shared(rel: &str) -> Option<PathBuf> {
    shared_data().map(|d| d.join(rel)).filter(|p| p.exists())
}

/// The shared Open311 reference folder (spec-shaped payloads, real servers'
/// fixtures, quirks), from `STREETBUMP_SHARED_OPEN311` or the `shared/open311`
/// folder beside the workspace, when it exists.
#[must_use]
pub fn shared_open311() -> Option<PathBuf> {
    let dir = std::env::var_os("STREETBUMP_SHARED_OPEN311")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/open311"));
    dir.is_dir().then_some(dir)
}
