//! The Kafka runtime through real processes: a Kafka-compatible broker and
//! PostgreSQL (started by `scripts/start-services.sh`), one ingest and
//! review process, two detect and two cluster workers and a filer. A
//! simulated city is uploaded over HTTP; one detect and one cluster worker
//! are killed with SIGKILL in the middle; the final clusters must equal the
//! replay's (the embedded runtime's, which `serve.rs` checks equal too) and
//! each pothole must be filed exactly once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::filing::{CENTRE, WEST, filed_markers, planned_markers, registry, replay, servers, simulate};
use crate::streetbump;

type Key = (String, u64, u64, u64);

/// Starts a role process; waits for "listening on" when it serves HTTP.
fn role(cfg: &Path, db: &str, roles: &str, extra: &[&str], log: &Path) -> (Child, Option<u16>) {
    let http = roles.contains("ingest") || roles.contains("review");
    let mut c = streetbump();
    c.args(["serve", "--config"])
        .arg(cfg)
        .args(["--role", roles])
        .args(extra)
        .env("STREETBUMP_DATABASE_URL", db)
        .env("RUST_LOG", "info")
        .env("TEST_KEY_WEST", "key-west")
        .env("TEST_KEY_CENTRE", "key-centre")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap());
    if http {
        c.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = c.spawn().unwrap();
    let port = http.then(|| {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("listening on http://"), "{roles}: {line}");
        line.trim().rsplit(':').next().unwrap().parse::<u16>().unwrap()
    });
    (child, port)
}

/// Registers the phones of `trips` in the shared database; the token file.
fn add_devices(trips: &Path, cfg: &Path, db: &str, dir: &Path) -> std::path::PathBuf {
    let tokens = dir.join("tokens.json");
    let o = streetbump()
        .args(["devices", "add", "--from-trips"])
        .arg(trips)
        .arg("--out")
        .arg(&tokens)
        .arg("--config")
        .arg(cfg)
        .env("STREETBUMP_DATABASE_URL", db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tokens
}

/// A worker named `name` (its role is the part before the dash).
fn worker(cfg: &Path, db: &str, name: &str, common: &[&str], logs: &Path, suffix: &str) -> Child {
    let r = name.split('-').next().unwrap();
    let mut args = common.to_vec();
    args.extend(["--instance-id", name]);
    role(cfg, db, r, &args, &logs.join(format!("{name}{suffix}.log"))).0
}

/// The shared state, read directly: (batches stored, or a million more
/// while any is unprocessed; trips pending; dirty regions; clusters).
fn state(rt: &tokio::runtime::Runtime, db: &str) -> (usize, usize, usize, Vec<Key>) {
    rt.block_on(async {
        let s = bump_store::Store::connect(db).await.unwrap();
        let pending = s.ready_trips(chrono_far_future(), 0.0).await.unwrap().len();
        let dirty = s.dirty_regions().await.unwrap().len();
        let batches = s.stored_batches().await.unwrap() + s.pending_batches().await.unwrap() * 1_000_000;
        let mut clusters: Vec<Key> = s
            .region_clusters()
            .await
            .unwrap()
            .iter()
            .map(|(_, _, v)| {
                let v: serde_json::Value = serde_json::from_str(v).unwrap();
                let c = &v["cluster"];
                (
                    c["cluster_id"].as_str().unwrap().to_owned(),
                    c["hits"].as_u64().unwrap(),
                    c["trips"].as_u64().unwrap(),
                    c["passes"].as_u64().unwrap(),
                )
            })
            .collect();
        clusters.sort();
        s.close().await;
        (batches, pending, dirty, clusters)
    })
}

fn chrono_far_future() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() + chrono::TimeDelta::days(3650)
}

