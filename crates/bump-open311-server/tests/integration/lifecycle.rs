//! Starting and stopping: from sync code, inside a runtime, and with `serve`.

use bump_open311_server::{ServerState, TestServer, serve};

use crate::support::example;

#[test]
fn starts_from_a_plain_test_and_stops_on_drop() {
    let server = TestServer::start(example()).expect("start");
    let addr = server.addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(server.base_url(), format!("http://{addr}/open311/v2/"));
    assert_eq!(server.discovery_url(), format!("http://{addr}/open311/discovery.json"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async { crate::support::get(&server, "services.xml").await.status });
    assert_eq!(status, 200);
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err(), "stopped on drop");
}

#[tokio::test]
async fn serve_inside_an_existing_runtime() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let state = ServerState::new(example());
    let task = tokio::spawn(serve(listener, state.clone()));
    let answer = crate::support::get_url(&format!("http://{addr}/open311/discovery.json")).await;
    assert_eq!(
        answer.json()["endpoints"][0]["url"],
        format!("http://{addr}/open311/v2/")
    );
    let answer = crate::support::get_url(&format!("http://{addr}/open311/v2/services.json")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(state.hits().len(), 2);
    task.abort();
}
