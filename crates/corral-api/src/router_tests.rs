//! Router tests with `oneshot`: every endpoint and error, no socket, no
//! cluster; the ports are mockall mocks.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use corral_core::lifecycle::{Facts, PodFacts, VolumePhase};
use corral_core::ports::{
    CtPorts, EventInfo, MockCtPorts as MockPorts, Observed, PortError, VolumeInfo,
};
use corral_core::{CreateCtInput, CreateCtRequest, CtService};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::backend::{Backend, Caller};
use crate::error::ApiError;
use crate::{AppState, router};

struct TestBackend(Arc<MockPorts>);

#[async_trait]
impl Backend for TestBackend {
    async fn caller(&self, _token: &str) -> Result<Caller, ApiError> {
        let ports: Arc<dyn CtPorts> = self.0.clone();
        Ok(Caller {
            service: CtService::new(ports),
            kube: None,
            ports: None,
        })
    }
    async fn ready(&self) -> bool {
        true
    }
}

fn observed(name: &str, running: bool) -> Observed {
    let spec = CreateCtRequest::validate(&CreateCtInput {
        namespace: "ns1".into(),
        name: name.into(),
        image: "alpine".into(),
        ..Default::default()
    })
    .unwrap()
    .spec;
    Observed {
        facts: Facts {
            record: true,
            record_complete: true,
            volume: VolumePhase::Bound,
            pod: running.then(|| PodFacts {
                phase: "Running".into(),
                ready: true,
                ..Default::default()
            }),
            ..Default::default()
        },
        created: Some("2026-01-01T00:00:00Z".into()),
        age_seconds: Some(3600),
        node: running.then(|| "node-a".to_string()),
        ip: None,
        pod: running.then(|| name.to_string()),
        service: None,
        volume: VolumeInfo {
            name: name.into(),
            ..Default::default()
        },
        spec,
    }
}

fn app(m: MockPorts) -> axum::Router {
    router(AppState::new(Arc::new(TestBackend(Arc::new(m)))))
}

async fn call(
    app: axum::Router,
    method: &str,
    uri: &str,
    body: Option<&str>,
    token: bool,
) -> (StatusCode, String, serde_json::Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if token {
        req = req.header("authorization", "Bearer t0ken");
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, ctype, json)
}