fn tail(log: &Path) -> String {
    let t = std::fs::read_to_string(log).unwrap_or_default();
    t.lines()
        .rev()
        .take(15)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn workers_killed_midway_give_the_embedded_clusters_and_file_each_pothole_once() {
    let Some(brokers) = bump_fixtures::kafka_bootstrap("kafka workers killed midway") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(bump_fixtures::fresh_postgres("kafka_e2e")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let city = simulate(tmp.path());
    let s = servers();
    let reg = registry(&city, &s, tmp.path());
    let root = bump_fixtures::workspace_root();

    // The embedded runtime's answer on the same trips (a dry run files nothing).
    let dry = tmp.path().join("dry");
    let o = replay(&city, &reg, &tmp.path().join("dry-data"), &dry, &["--dry-run"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let expected = crate::serve::clusters_csv(&dry);
    let plan_west = planned_markers(&dry, WEST);
    let plan_centre = planned_markers(&dry, CENTRE);
    assert!(!expected.is_empty() && plan_west.len() + plan_centre.len() >= 3);

    // Topics of this run only: a unique prefix.
    let prefix = format!(
        "t{}-{}.",
        std::process::id(),
        tmp.path().file_name().unwrap().to_string_lossy()
    );
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cfg = tmp.path().join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[runtime]
mode = "kafka"

[serve]
filing_interval_s = 1.0

[kafka]
brokers = "{brokers}"
topic_prefix = "{prefix}"
group_prefix = "{prefix}"
partitions = 4

[kafka.extra]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#
        ),
    )
    .unwrap();
    let tokens = add_devices(&city.join("trips"), &cfg, &db, tmp.path());

    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let model = root.join("models/signature.json");
    let inventory = city.join("city/inventory.geojson");
    let common = [
        "--model",
        model.to_str().unwrap(),
        "--inventory",
        inventory.to_str().unwrap(),
        "--registry",
        reg.to_str().unwrap(),
    ];
    let (mut front, port) = role(&cfg, &db, "ingest,review", &common, &logs.join("front.log"));
    let port = port.unwrap();
    let mut workers: BTreeMap<&str, Child> = BTreeMap::new();
    for name in ["detect-1", "detect-2", "cluster-1", "cluster-2"] {
        workers.insert(name, worker(&cfg, &db, name, &common, &logs, ""));
    }

    // The phones upload; in the middle one worker of each kind dies.
    let mut phones = streetbump()
        .arg("upload")
        .arg(city.join("trips"))
        .args(["--url", &format!("http://127.0.0.1:{port}"), "--tokens"])
        .arg(&tokens)
        .arg("--gzip")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    // A replacement process under the same name takes the dead one's
    // partitions (static membership; the broker used here does not expire
    // dead members by session timeout).
    for name in ["detect-1", "cluster-1"] {
        let mut w = workers.remove(name).unwrap();
        w.kill().unwrap(); // SIGKILL
        w.wait().unwrap();
        workers.insert(name, worker(&cfg, &db, name, &common, &logs, ".2"));
    }
    let total_batches: usize = std::fs::read_dir(city.join("trips"))
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count()
        })
        .sum();
    let status = phones.wait().unwrap();
    assert!(
        status.success(),
        "upload failed; front log:\n{}",
        tail(&logs.join("front.log"))
    );

    // The survivors take over the dead workers' partitions (after the
    // session timeout) and finish.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut last: Option<Vec<Key>> = None;
    let got = loop {
        assert!(
            Instant::now() < deadline,
            "did not settle; detect-1:\n{}\ncluster-1:\n{}",
            tail(&logs.join("detect-1.2.log")),
            tail(&logs.join("cluster-1.2.log"))
        );
        std::thread::sleep(Duration::from_secs(2));
        let (stored, pending_trips, dirty, clusters) = state(&rt, &db);
        if stored == total_batches && pending_trips == 0 && dirty == 0 && !clusters.is_empty() {
            if last.as_ref() == Some(&clusters) {
                break clusters;
            }
            last = Some(clusters);
        } else {
            last = None;
        }
    };
    assert_eq!(
        got, expected,
        "the Kafka runtime's clusters differ from the embedded runtime's"
    );

    // Two filer processes race over the final clusters: every planned
    // pothole filed, none twice. (Filing while trips still arrive files on
    // the evidence of the moment, which a replay of the final state cannot
    // predict; this compares like with like.)
    for name in ["file-1", "file-2"] {
        workers.insert(name, worker(&cfg, &db, name, &common, &logs, ""));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let west = filed_markers(&s.west);
        let centre = filed_markers(&s.centre);
        if west == plan_west && centre == plan_centre {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "filed {west:?} {centre:?}, planned {plan_west:?} {plan_centre:?}\n{}",
            tail(&logs.join("file-1.log"))
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A little longer: still nothing filed twice.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(filed_markers(&s.west), plan_west);
    assert_eq!(filed_markers(&s.centre), plan_centre);

    for (_, mut w) in workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    let _ = front.kill();
    let _ = front.wait();
    let _ = std::io::stdout().flush();
}

/// A Kafka-mode `pipeline.toml` in `dir` with topics and groups of their
/// own (prefix `name`, returned) and 2 partitions, plus `extra` [kafka] lines.
fn small_pipeline(dir: &Path, name: &str, brokers: &str, extra: &str) -> (std::path::PathBuf, String) {
    let prefix = format!("{name}{}-{}.", std::process::id(), Instant::now().elapsed().as_nanos());
    let cfg = dir.join("pipeline.toml");
    std::fs::write(
        &cfg,
        format!(
            "[runtime]\nmode = \"kafka\"\n[kafka]\nbrokers = \"{brokers}\"\ntopic_prefix = \"{prefix}\"\ngroup_prefix = \"{prefix}\"\npartitions = 2\n{extra}"
        ),
    )
    .unwrap();
    (cfg, prefix)
}

#[test]
fn ingest_answers_503_while_the_detect_group_lags() {
    let Some(brokers) = bump_fixtures::kafka_bootstrap("ingest answers 503 while detect lags") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = rt.block_on(bump_fixtures::fresh_postgres("kafka_lag")) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // No detect worker runs and at most one message may wait.
    let (cfg, _) = small_pipeline(tmp.path(), "lag", &brokers, "max_lag = 1\n");
    let trips = bump_fixtures::fixture("city/trips");
    let tokens = add_devices(&trips, &cfg, &db, tmp.path());
    let log = tmp.path().join("ingest.log");
    let (mut ingest, port) = role(&cfg, &db, "ingest", &[], &log);
    let port = port.unwrap();
    let tokens: BTreeMap<String, String> = serde_json::from_slice(&std::fs::read(&tokens).unwrap()).unwrap();
    let mut batches: Vec<String> = std::fs::read_dir(&trips)
        .unwrap()
        .flat_map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    batches.sort();
    let post = |body: &str| -> u16 {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let token = &tokens[v["device_id"].as_str().unwrap()];
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        std::io::Read::read_to_string(&mut s, &mut resp).unwrap();
        resp[9..12].parse().unwrap()
    };
    assert_eq!(post(&batches[0]), 202);
    assert_eq!(post(&batches[1]), 202);
    // The lag (2 > 1) is measured within about a second; uploads then wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = post(&batches[2]);
        if status == 503 {
            break;
        }
        assert_eq!(status, 202, "only 202 or 503 expected");
        assert!(Instant::now() < deadline, "never refused:\n{}", tail(&log));
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = ingest.kill();
    let _ = ingest.wait();
}

#[test]
fn kafka_redrive_puts_dead_letters_back_on_their_topic() {
    let Some(brokers) = bump_fixtures::kafka_bootstrap("kafka redrive") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, prefix) = small_pipeline(tmp.path(), "redrive", &brokers, "");
    let mut k = bump_kafka::KafkaConfig::new(brokers.clone());
    k.topic_prefix.clone_from(&prefix);
    k.group_prefix.clone_from(&prefix);
    k.partitions = 2;
    let batches = k.topic(bump_kafka::Topic::Batches);
    rt.block_on(async {
        bump_kafka::ensure_topics(&k).await.unwrap();
        // A dead letter as a worker writes it, and one from elsewhere.
        let ours = bump_kafka::Output::new(k.topic(bump_kafka::Topic::DeadLetter), "trip-x", "{}")
            .with_header(bump_kafka::SOURCE_TOPIC_HEADER, batches.as_str())
            .with_header(bump_kafka::ERROR_HEADER, "a bug");
        let foreign = bump_kafka::Output::new(k.topic(bump_kafka::Topic::DeadLetter), "k", "?");
        bump_kafka::Producer::new(&k)
            .unwrap()
            .send_all(&[ours, foreign])
            .await
            .unwrap();
    });
    let redrive = || {
        streetbump()
            .args(["kafka", "redrive", "--config"])
            .arg(&cfg)
            .args(["--idle-s", "1"])
            .output()
            .unwrap()
    };
    let out = redrive();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-published 1 dead letters; left 1"), "{stdout}");
    // The batches topic now holds the copy: a group that never read it lags by one.
    let monitor = bump_kafka::LagMonitor::new(&k, "nobody").unwrap();
    assert_eq!(rt.block_on(monitor.lag(&batches)).unwrap(), 1);
    // Nothing twice: a second run re-publishes nothing.
    let out = redrive();
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-published 0 dead letters"));
    assert_eq!(rt.block_on(monitor.lag(&batches)).unwrap(), 1);
}
