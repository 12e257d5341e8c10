/*!
Prometheus metrics, written in the text exposition format by hand: a few
counters and gauges need no library. Labels are bounded (reasons, classes,
stages, outcomes); never a device, trip or cell.
*/

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an upload was refused; the `reason` label.
pub const REJECT_REASONS: [&str; 9] = [
    "malformed",
    "invalid",
    "unauthorized",
    "forbidden",
    "conflict",
    "too_large",
    "unsupported_media_type",
    "overloaded",
    "shutting_down",
];

/// The server's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Batches stored.
    pub batches_accepted: AtomicU64,
    /// Batches received again (answered, not stored).
    pub batches_duplicate: AtomicU64,
    rejected: [AtomicU64; 9],
    /// Trips processed.
    pub trips_processed: AtomicU64,
    /// Trips that could not be processed (kept, marked, logged).
    pub trips_failed: AtomicU64,
    /// Bumps stored.
    pub bumps: AtomicU64,
    /// Sum and count of seconds per stage.
    stages: Mutex<BTreeMap<&'static str, (f64, u64)>>,
    /// Filings by outcome.
    filings: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// Counts a refused upload.
    pub fn reject(&self, reason: &str) {
        if let Some(i) = REJECT_REASONS.iter().position(|r| *r == reason) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a stage's duration.
    pub fn stage(&self, stage: &'static str, seconds: f64) {
        if let Ok(mut m) = self.stages.lock() {
            let e = m.entry(stage).or_insert((0.0, 0));
            e.0 += seconds;
            e.1 += 1;
        }
    }

    /// Counts filings by outcome.
    pub fn filings(&self, outcome: &'static str, n: usize) {
        if let Ok(mut m) = self.filings.lock() {
            *m.entry(outcome).or_default() += n as u64;
        }
    }

    /// The exposition text; gauges are passed in by the caller.
    #[must_use]
    pub fn render(
        &self,
        pending_batches: usize,
        queue_trips: usize,
        clusters_by_class: &BTreeMap<String, usize>,
        writes: &BTreeMap<&'static str, bump_store::WriteTime>,
    ) -> String {
        let mut s = String::new();
        let counter = |s: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut s,
            "streetbump_batches_accepted_total",
            "Trip batches durably stored.",
            self.batches_accepted.load(Ordering::Relaxed),
        );
        counter(
            &mut s,
            "streetbump_batches_duplicate_total",
            "Retried uploads answered without storing again.",
            self.batches_duplicate.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP streetbump_batches_rejected_total Uploads refused, by reason.\n# TYPE streetbump_batches_rejected_total counter"
        );
        for (i, r) in REJECT_REASONS.iter().enumerate() {
            let _ = writeln!(
                s,
                "streetbump_batches_rejected_total{{reason=\"{r}\"}} {}",
                self.rejected[i].load(Ordering::Relaxed)
            );
        }
        counter(
            &mut s,
            "streetbump_trips_processed_total",
            "Trips run through the stages.",
            self.trips_processed.load(Ordering::Relaxed),
        );
        counter(
            &mut s,
            "streetbump_trips_failed_total",
            "Trips with nothing usable (marked processed).",
            self.trips_failed.load(Ordering::Relaxed),
        );
        counter(
            &mut s,
            "streetbump_bumps_total",
            "Bumps stored.",
            self.bumps.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            s,
            "# HELP streetbump_pending_batches Batches stored and not yet processed.\n# TYPE streetbump_pending_batches gauge\nstreetbump_pending_batches {pending_batches}"
        );
        let _ = writeln!(
            s,
            "# HELP streetbump_queue_trips Trips queued between the scheduler and the workers.\n# TYPE streetbump_queue_trips gauge\nstreetbump_queue_trips {queue_trips}"
        );
        let _ = writeln!(
            s,
            "# HELP streetbump_clusters Clusters, by class.\n# TYPE streetbump_clusters gauge"
        );
        for (c, n) in clusters_by_class {
            let _ = writeln!(s, "streetbump_clusters{{class=\"{c}\"}} {n}");
        }
        let _ = writeln!(
            s,
            "# HELP streetbump_stage_seconds Time spent per stage.\n# TYPE streetbump_stage_seconds summary"
        );
        if let Ok(m) = self.stages.lock() {
            for (stage, (sum, n)) in m.iter() {
                let _ = writeln!(s, "streetbump_stage_seconds_sum{{stage=\"{stage}\"}} {sum}");
                let _ = writeln!(s, "streetbump_stage_seconds_count{{stage=\"{stage}\"}} {n}");
            }
        }
        // On SQLite every write waits for the one in progress, so these
        // bound the upload acknowledgement.
        let _ = writeln!(
            s,
            "# HELP streetbump_store_write_seconds Write transactions, by operation, from holding the writer to the commit.\n# TYPE streetbump_store_write_seconds summary"
        );
        for (op, w) in writes {
            let _ = writeln!(s, "streetbump_store_write_seconds_sum{{op=\"{op}\"}} {}", w.seconds);
            let _ = writeln!(s, "streetbump_store_write_seconds_count{{op=\"{op}\"}} {}", w.count);
        }
        let _ = writeln!(
            s,
            "# HELP streetbump_store_write_seconds_max The longest write transaction, by operation.\n# TYPE streetbump_store_write_seconds_max gauge"
        );
        for (op, w) in writes {
            let _ = writeln!(s, "streetbump_store_write_seconds_max{{op=\"{op}\"}} {}", w.max_seconds);
        }
        let _ = writeln!(
            s,
            "# HELP streetbump_filings_total Open311 filing outcomes.\n# TYPE streetbump_filings_total counter"
        );
        if let Ok(m) = self.filings.lock() {
            for (o, n) in m.iter() {
                let _ = writeln!(s, "streetbump_filings_total{{outcome=\"{o}\"}} {n}");
            }
        }
        s
    }
}