#[tokio::test]
async fn every_endpoint_needs_a_bearer_token() {
    let cases = [
        ("GET", "/api/v1/cts"),
        ("GET", "/api/v1/namespaces/ns1/cts"),
        ("POST", "/api/v1/namespaces/ns1/cts"),
        ("GET", "/api/v1/namespaces/ns1/cts/web1"),
        ("DELETE", "/api/v1/namespaces/ns1/cts/web1"),
        ("POST", "/api/v1/namespaces/ns1/cts/web1/start"),
        ("POST", "/api/v1/namespaces/ns1/cts/web1/stop"),
        ("GET", "/api/v1/tree"),
        ("POST", "/api/v1/tty-tickets"),
    ];
    for (method, uri) in cases {
        let body = if method == "POST" && uri.ends_with("cts") {
            Some(r#"{"name":"web1","image":"alpine"}"#)
        } else if uri.ends_with("tickets") {
            Some(r#"{"namespace":"ns1","name":"web1"}"#)
        } else {
            None
        };
        let (status, ctype, json) = call(app(MockPorts::new()), method, uri, body, false).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(json["code"], "unauthorized");
    }
}

#[tokio::test]
async fn validation_errors_are_400_naming_the_field() {
    let cases = [
        (
            "/api/v1/namespaces/Bad_NS/cts",
            r#"{"name":"web1","image":"alpine"}"#,
            "namespace",
            "invalid",
        ),
        (
            "/api/v1/namespaces/ns1/cts",
            r#"{"name":"Web_1","image":"alpine"}"#,
            "name",
            "invalid",
        ),
        (
            "/api/v1/namespaces/ns1/cts",
            r#"{"name":"web1","image":"Alpine"}"#,
            "image",
            "invalid",
        ),
        (
            "/api/v1/namespaces/ns1/cts",
            r#"{"name":"web1","image":"alpine","cpu":"0"}"#,
            "cpu",
            "invalid",
        ),
        (
            "/api/v1/namespaces/ns1/cts",
            r#"{"name":"web1","image":"alpine","memory":"512"}"#,
            "memory",
            "invalid",
        ),
        (
            "/api/v1/namespaces/ns1/cts",
            r#"{"name":"web1","image":"alpine","disk":"5GB"}"#,
            "disk",
            "invalid",
        ),
        (
            "/api/v1/namespaces/ns1/cts",
            r#"{"name":"devbox","image":"alpine","privileged":true}"#,
            "image",
            "invalid",
        ),
    ];
    for (uri, body, field, code) in cases {
        let (status, _, json) = call(app(MockPorts::new()), "POST", uri, Some(body), true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(json["field"], field, "{body}: {json}");
        assert_eq!(json["code"], code);
    }
    for body in [
        r#"{"name":"web1"}"#,
        r#"{"name":"web1","image":"alpine","extra":1}"#,
        "not json",
    ] {
        let (status, _, json) = call(
            app(MockPorts::new()),
            "POST",
            "/api/v1/namespaces/ns1/cts",
            Some(body),
            true,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(json["code"], "bad_body");
    }
}

#[tokio::test]
async fn create_returns_201_with_the_ct() {
    let mut m = MockPorts::new();
    let mut first = true;
    m.expect_get().returning(move |_| {
        let r = if first {
            None
        } else {
            Some(observed("web1", false))
        };
        first = false;
        Ok(r)
    });
    m.expect_check_admission().returning(|_| Ok(()));
    m.expect_create_record().returning(|_| Ok(()));
    m.expect_ensure_service().returning(|_| Ok(()));
    m.expect_ensure_pod().returning(|_| Ok(()));
    m.expect_mark_complete().returning(|_| Ok(()));
    let (status, _, json) = call(
        app(m),
        "POST",
        "/api/v1/namespaces/ns1/cts",
        Some(r#"{"name":"web1","image":"alpine"}"#),
        true,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    assert_eq!(json["name"], "web1");
    assert_eq!(json["image"], "docker.io/library/alpine:latest");
    assert_eq!(json["memory"], "512Mi");
}

fn port_err(kind: &str) -> PortError {
    match kind {
        "forbidden" => PortError::Forbidden {
            message: "pods is forbidden: User \"dev\" cannot list resource \"pods\" in API group \"\" in the namespace \"ns1\"".into(),
        },
        "unreachable" => PortError::Unreachable {
            source: "tcp connect error: 10.0.0.1:6443 refused".into(),
        },
        "rejected" => PortError::Rejected {
            message: "violates PodSecurity".into(),
        },
        _ => PortError::Api {
            source: "secret internal detail".into(),
        },
    }
}

#[tokio::test]
async fn port_failures_map_to_statuses_without_leaking_internals() {
    let cases = [
        ("forbidden", StatusCode::FORBIDDEN, "forbidden"),
        (
            "unreachable",
            StatusCode::SERVICE_UNAVAILABLE,
            "cluster_unreachable",
        ),
        ("internal", StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    ];
    for (kind, status, code) in cases {
        let mut m = MockPorts::new();
        m.expect_list().returning(move |_| Err(port_err(kind)));
        let (s, ctype, json) = call(app(m), "GET", "/api/v1/namespaces/ns1/cts", None, true).await;
        assert_eq!(s, status, "{kind}");
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(json["code"], code);
        let detail = json["detail"].as_str().unwrap();
        assert!(
            !detail.contains("secret internal detail") && !detail.contains("10.0.0.1"),
            "{detail}"
        );
        if kind == "forbidden" {
            assert!(
                detail.contains("cannot list resource \"pods\""),
                "names verb and resource: {detail}"
            );
        }
    }
}

#[tokio::test]
async fn lifecycle_endpoints_answer_with_the_state_machine() {
    // (method, path, running?, expected status, expected code)
    let cases = [
        (
            "POST",
            "/api/v1/namespaces/ns1/cts/web1/start",
            Some(true),
            StatusCode::CONFLICT,
            Some("conflict"),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns1/cts/web1/stop",
            Some(false),
            StatusCode::CONFLICT,
            Some("conflict"),
        ),
        (
            "GET",
            "/api/v1/namespaces/ns1/cts/ghost",
            None,
            StatusCode::NOT_FOUND,
            Some("not_found"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ns1/cts/ghost",
            None,
            StatusCode::NOT_FOUND,
            Some("not_found"),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns1/cts/web1/stop",
            Some(true),
            StatusCode::ACCEPTED,
            None,
        ),
        (
            "POST",
            "/api/v1/namespaces/ns1/cts/web1/start",
            Some(false),
            StatusCode::ACCEPTED,
            None,
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ns1/cts/web1",
            Some(true),
            StatusCode::ACCEPTED,
            None,
        ),
    ];
    for (method, uri, running, status, code) in cases {
        let mut m = MockPorts::new();
        m.expect_get()
            .returning(move |id| Ok(running.map(|r| observed(id.name.as_str(), r))));
        m.expect_delete_pod().returning(|_| Ok(()));
        m.expect_delete_service().returning(|_| Ok(()));
        m.expect_delete_record().returning(|_| Ok(()));
        m.expect_ensure_pod().returning(|_| Ok(()));
        let (s, _, json) = call(app(m), method, uri, None, true).await;
        assert_eq!(s, status, "{method} {uri}: {json}");
        if let Some(code) = code {
            assert_eq!(json["code"], code);
        }
    }
}

#[tokio::test]
async fn show_list_and_tree() {
    let mut m = MockPorts::new();
    m.expect_get()
        .returning(|id| Ok(Some(observed(id.name.as_str(), true))));
    m.expect_events().returning(|_| {
        Ok(vec![EventInfo {
            kind: "Warning".into(),
            reason: "BackOff".into(),
            object: "pod/web1".into(),
            message: "pulling".into(),
            last_seen: None,
        }])
    });
    m.expect_list()
        .returning(|_| Ok(vec![observed("zz", false), observed("aa", true)]));
    let a = app(m);
    let (s, _, show) = call(
        a.clone(),
        "GET",
        "/api/v1/namespaces/ns1/cts/web1",
        None,
        true,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(show["status"], "Running");
    assert_eq!(show["events"][0]["reason"], "BackOff");
    let (_, _, list) = call(a.clone(), "GET", "/api/v1/cts", None, true).await;
    assert_eq!(list["items"][0]["name"], "aa");
    assert_eq!(list["items"][1]["name"], "zz");
    let (_, _, tree) = call(a, "GET", "/api/v1/tree", None, true).await;
    let unscheduled: Vec<&str> = tree["unscheduled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        unscheduled,
        vec!["aa", "zz"],
        "no nodes known, so every guest is unscheduled"
    );
}

#[tokio::test]
async fn console_tickets_and_websocket_auth() {
    let mut m = MockPorts::new();
    m.expect_get()
        .returning(|id| Ok(Some(observed(id.name.as_str(), id.name.as_str() == "web1"))));
    let a = app(m);
    let (s, _, json) = call(
        a.clone(),
        "POST",
        "/api/v1/tty-tickets",
        Some(r#"{"namespace":"ns1","name":"off"}"#),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "console of a stopped CT: {json}");
    assert!(json["detail"].as_str().unwrap().contains("not running"));
    let (s, _, json) = call(
        a.clone(),
        "POST",
        "/api/v1/tty-tickets",
        Some(r#"{"namespace":"ns1","name":"web1"}"#),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(json["ticket"].as_str().unwrap().len(), 64);

    let ws = |uri: &str, origin: Option<&str>| {
        let mut r = Request::builder()
            .uri(uri)
            .header("host", "localhost:8080")
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.body(Body::empty()).unwrap()
    };
    let cases = [
        (
            "/api/tty/ns1/web1?ticket=bogus",
            Some("http://localhost:8080"),
            StatusCode::UNAUTHORIZED,
        ),
        ("/api/tty/ns1/web1", None, StatusCode::UNAUTHORIZED),
        (
            "/api/tty/ns1/web1?ticket=x",
            Some("http://evil.example"),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (uri, origin, status) in cases {
        let res = a.clone().oneshot(ws(uri, origin)).await.unwrap();
        assert_eq!(res.status(), status, "{uri} {origin:?}");
    }
}

#[tokio::test]
async fn limits_health_and_openapi() {
    let big = format!(
        r#"{{"name":"web1","image":"{}"}}"#,
        "a".repeat(crate::MAX_BODY + 10)
    );
    let (s, _, _) = call(
        app(MockPorts::new()),
        "POST",
        "/api/v1/namespaces/ns1/cts",
        Some(&big),
        true,
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, ctype, json) = call(app(MockPorts::new()), "GET", "/no/such/path", None, true).await;
    assert_eq!(
        (s, ctype.as_str(), json["code"].as_str()),
        (
            StatusCode::NOT_FOUND,
            "application/problem+json",
            Some("not_found")
        )
    );
    let (s, _, _) = call(app(MockPorts::new()), "GET", "/healthz", None, false).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(app(MockPorts::new()), "GET", "/readyz", None, false).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, doc) = call(
        app(MockPorts::new()),
        "GET",
        "/api/openapi.json",
        None,
        false,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/namespaces/{ns}/cts"]["post"].is_object());
}
