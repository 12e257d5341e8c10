use bump_filing::{FilingState, NewFiling, Outbox};
use bump_store::Review;
use chrono::{TimeZone, Utc};

fn intent(marker: &str) -> NewFiling {
    NewFiling {
        marker: marker.into(),
        cluster_id: "8d2a306638a9a3f".into(),
        class: "pothole".into(),
        lat: 42.35,
        lon: -71.06,
        jurisdiction_id: "city.example".into(),
        service_code: "REQPOTHL".into(),
        attributes: vec![("SIZE".into(), "large".into())],
        description: "Likely pothole\nRef: x".into(),
        generation: 1,
        reopens: None,
    }
}

#[tokio::test]
async fn intents_are_unique_and_survive_reopening() {
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).single().expect("time");
    for place in crate::places("intents_are_unique_and_survive_reopening").await {
        let s = place.open().await;
        let f = s.insert(&intent("sb-a-1"), now).await.expect("insert").expect("new");
        assert_eq!(f.state, FilingState::Intent);
        assert_eq!(f.attributes, vec![("SIZE".to_owned(), "large".to_owned())]);
        assert!(
            s.insert(&intent("sb-a-1"), now).await.expect("insert").is_none(),
            "same marker twice"
        );
        let mut g = f.clone();
        g.state = FilingState::Filed;
        g.service_request_id = Some("SR-7".into());
        g.posted_at = Some(now);
        g.attempts = 1;
        s.update(&g).await.expect("update");
        s.close().await;
        let s = place.open().await;
        let all = s.filings().await.expect("filings");
        assert_eq!(all, vec![g]);
        let log = s.audit_log().await.expect("audit");
        let actions: Vec<&str> = log.iter().map(|r| r.2.as_str()).collect();
        assert_eq!(actions, ["filing.intent", "filing.filed"]);
    }
}

#[tokio::test]
async fn the_latest_review_decides_dismissal() {
    for place in crate::places("the_latest_review_decides_dismissal").await {
        let s = place.open().await;
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).single().expect("time");
        let review = |id: &str, action: &str| Review {
            cluster_id: id.into(),
            action: action.into(),
            value: None,
            actor: "ana".into(),
            at,
            note: None,
        };
        s.add_review(&review("a", "dismiss")).await.expect("review");
        s.add_review(&review("b", "dismiss")).await.expect("review");
        s.add_review(&review("b", "confirm")).await.expect("review");
        assert_eq!(s.dismissed().await.expect("dismissed"), vec!["a".to_owned()]);
        let log = s.audit_log().await.expect("audit");
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].1, "ana");
    }
}

#[tokio::test]
async fn updating_a_missing_filing_is_an_error() {
    for place in crate::places("updating_a_missing_filing_is_an_error").await {
        let s = place.open().await;
        let now = Utc::now();
        let mut f = s.insert(&intent("sb-b-1"), now).await.expect("insert").expect("new");
        f.id = 42;
        assert!(s.update(&f).await.is_err());
    }
}
