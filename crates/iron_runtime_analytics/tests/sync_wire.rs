//! The request body: exactly the Protocol 012 fields, one POST per LLM event,
//! to the right path, checked by a strict server.
#![cfg(feature = "sync")]

mod sync_support;

use std::sync::Arc;

use iron_runtime_analytics::{EventStore, SyncClient, SyncConfig};
use sync_support::*;

fn client(store: &Arc<EventStore>, url: String) -> SyncClient {
    SyncClient::try_new(store.clone(), SyncConfig::new(url, TOKEN)).expect("valid config")
}

#[tokio::test]
async fn bodies_carry_exactly_the_protocol_fields() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 24);
    let local_before = store.len() as u64 - store.unsynced_count();
    assert!(local_before > 0, "the mix has local events");

    let delivered = client(&store, server.url()).try_sync_events().await;

    assert_eq!(delivered.ok(), Some(24));
    assert_stored_exactly(&server, &events);
    let data = server.data();
    assert_eq!(
        data.posts.len(),
        24,
        "one POST per LLM event, none for local ones"
    );
    assert_eq!(data.rejected, 0);
    for body in data.stored.values() {
        assert!(
            body.get("agent_id").is_none(),
            "the server derives the agent"
        );
        assert!(
            body.as_object()
                .is_some_and(|o| o.values().all(|v| !v.is_null())),
            "no nulls"
        );
    }
    drop(data);
    // The wire maps providers: google and a gateway become `unknown`.
    let providers: std::collections::HashSet<String> = server
        .data()
        .stored
        .values()
        .map(|b| b["provider"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        providers,
        ["openai", "anthropic", "unknown"].map(String::from).into()
    );
    assert_eq!(store.unsynced_count(), 0);
    assert_eq!(
        store.len() as u64,
        local_before,
        "local events stay, never sent"
    );
}

#[tokio::test]
async fn a_trailing_slash_in_the_server_url_is_stripped() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 3);
    let result = client(&store, format!("{}/", server.url()))
        .try_sync_events()
        .await;
    assert_eq!(result.ok(), Some(3));
    assert_stored_exactly(&server, &events);
}

#[tokio::test]
async fn a_store_without_llm_events_posts_nothing() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    store.record_router_started(1);
    store.record_budget_threshold(50, 1, 2, Some("a"));
    let result = client(&store, server.url()).try_sync_events().await;
    assert_eq!(result.ok(), Some(0));
    assert_eq!(server.post_count(), 0);
    assert_eq!(store.len(), 2);
}

#[tokio::test]
async fn event_ids_are_the_stores_ids() {
    let server = TestServer::start().await;
    let store = Arc::new(EventStore::new());
    let events = record_mix(&store, 6);
    client(&store, server.url())
        .try_sync_events()
        .await
        .expect("healthy");
    let posted: std::collections::HashSet<String> = server
        .data()
        .posts
        .iter()
        .filter_map(|p| p.event_id.clone())
        .collect();
    let recorded = events.iter().map(|e| e.event_id().to_string()).collect();
    assert_eq!(posted, recorded);
}

/// The test server is as strict as the protocol: the tests above would fail
/// on any extra, missing, null or mistyped field.
#[tokio::test]
async fn the_test_server_is_strict() {
    let server = TestServer::start().await;
    let url = format!("{}{PATH}", server.url());
    let good = serde_json::json!({
        "ic_token": TOKEN, "event_id": "e1", "timestamp_ms": 1, "event_type": "llm_request_completed",
        "model": "gpt-4", "provider": "openai", "input_tokens": 1, "output_tokens": 2, "cost_micros": 3,
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().map(|o| o.remove(key));
        body
    };
    let http = reqwest::Client::new();
    let cases = [
        (good.clone(), 202),
        (good.clone(), 200),
        (with("agent_id", "a".into()), 400),
        (with("provider_id", serde_json::Value::Null), 400),
        (with("provider", "google".into()), 400),
        (with("input_tokens", "1".into()), 400),
        (with("event_type", "router_started".into()), 400),
        (with("error_code", "x".into()), 400),
        (without("model"), 400),
        (without("cost_micros"), 400),
        (with("event_type", "llm_request_failed".into()), 400),
        (with("ic_token", "ic_unknown".into()), 401),
        (with("model", "bad-model".into()), 422),
    ];
    for (body, status) in cases {
        let response = http.post(&url).json(&body).send().await.expect("server up");
        assert_eq!(response.status().as_u16(), status, "{body}");
    }
    let plain = http
        .post(&url)
        .body(good.to_string())
        .send()
        .await
        .expect("server up");
    assert_eq!(plain.status().as_u16(), 415, "content type is checked");
    let wrong_path = http
        .post(server.url())
        .json(&good)
        .send()
        .await
        .expect("server up");
    assert_eq!(wrong_path.status().as_u16(), 404);
}
