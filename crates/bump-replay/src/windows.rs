/*!
Folders of labelled event windows: one subfolder per class, one CSV per
window whose first column is vertical acceleration in m/s² (header row
first), as in the González et al. set.
*/

use std::path::{Path, PathBuf};

use crate::read::ReadError;

/// Labelled windows: class names (sorted) and, per window, its class
/// index, samples and file.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// (class index, samples, file).
    pub windows: Vec<(usize, Vec<f64>, PathBuf)>,
}

/// Whether `dir` looks like a window folder: subfolders holding CSV files
/// and no `trips/`, `recordings/` or `truth/`.
#[must_use]
pub fn is_window_folder(dir: &Path) -> bool {
    if ["trips", "recordings", "truth"].iter().any(|d| dir.join(d).exists()) {
        return false;
    }
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            e.path().is_dir()
                && std::fs::read_dir(e.path())
                    .is_ok_and(|f| f.flatten().any(|x| x.path().extension().is_some_and(|x| x == "csv")))
        })
    })
}

/// Reads a window folder.
///
/// # Errors
/// [`ReadError`] naming the file and line of the first unreadable value.
pub fn read_windows(dir: &Path) -> Result<Windows, ReadError> {
    let io = |p: &Path, e: std::io::Error| ReadError::Io {
        path: p.to_path_buf(),
        reason: e.to_string(),
    };
    let mut classes: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    classes.sort();
    let mut out = Windows {
        classes: classes.iter().map(|c| c.0.clone()).collect(),
        windows: Vec::new(),
    };
    for (ci, (_, path)) in classes.iter().enumerate() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| io(path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("csv")))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| io(&f, e))?;
            let mut samples = Vec::new();
            for (line_no, line) in text.lines().enumerate().skip(1) {
                let cell = line.split(',').next().unwrap_or("").trim();
                if cell.is_empty() {
                    continue;
                }
                let v: f64 = cell.parse().map_err(|_| ReadError::Row {
                    path: f.clone(),
                    row: line_no,
                    reason: format!("{cell:?} is not a number"),
                })?;
                samples.push(v);
            }
            out.windows.push((ci, samples, f));
        }
    }
    Ok(out)
}
