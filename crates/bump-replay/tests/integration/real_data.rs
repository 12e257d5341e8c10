//! Accuracy on real recordings by other people (never committed). Each
//! test skips with a message when `../shared/data` is absent. The floors
//! are the figures measured (docs/accuracy.md); a change
//! that lowers them fails here.

use std::collections::BTreeMap;

use bump_geo::{PointScore, score_points};
use bump_pipeline::PipelineConfig;
use bump_pipeline::mapping::preset;
use bump_replay::{replay, trip_files};

fn skip(what: &str) {
    eprintln!("skipped: {what} not found (set STREETBUMP_SHARED_DATA or place shared/data beside the workspace)");
}

fn truth_points(path: &std::path::Path) -> Vec<(f64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split(',');
            Some((it.next()?.trim().parse().ok()?, it.next()?.trim().parse().ok()?))
        })
        .collect()
}

#[test]
fn lublin_precision_and_recall() {
    let Some(dir) = bump_fixtures::shared("lublin") else {
        return skip("lublin");
    };
    let files = trip_files(&dir.join("surveys")).unwrap();
    assert_eq!(files.len(), 13);
    let bump_replay::Replayed { bumps, summary, .. } =
        replay(&files, &preset("lublin").unwrap(), &survey_config(), &mut ());
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let mut by_trip: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for b in &bumps {
        by_trip.entry(b.trip_id.to_string()).or_default().push((b.lat, b.lon));
    }
    let mut total = PointScore::default();
    for f in &files {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let truth = truth_points(&dir.join("artefacts").join(format!("{stem}(bumps).csv")));
        let det = by_trip.get(stem).cloned().unwrap_or_default();
        total = total.add(score_points(&det, &truth, 20.0));
    }
    eprintln!(
        "lublin: {total:?} precision {:.3} recall {:.3}",
        total.precision(),
        total.recall()
    );
    assert_eq!(total.truth, 74);
    assert!(total.precision() >= 0.60, "precision {:.3}", total.precision());
    assert!(total.recall() >= 0.79, "recall {:.3}", total.recall());
}

#[test]
fn pittsburgh_good_roads_are_nearly_silent() {
    let Some(dir) = bump_fixtures::shared("pittsburgh/road_condition") else {
        return skip("pittsburgh");
    };
    let files = trip_files(&dir).unwrap();
    let bump_replay::Replayed { summary, .. } =
        replay(&files, &preset("pittsburgh").unwrap(), &survey_config(), &mut ());
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    let rate = |prefix: &str| {
        let (n, km) = summary
            .per_trip
            .iter()
            .filter(|t| t.trip_id.starts_with(prefix))
            .fold((0usize, 0.0), |(n, km), t| {
                (n + t.bumps, km + t.preprocess.length_m / 1000.0)
            });
        n as f64 / km
    };
    let (good, bad) = (rate("good"), rate("bad"));
    eprintln!("pittsburgh: good {good:.2} bumps/km, bad {bad:.2} bumps/km");
    assert!(good <= 0.2, "good roads: {good:.2} bumps/km");
    assert!(bad >= 10.0 * good.max(0.1), "bad {bad:.2} vs good {good:.2} bumps/km");
}

#[test]
fn every_shared_recording_replays_with_a_mapping_alone() {
    for (sub, name) in [("lublin/surveys", "lublin"), ("pittsburgh", "pittsburgh")] {
        let Some(dir) = bump_fixtures::shared(sub) else {
            return skip(sub);
        };
        let files = trip_files(&dir).unwrap();
        let bump_replay::Replayed { summary: s, .. } =
            replay(&files, &preset(name).unwrap(), &survey_config(), &mut ());
        assert!(s.failures.is_empty(), "{name}: {:?}", s.failures);
        assert_eq!(s.trips, files.len(), "{name}");
    }
}

/// Researchers' surveys of public roads: nothing to hide at the ends, and
/// the documented figures are measured without the privacy trim.
fn survey_config() -> PipelineConfig {
    let mut c = PipelineConfig::default();
    c.privacy.trim_m = 0.0;
    c
}

/// The window classifier on the González windows: stratified 5-fold
/// cross-validation (seed 1) must not drop below the accuracy in
/// docs/accuracy.md (0.851).
#[test]
fn gonzalez_window_cross_validation() {
    let Some(dir) = bump_fixtures::shared("gonzalez-train") else {
        return skip("gonzalez-train");
    };
    let w = bump_replay::windows::read_windows(&dir).unwrap();
    let x: Vec<Vec<f64>> = w.windows.iter().map(|(_, s, _)| s.clone()).collect();
    let y: Vec<usize> = w.windows.iter().map(|(c, _, _)| *c).collect();
    let cv = bump_cluster::window::cross_validate(&x, &y, &w.classes, 50.0, 5, 1).unwrap();
    eprintln!("gonzalez 5-fold accuracy {:.3}", cv.accuracy());
    assert!(cv.accuracy() >= 0.85, "accuracy {:.3} < 0.85", cv.accuracy());
}
